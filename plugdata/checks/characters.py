"""Characters that have no place in training text: control characters (NUL and the rest of C0
and C1 but tab and line breaks), bidirectional overrides, embeddings and isolates (U+202A-U+202E,
U+2066-U+2069, which reorder what a reader sees: the "Trojan Source" trick), and zero-width or
invisible format characters outside the scripts that need them. A row holding one is
quarantined for it: plugdata never strips a character silently.

Zero-width joiners and non-joiners shape Arabic, Persian and the Indic scripts, and join emoji;
a zero-width space separates words in Thai, Lao, Khmer, Myanmar and Tibetan; the left-to-right
and right-to-left marks belong next to Hebrew and Arabic. There, between letters of those
scripts, they are text.
"""

from __future__ import annotations

import re

# Never text: C0 and C1 controls but tab, line feed and carriage return; DEL; bidirectional
# embeddings, overrides and isolates; the byte order mark inside a text.
_NEVER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
# Invisible format characters that some scripts need: ZWSP, ZWNJ, ZWJ, LRM, RLM, word joiner.
_INVISIBLE = re.compile("[\u200b-\u200f\u2060]")
# Letters of the scripts that need them (their neighbours decide).
_NEEDS = {
    "\u200b": "\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff",  # ZWSP: Thai ... Khmer
    "\u200c": "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefe\u0900-\u0dff",
    "\u200d": "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefe\u0900-\u0dff"
    "\u2600-\u27bf\U0001f000-\U0001faff\ufe0f",  # ZWJ: as ZWNJ, and emoji sequences
    "\u200e": "\u0590-\u05ff\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb1d-\ufdff\ufe70-\ufefe",
    "\u200f": "\u0590-\u05ff\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb1d-\ufdff\ufe70-\ufefe",
}
_NEIGHBOURS = {char: re.compile(f"[{letters}]") for char, letters in _NEEDS.items()}
# Either kind: one pass over a text that holds neither (nearly every text) settles it.
_EITHER = re.compile(f"{_NEVER.pattern}|{_INVISIBLE.pattern}")


def stray_character(text: str) -> str | None:
    """The first character of `text` that has no place in training text, by its code point
    (`U+202E`), or None.

    >>> stray_character("fine text\\twith a tab\\n"), stray_character("a\\u202eb")
    (None, 'U+202E')
    >>> stray_character("नमस्\\u200dते"), stray_character("plain\\u200bspace")
    (None, 'U+200B')
    """
    if _EITHER.search(text) is None:
        return None
    found = _NEVER.search(text)
    if found:
        return f"U+{ord(found.group()):04X}"
    for match in _INVISIBLE.finditer(text):
        char, at = match.group(), match.start()
        needs = _NEIGHBOURS.get(char)
        around = text[max(0, at - 1) : at] + text[at + 1 : at + 2]
        if needs is None or not needs.search(around):
            return f"U+{ord(char):04X}"
    return None
