"""Text surgery shared by validation and (later) translation: find code and URLs, keep prose.

Language detectors call almost any text containing code "English", so every language check
runs on the prose that remains after fenced code, inline code and URLs are removed.
"""

from __future__ import annotations

import re

# A fence opens with ``` or ~~~ at line start and closes with the same run, or runs to the end
# of the text when the author forgot to close it.
FENCED_CODE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
# A URL never ends in sentence punctuation: "see https://x.org." keeps its full stop.
URL = re.compile(r"\b(?:(?:https?|ftp)://|www\.)[^\s<>()\[\]`\"']*[^\s<>()\[\]`\"'.,;:!?]", re.I)
_WHITESPACE = re.compile(r"\s+")
# Letters of any script, not digits or punctuation: what a detector can actually judge.
_LETTER = re.compile(r"[^\W\d_]", re.U)


def strip_code_and_urls(text: str) -> str:
    """Remove fenced code, inline code and URLs, and fold whitespace.

    >>> strip_code_and_urls("Run `ls -la` then see https://x.org/a.\\n```py\\nprint(1)\\n```\\nDone")
    'Run then see . Done'
    """
    text = FENCED_CODE.sub(" ", text)
    text = INLINE_CODE.sub(" ", text)
    text = URL.sub(" ", text)
    return _WHITESPACE.sub(" ", text).strip()


def prose_lines(text: str) -> list[str]:
    """The lines of a text outside fenced code (code may repeat a line legitimately)."""
    return FENCED_CODE.sub("\n", text).splitlines()


def letter_count(text: str) -> int:
    """How many letters (any script) a text holds."""
    return len(_LETTER.findall(text))


def normalize_for_compare(text: str) -> str:
    """Case- and whitespace-insensitive form used to spot untranslated copies."""
    return _WHITESPACE.sub(" ", text).strip().casefold()
