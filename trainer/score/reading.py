"""Every number of a worked answer as the rules read it, in digits or in words, and which of
them cannot be the answer: years, dates, step numbers and list items (`numbers` chooses among
the rest).

How numbers are written:

- Digits may be full-width (`４２`); `−` and `－` are minus signs. A minus sign counts only where
  it cannot be a hyphen or a subtraction (not after a letter or digit: `10-3` is 10 and 3); so do
  minus words before a number ("minus 3", 零下5度, 영하 3도).
- A counter word or unit may follow a number directly: `7개`, `12个`, `5 mele`, `25%`.
- Magnitude words scale the number before them: 12万, 1.5万, 3万5千, 3만 5천, 2억, "2 milioni",
  "1,5 millones", "20 thousand" (`numerals`).
- Numbers in words (`numerals`): English, Italian and Spanish ("seven", "venticinque",
  "treinta y dos"), Chinese numerals (七, 十二, 两, 一百零五, 二〇二三) and Korean native numerals
  (다섯, 열두 개, 스무 명); fractions in words (四分之三, 4분의 3) and 百分之二十 (20).
- Thousands: `1,234,567` in every language; a no-break or thin space (`1 234`) too, but never a
  plain space, which separates numbers far more often than it groups digits. A group never
  starts with a lone 0 (`0,125` is not 125).
- Decimals: a dot (`3.5`) in every language, because models write English-style numbers
  whatever the language. Where the language writes decimal commas (`Language.decimal_comma`:
  it, es, fr, de, pt, ru), `3,5` is 3.5 and `1.234` is 1234, but a comma or dot followed by
  exactly three digits after a 1-3 digit number is read as thousands (`3,500` is 3500, the far
  more common meaning in a word problem); elsewhere `3,5` is the two numbers 3 and 5.
- Fractions `3/4` (a non-zero denominator) and LaTeX `\\frac{3}{4}` are their value.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from plugdata.core.languages import LANGUAGES
from trainer.score import cues, numerals

# Full-width digits and signs as ASCII; not NFKC, which would also turn 5² into 52.
_ASCII = str.maketrans(
    {**{0xFF10 + i: str(i) for i in range(10)}, "−": "-", "－": "-", "＝": "=", "％": "%"}
)

_GROUP_SPACE = "[\u00a0\u202f\u2009]"
# A number (or its minus sign) never starts right after a digit or an ASCII letter (x2, 10-3);
# a unit or counter word may follow it.
_START = r"(?<![0-9A-Za-z])"
_DOT = {
    # thousands by comma or a no-break space, then a decimal dot
    False: rf"[1-9][0-9]{{0,2}}(?:(?:,[0-9]{{3}})+|(?:{_GROUP_SPACE}[0-9]{{3}})+)(?![0-9])"
    r"(?:\.[0-9]+)?",
    # ... or thousands by dot, then a decimal comma (1.234,5)
    True: rf"[1-9][0-9]{{0,2}}(?:(?:,[0-9]{{3}})+(?![0-9])(?:\.[0-9]+)?|"
    rf"(?:\.[0-9]{{3}})+(?![0-9])(?:,[0-9]+)?|(?:{_GROUP_SPACE}[0-9]{{3}})+(?![0-9])"
    r"(?:[.,][0-9]+)?)",
}
_PLAIN = {False: r"[0-9]+(?:\.[0-9]+)?", True: r"[0-9]+(?:[.,][0-9]+)?"}
# not a date (1/2/2024) nor a decimal's start (3/4.5); a full stop may follow (ate 3/4.)
_FRACTION = r"[0-9]+/[1-9][0-9]*(?![0-9/]|\.[0-9])"
_NUMBERS = {
    comma: re.compile(rf"{_START}(?P<sign>-?)(?P<body>{_FRACTION}|{_DOT[comma]}|{_PLAIN[comma]})")
    for comma in (False, True)
}
_LATEX_FRACTION = re.compile(r"\\[dt]?frac\s*\{\s*([0-9]+)\s*\}\s*\{\s*([0-9]+)\s*\}")
# Where a list item's number stands: at the start of a line, after markdown.
_LIST_ITEM = re.compile(r"^[ \t>#*_-]*(?:\*\*)?$")


@dataclass(frozen=True)
class Number:
    value: float
    start: int
    end: int
    # A year, a step's number or a list item's: the answer only where no other number is.
    aside: bool = False


def number_value(body: str, decimal_comma: bool = False) -> float:
    """The value of one match of a number pattern (without its sign).

    >>> number_value("1,234.5"), number_value("1.234", True), number_value("3,5", True)
    (1234.5, 1234.0, 3.5)
    >>> number_value("3/4")
    0.75
    """
    if "/" in body:  # floats: 5,000 digits are past int()'s limit; x/0 is not a number
        top, bottom = (float(part) for part in body.split("/"))
        return top / bottom if bottom else math.nan
    text = re.sub(_GROUP_SPACE, "", body)
    if decimal_comma and re.fullmatch(r"[1-9][0-9]{0,2}(?:\.[0-9]{3})+(?:,[0-9]+)?", text):
        return float(text.replace(".", "").replace(",", "."))  # 1.234,5
    if re.fullmatch(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+(?:\.[0-9]+)?", text):
        return float(text.replace(",", ""))  # 1,234.5
    return float(text.replace(",", "."))  # 3.5, or 3,5 where the language writes that


def normalize(text: str) -> str:
    """The text as the rules read it: full-width digits as ASCII, LaTeX fractions as a/b.

    >>> normalize("４２ and \\\\frac{3}{4}, 1{,}234")
    '42 and 3/4, 1,234'
    """
    text = text.translate(_ASCII).replace("{,}", ",")
    return _LATEX_FRACTION.sub(r"\1/\2", text)


def digits(text: str, lang: str | None) -> list[Number]:
    comma = _decimal_comma(lang)
    found = []
    for m in _NUMBERS[comma].finditer(text):
        value = number_value(m.group("body"), comma)
        value, end = numerals.scaled(text, m.end(), value, lang)
        if not math.isfinite(value):  # past a float's range (hundreds of digits), or x/0
            continue
        found.append(Number(float(-value if m.group("sign") else value), m.start(), end))
    return found


def read(text: str, lang: str | None = None) -> list[Number]:
    """Every number of a normalized text, in digits or words, in order; where two readings
    overlap, the one that starts first and reaches furthest (四分之三 is 0.75, not 4 and 3)."""
    words = [Number(float(v), s, e) for v, s, e in numerals.words(text, lang)]
    spans = digits(text, lang) + [n for n in words if math.isfinite(n.value)]
    spans.sort(key=lambda n: (n.start, -n.end))
    kept: list[Number] = []
    for n in spans:
        if not kept or n.start >= kept[-1].end:
            kept.append(_signed(text, n))
    steps = _step_spans(text)
    return [Number(n.value, n.start, n.end, _aside(text, n, steps)) for n in kept]


def _decimal_comma(lang: str | None) -> bool:
    return lang in LANGUAGES and LANGUAGES.get(lang).decimal_comma


# -- which numbers cannot be the answer ----------------------------------------------------------
@functools.cache
def _patterns() -> dict[str, re.Pattern[str]]:
    steps = cues.pattern("steps").pattern
    months = cues.pattern("months").pattern
    return {
        # a number right after a minus word ("minus 3", 零下5度); a minus word after a number
        # is a subtraction ("10 minus 3")
        "minus": re.compile(
            rf"(?<![0-9)=]\s)(?<![0-9)=])(?:{cues.pattern('minus').pattern})\s*$", re.IGNORECASE
        ),
        "year_before": re.compile(rf"(?:{cues.pattern('years').pattern}|{months})\s+$", re.I),
        "year_after": re.compile(r"\s*(?:[年년]|[-–]\s*[12][0-9]{3}\b)"),
        # a day or a month of a date: March 5, 5 marzo, 5 de marzo, 3月5日, 3월 5일
        "date": re.compile(
            rf"(?:(?:{months})\s+|[0-9]{{1,2}}\s*[月월]\s*)\Z|"
            rf"\A(?:\s+(?:de\s+)?(?:{months})|\s*[月월]\s*[0-9]{{1,2}}\s*[日일号])",
            re.IGNORECASE,
        ),
        "day_of_month": re.compile(r"\A\s*[日일号]"),
        "step_before": re.compile(rf"(?:\b(?:{steps})|第)[ \t]*$", re.IGNORECASE),
        "step_after": re.compile(rf"[ \t]*(?:个)?[ \t]*(?:{steps})", re.IGNORECASE),
        # a parenthesis that counts the steps: (3 steps), （共3个步骤）, (총 2단계)
        "step_note": re.compile(
            rf"[(（][^()（）\n]{{0,40}}?(?:{steps})[^()（）\n]{{0,40}}?[)）]", re.IGNORECASE
        ),
    }


def _signed(text: str, n: Number) -> Number:
    if n.value <= 0:
        return n
    m = _patterns()["minus"].search(text, max(0, n.start - 12), n.start)
    return Number(-n.value, m.start(), n.end) if m else n


def _step_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _patterns()["step_note"].finditer(text)]


def _aside(text: str, n: Number, steps: list[tuple[int, int]]) -> bool:
    """Whether a number is a year or a date, counts or names a step, or numbers a list item."""
    p = _patterns()
    before, after = text[max(0, n.start - 24) : n.start], text[n.end : n.end + 12]
    body = text[n.start : n.end]
    if re.fullmatch(r"(?:19|20)[0-9]{2}", body) and (
        p["year_after"].match(after) or p["year_before"].search(before)
    ):
        return True
    if body.isdigit() and len(body) <= 2 and 1 <= int(body) <= 31 and _is_date(before, after):
        return True
    if p["step_before"].search(before) or p["step_after"].match(after):
        return True
    if any(lo <= n.start < hi for lo, hi in steps):
        return True
    line_start = text.rfind("\n", 0, n.start) + 1
    return bool(
        re.match(r"[.)、]\s+\S", after)
        and body.isdigit()
        and _LIST_ITEM.match(text[line_start : n.start])
    )


def _is_date(before: str, after: str) -> bool:
    date = _patterns()["date"]
    cjk_month = re.search(r"[0-9]{1,2}\s*[月월]\s*\Z", before)
    if cjk_month:  # 3月5日; 3月 alone may be "March" or 3 months, and stays a number
        return bool(_patterns()["day_of_month"].match(after))
    return bool(date.search(before) or date.match(after))
