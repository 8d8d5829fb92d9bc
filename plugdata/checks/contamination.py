"""Evaluation items inside training data: an index of evaluation sets' instructions, and the
check that finds a training instruction overlapping one of them.

A text overlaps an item when, once both are normalised (Unicode NFKC, case folded, punctuation
and symbols dropped, white space ignored), they are equal (short prompts are common), or
they share a long n-gram: `ngram_words` words (13, the usual setting) for languages written
with spaces, `ngram_chars` characters for Chinese, Japanese and Korean text (Han, kana and
Hangul, spaces ignored). An item too short for an n-gram but not for a phrase (from
`min_words` words, `min_chars` characters) is matched as a whole inside a longer text. Stock
phrases ("what is the best way to", "请解释以下概念") are shorter than all of these, so sharing
one is not overlap. The index holds 8-byte digests, not texts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from plugdata.core.digests import digest

# Hangul jamo and syllables, kana, Han (with its extension A and compatibility ideographs).
_CJK = re.compile(
    r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """Compare-form of a text: NFKC, case folded, no punctuation or symbols, single spaces.

    >>> normalise("  What's the Capital of   FRANCE?! ")
    'whats the capital of france'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(c for c in text if not unicodedata.category(c).startswith(("P", "S")))
    return " ".join(kept.split())


def _units(text: str) -> tuple[list[str], str]:
    """The words of a normalised text outside CJK scripts, and its CJK characters in order."""
    cjk = "".join(_CJK.findall(text))
    words = _WORD.findall(_CJK.sub(" ", text))
    return words, cjk


def _grams(units: list[str] | str, n: int) -> Iterator[bytes]:
    for i in range(len(units) - n + 1):
        yield digest(" ".join(units[i : i + n]) if isinstance(units, list) else units[i : i + n])


@dataclass
class ContaminationIndex:
    """See the module doc. `add` evaluation texts under their set's name; `find` says which
    set a training text overlaps, if any."""

    ngram_words: int = 13
    ngram_chars: int = 20
    min_words: int = 8
    min_chars: int = 12
    items: dict[str, int] = field(default_factory=dict)  # set name -> texts indexed
    _exact: dict[bytes, str] = field(default_factory=dict)
    _grams: dict[bytes, str] = field(default_factory=dict)
    # Lengths (in words, in CJK characters) of items matched whole inside longer texts.
    _word_lengths: set[int] = field(default_factory=set)
    _char_lengths: set[int] = field(default_factory=set)

    def add(self, name: str, text: str) -> None:
        words, cjk = _units(normalise(text))
        if not words and not cjk:
            return
        self.items[name] = self.items.get(name, 0) + 1
        self._exact.setdefault(digest(" ".join(words), cjk), name)
        for units, n, low, lengths in (
            (words, self.ngram_words, self.min_words, self._word_lengths),
            (cjk, self.ngram_chars, self.min_chars, self._char_lengths),
        ):
            if len(units) >= n:
                for gram in _grams(units, n):
                    self._grams.setdefault(gram, name)
            elif len(units) >= low:  # a phrase too short for an n-gram: matched as a whole
                lengths.add(len(units))
                self._grams.setdefault(next(_grams(units, len(units))), name)

    def find(self, text: str) -> str | None:
        """The name of the evaluation set `text` overlaps, or None."""
        words, cjk = _units(normalise(text))
        found = self._exact.get(digest(" ".join(words), cjk))
        if found is not None or not self._grams:
            return found
        for units, sizes in (
            (words, {self.ngram_words, *self._word_lengths}),
            (cjk, {self.ngram_chars, *self._char_lengths}),
        ):
            for n in sizes:
                for gram in _grams(units, n):
                    found = self._grams.get(gram)
                    if found is not None:
                        return found
        return None

    def __len__(self) -> int:
        return sum(self.items.values())
