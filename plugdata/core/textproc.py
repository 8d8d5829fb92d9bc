"""Text surgery shared by the checks and translation: find code and URLs, keep prose.

Language detectors call almost any text containing code "English", so every language check
runs on the prose that remains after fenced code, inline code and URLs are removed.
"""

from __future__ import annotations

import re
from functools import lru_cache

# A fence opens with ``` or ~~~ at line start and closes with the same run, or runs to the end
# of the text when the author forgot to close it.
FENCED_CODE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
# A URL never ends in sentence punctuation ("see https://x.org." keeps its full stop) but may
# hold balanced parentheses, as Wikipedia links do.
URL = re.compile(
    r"\b(?:(?:https?|ftp)://|www\.)(?:[^\s<>()\[\]`\"']|\([^\s()<>]*\))*"
    r"(?:[^\s<>()\[\]`\"'.,;:!?]|\([^\s()<>]*\))",
    re.I,
)


def strip_code_and_urls(text: str) -> str:
    """Remove fenced code, inline code and URLs, and fold whitespace.

    >>> strip_code_and_urls("Run `ls -la` then see https://x.org/a.\\n```py\\nprint(1)\\n```\\nDone")
    'Run then see . Done'
    """
    # The membership tests skip regex passes that cannot match: most fields hold no code.
    if "```" in text or "~~~" in text:
        text = FENCED_CODE.sub(" ", text)
    if "`" in text:
        text = INLINE_CODE.sub(" ", text)
    if "://" in text or "www." in text.lower():
        text = URL.sub(" ", text)
    return fold_whitespace(text)


def fold_whitespace(text: str) -> str:
    """Runs of whitespace as one space, none at either end: `re.sub(r"\\s+", " ", text).strip()`
    (`str.split` and `\\s` know the same whitespace), at a third of its cost.

    >>> fold_whitespace(" a\\t\\u3000b\\n\\n c ")
    'a b c'
    """
    return " ".join(text.split())


def prose_lines(text: str) -> list[str]:
    """The lines of a text outside fenced code (code may repeat a line legitimately)."""
    if "```" in text or "~~~" in text:
        text = FENCED_CODE.sub("\n", text)
    return text.splitlines()


def has_letters(text: str, n: int) -> bool:
    """Whether a text holds at least `n` letters (any script); stops counting at `n`.

    >>> has_letters("a1 b2 c3", 3), has_letters("42!", 1)
    (True, False)
    """
    if n <= 0:
        return True
    return _letters_pattern(n).match(text) is not None


@lru_cache(maxsize=32)
def _letters_pattern(n: int) -> re.Pattern[str]:
    return re.compile(r"(?:[\W\d_]*[^\W\d_]){" + str(n) + "}")


def normalize_for_compare(text: str) -> str:
    """Case- and whitespace-insensitive form used to spot untranslated copies."""
    return fold_whitespace(text).casefold()


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    r"""Whether `text` holds half of a surrogate pair, which no UTF-8 writer accepts (JSON can
    spell one: `"\ud800"`; a whole pair decodes to one character).

    >>> import json
    >>> has_lone_surrogate(json.loads('"\\ud800"'))
    True
    >>> has_lone_surrogate(json.loads('"\\ud83d\\ude00"'))  # a whole pair: one emoji
    False
    """
    # `isascii` reads a flag of the string (no scan): most text of most corpora is ASCII.
    return not text.isascii() and LONE_SURROGATE.search(text) is not None
