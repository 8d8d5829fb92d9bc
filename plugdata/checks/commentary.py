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
# A last paragraph the pivot opens with a label of a few words ("Important:", "Tip:", "Warning:")
# may be translated into the target language's "note": then the note is the pivot's own.
_LABEL = re.compile(r"\(?(?:[^\W\d_][\w'’-]*\s?){1,4}[:：]")


def _ends(text: str) -> tuple[str, str]:
    """The first and the last paragraph (the first and last line when there is only one),
    found without splitting the text: a response may be long."""
    text = text.strip()
    first_break = last_break = None
    for last_break in _PARAGRAPH.finditer(text):
        first_break = first_break or last_break
    if first_break is not None:
        first, last = text[: first_break.start()], text[last_break.end() :]
    else:
        first, last = (
            text[: text.find("\n")] if "\n" in text else text,
            text[text.rfind("\n") + 1 :],
        )
    return _WRAPPING.sub("", first), _WRAPPING.sub("", last)


def _framing(text: str, language: Language, of_one_paragraph: bool) -> tuple[bool, bool]:
    """Whether `text` opens with a preamble and ends with a note, in `language`. A text of one
    paragraph has no separate note: its last line is its body."""
    first, last = _ends(text)
    preamble = bool(language.preamble_pattern and language.preamble_pattern.match(first))
    note = not of_one_paragraph and bool(
        language.note_pattern and language.note_pattern.match(last)
    )
    return preamble, note


def _labelled(text: str) -> bool:
    return bool(_LABEL.match(_ends(text)[1]))


def commentary(pivot: str, target: str, pivot_language: Language, language: Language) -> bool:
    """Whether `target`, the translation of `pivot`, carries text its translator added.

    >>> from plugdata.core.languages import LANGUAGES
    >>> en, zh = LANGUAGES.get("en"), LANGUAGES.get("zh")
    >>> commentary("Name a river.", "以下是翻译：\\n\\n说出一条河的名字。", en, zh)
    True
    >>> commentary("A river?\\n\\nNote: any.", "一条河？\\n\\n注：任何。", en, zh)
    False
    """
    one = "\n" not in target.strip()  # stripped: a line break has a line on either side
    added_preamble, added_note = _framing(target, language, one)
    if not (added_preamble or added_note):
        return _quotes(pivot, target)  # nothing added to excuse: the pivot's framing can wait
    had_preamble, had_note = _framing(pivot, pivot_language, one)
    if added_note and not had_note:
        had_note = _labelled(pivot)
    if (added_preamble and not had_preamble) or (added_note and not had_note):
        return True
    return _quotes(pivot, target)


def _quotes(pivot: str, target: str) -> bool:
    """Whether `target` opens with `pivot`, quoted back. Normalising a text's head gives the head
    of the normalised text, so the heads tell most pairs apart without reading the rest."""
    head = 2 * QUOTED_MIN_CHARS
    # Case folding maps each character on its own, so the first characters after leading
    # whitespace tell apart the heads of most pairs, a translation's above all.
    first_a, first_b = pivot[:head].lstrip()[:1], target[:head].lstrip()[:1]
    if first_a and first_b and first_a.casefold()[0] != first_b.casefold()[0]:
        return False
    a, b = normalize_for_compare(pivot[:head]), normalize_for_compare(target[:head])
    n = min(len(a), len(b))
    if a[:n] != b[:n]:
        return False
    quoted, seen = normalize_for_compare(pivot), normalize_for_compare(target)
    return len(quoted) >= QUOTED_MIN_CHARS and len(seen) > len(quoted) and seen.startswith(quoted)
