"""Translator chatter: text a translator (an LLM most of all) adds around a translation. A
target field is refused as `commentary:<field>` when its first paragraph opens with a preamble
("Here is the translation:", "以下是翻译：") or its last paragraph with a note ("Note: ...",
"（注：…）") that its pivot field does not have, or when it begins with its pivot field quoted
back before the translation. The phrases are each language's `preambles` and `notes` in the
language table. Answering the instruction instead of translating it changes the meaning, which
the alignment check (`checks.alignment`) sees.
"""

from __future__ import annotations

import re

from plugdata.core.languages import Language
from plugdata.core.textproc import normalize_for_compare

# Markdown emphasis, quotes and brackets a preamble may sit inside: `**Translation:**`.
_WRAPPING = re.compile(r"^[\s*_>\"'“”「『#-]+")
_PARAGRAPH = re.compile(r"\n\s*\n")
QUOTED_MIN_CHARS = 20  # a pivot text shorter than this may open its translation legitimately


def _ends(text: str) -> tuple[str, str]:
    """The first and the last paragraph (the first and last line when there is only one)."""
    paragraphs = [p for p in _PARAGRAPH.split(text.strip()) if p.strip()]
    if len(paragraphs) < 2:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        paragraphs = lines or [""]
    return _WRAPPING.sub("", paragraphs[0]), _WRAPPING.sub("", paragraphs[-1])


def _framing(text: str, language: Language, of_one_paragraph: bool) -> tuple[bool, bool]:
    """Whether `text` opens with a preamble and ends with a note, in `language`. A text of one
    paragraph has no separate note: its last line is its body."""
    first, last = _ends(text)
    preamble = bool(language.preamble_pattern and language.preamble_pattern.match(first))
    note = not of_one_paragraph and bool(
        language.note_pattern and language.note_pattern.match(last)
    )
    return preamble, note


def commentary(pivot: str, target: str, pivot_language: Language, language: Language) -> bool:
    """Whether `target`, the translation of `pivot`, carries text its translator added.

    >>> from plugdata.core.languages import LANGUAGES
    >>> en, zh = LANGUAGES.get("en"), LANGUAGES.get("zh")
    >>> commentary("Name a river.", "以下是翻译：\\n\\n说出一条河的名字。", en, zh)
    True
    >>> commentary("A river?\\n\\nNote: any.", "一条河？\\n\\n注：任何。", en, zh)
    False
    """
    lines = len([line for line in target.strip().splitlines() if line.strip()])
    one = lines < 2
    added_preamble, added_note = _framing(target, language, one)
    had_preamble, had_note = _framing(pivot, pivot_language, one)
    if (added_preamble and not had_preamble) or (added_note and not had_note):
        return True
    quoted = normalize_for_compare(pivot)
    seen = normalize_for_compare(target)
    return len(quoted) >= QUOTED_MIN_CHARS and len(seen) > len(quoted) and seen.startswith(quoted)
