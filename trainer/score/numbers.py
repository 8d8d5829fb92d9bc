"""The final number of a worked answer, read by rules: the same text always gives the same
number, in every language the table knows.

Which number, in order of preference:

1. `boxed`: the last `\\boxed{...}` holding a number (a LaTeX expression in it, such as
   `\\frac{3}{4}`, is evaluated by math-verify);
2. `marker` or `bold`, whichever comes last: the number after a final-answer phrase of any
   language (`Language.answer_markers` in `plugdata.core.languages`: "the answer is", "答案是",
   "정답은", "la risposta è", "la respuesta es", ...; after an `=` in that sentence, the number
   after the last `=`), or a bold span that is just a number, maybe with a unit or counter word
   (`**42**`, `**15 manzanas**`; not a heading such as `**Step 3:**`);
3. `last-number`: the last number of the text;
4. `none`: no number at all.

How numbers are written:

- Digits may be full-width (`４２`); `−` and `－` are minus signs. A minus sign counts only where
  it cannot be a hyphen or a subtraction (not after a letter or digit: `10-3` is 10 and 3).
- A counter word or unit may follow a number directly: `7개`, `12个`, `5 mele`, `25%`.
- Thousands: `1,234,567` in every language; a no-break or thin space (`1 234`) too, but never a
  plain space, which separates numbers far more often than it groups digits. A group never
  starts with a lone 0 (`0,125` is not 125).
- Decimals: a dot (`3.5`) in every language, because models write English-style numbers
  whatever the language. Where the language writes decimal commas (`Language.decimal_comma`:
  it, es, fr, de, pt, ru), `3,5` is 3.5 and `1.234` is 1234, but a comma or dot followed by
  exactly three digits after a 1-3 digit number is read as thousands (`3,500` is 3500, the far
  more common meaning in a word problem); elsewhere `3,5` is the two numbers 3 and 5.
- Fractions `3/4` (a non-zero denominator) are their value.

Comparison with the gold answer (`same`): `math.isclose` with rel_tol=1e-9 (Python's default,
which the PLUG paper used) and abs_tol=1e-9, so that a value computed as 0.30000000000000004
equals 0.3 and zero compares with zero.

math-verify (PyPI `math-verify`, in the `[judge]` extra) is used for one thing: LaTeX inside
`\\boxed{}` that is not a plain number. We evaluated it for all of the extraction: it reads
`\\boxed{}`, `\\frac`, `1{,}234` and units well, but it knows no per-language answer phrases,
does not read full-width digits, and decides `3,5` without knowing the language; its default
timeout uses `signal.alarm`, which fails outside the main thread. So the rules above are ours,
math-verify parses the boxed LaTeX they hand it (short, length-capped, without its signal
timeout), imported only when such a box appears.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from plugdata.core.languages import HEADER_COLON, LANGUAGES

HOWS = ("boxed", "marker", "bold", "last-number", "none")
REL_TOL = 1e-9
ABS_TOL = 1e-9
_LATEX_MAX = 200  # longer boxed LaTeX is not an answer; it could only make sympy slow

# Full-width digits and minus signs as ASCII; not NFKC, which would also turn 5² into 52.
_ASCII = str.maketrans({**{0xFF10 + i: str(i) for i in range(10)}, "−": "-", "－": "-"})

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
_FRACTION = r"[0-9]+/[1-9][0-9]*(?![0-9./])"
_NUMBERS = {
    comma: re.compile(rf"{_START}(?P<sign>-?)(?P<body>{_FRACTION}|{_DOT[comma]}|{_PLAIN[comma]})")
    for comma in (False, True)
}
_LEAD = re.compile(r"[\s:：*_$€£¥₩]*")
_BOXED = re.compile(r"\\boxed\s*\{")
_BOLD = re.compile(r"\*\*([^*\n]{1,60})\*\*")
# A sentence ends at a newline or a stop that is not a decimal point.
_SENTENCE_END = re.compile(r"\n|[。！？!?]|\.(?![0-9])")


@dataclass(frozen=True)
class Extraction:
    value: float | None
    how: str  # one of HOWS


def number_value(body: str, decimal_comma: bool = False) -> float:
    """The value of one match of a number pattern (without its sign).

    >>> number_value("1,234.5"), number_value("1.234", True), number_value("3,5", True)
    (1234.5, 1234.0, 3.5)
    >>> number_value("3/4")
    0.75
    """
    if "/" in body:
        top, bottom = body.split("/")
        return int(top) / int(bottom)
    text = re.sub(_GROUP_SPACE, "", body)
    if decimal_comma and re.fullmatch(r"[1-9][0-9]{0,2}(?:\.[0-9]{3})+(?:,[0-9]+)?", text):
        return float(text.replace(".", "").replace(",", "."))  # 1.234,5
    if re.fullmatch(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+(?:\.[0-9]+)?", text):
        return float(text.replace(",", ""))  # 1,234.5
    return float(text.replace(",", "."))  # 3.5, or 3,5 where the language writes that


def numbers(text: str, lang: str | None = None) -> list[tuple[float, int, int]]:
    """Every number of a text as (value, start, end), in order.

    >>> [n[0] for n in numbers("Tiene 1.234 manzanas y 2,5 kg", "es")]
    [1234.0, 2.5]
    >>> [n[0] for n in numbers("Had 3,5 and -2; 10-3 = 7, ４２个")]
    [3.0, 5.0, -2.0, 10.0, 3.0, 7.0, 42.0]
    """
    comma = _decimal_comma(lang)
    found = []
    for m in _NUMBERS[comma].finditer(text.translate(_ASCII)):
        value = number_value(m.group("body"), comma)
        found.append((-value if m.group("sign") else value, m.start(), m.end()))
    return found


def parse_number(text: str, lang: str | None = None) -> float | None:
    """A text that is one number and nothing else (a gold answer), else None.

    >>> parse_number(" 12.0 "), parse_number("1,200"), parse_number("twelve"), parse_number("1 2")
    (12.0, 1200.0, None, None)
    """
    stripped = text.strip()
    found = numbers(stripped, lang)
    if len(found) == 1 and found[0][1] == 0 and found[0][2] == len(stripped):
        return found[0][0]
    return None


def extract(text: str, lang: str | None = None) -> Extraction:
    """The final number of a worked answer, and which rule found it.

    >>> extract("3 + 4 = 7, so the answer is \\\\boxed{7}.")
    Extraction(value=7.0, how='boxed')
    >>> extract("小明有5个苹果，又买了7个。答案是：12个。", "zh")
    Extraction(value=12.0, how='marker')
    >>> extract("**Step 2:** 4 x 3 = 12 boxes, so **12 caixas**.")
    Extraction(value=12.0, how='bold')
    >>> extract("Luca ha 3 mele e ne compra 2,5 kg: in tutto 5,5", "it")
    Extraction(value=5.5, how='last-number')
    """
    text = text.translate(_ASCII)
    boxed = _boxed(text, lang)
    if boxed is not None:
        return Extraction(boxed, "boxed")
    candidates = [c for c in (_after_marker(text, lang), _bold(text, lang)) if c is not None]
    if candidates:
        _, value, how = max(candidates)
        return Extraction(value, how)
    found = numbers(text, lang)
    if found:
        return Extraction(found[-1][0], "last-number")
    return Extraction(None, "none")


def same(value: float | None, gold: float) -> bool:
    """Whether an extracted number is the gold answer (see the module's tolerances).

    >>> same(12.0, 12), same(0.1 + 0.2, 0.3), same(3.33, 10 / 3), same(None, 0)
    (True, True, False, False)
    """
    return value is not None and math.isclose(value, gold, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _decimal_comma(lang: str | None) -> bool:
    return lang in LANGUAGES and LANGUAGES.get(lang).decimal_comma


@functools.cache
def _markers() -> re.Pattern[str]:
    """Every language's final-answer phrases as one pattern: a Chinese model may still write
    "The answer is", and a phrase of one language means nothing else in another."""
    phrases = []
    for language in LANGUAGES:
        for marker in language.answer_markers:
            words, colon, _ = marker.partition(":")
            phrases.append(re.escape(words.rstrip()) + (HEADER_COLON if colon else ""))
    phrases.sort(key=len, reverse=True)
    return re.compile("|".join(phrases), re.IGNORECASE)


def _after_marker(text: str, lang: str | None) -> tuple[int, float, str] | None:
    """(position, value, "marker") for the last answer phrase followed by a number in its
    sentence; when that sentence holds an `=`, the number right after the last `=`."""
    for m in reversed(list(_markers().finditer(text))):
        rest = text[m.end() : m.end() + 200]
        # The sentence starts after the colon, line breaks or bold stars that may follow the
        # phrase ("The answer is:\n\n**12**").
        end = _SENTENCE_END.search(rest, _LEAD.match(rest).end())
        sentence = rest[: end.start() if end else len(rest)]
        equals = sentence.rfind("=")
        after = [n for n in numbers(sentence, lang) if n[1] > equals]
        if after:
            return (m.start(), after[0][0], "marker")
    return None


def _bold(text: str, lang: str | None) -> tuple[int, float, str] | None:
    """(position, value, "bold") for the last bold span that is a number, with at most a
    currency sign before and a short unit or counter word after it."""
    for m in reversed(list(_BOLD.finditer(text))):
        inner = m.group(1).strip()
        found = numbers(inner, lang)
        if len(found) != 1:
            continue
        value, start, end = found[0]
        before, after = inner[:start], inner[end:]
        if re.fullmatch(r"[$€£¥₩ ]*", before) and re.fullmatch(r"[^0-9=+*/×÷:]{0,24}", after):
            return (m.start(), value, "bold")
    return None


def _boxed(text: str, lang: str | None) -> float | None:
    """The value in the last `\\boxed{...}` that holds one."""
    for m in reversed(list(_BOXED.finditer(text))):
        inner = _balanced(text, m.end())
        if inner is None:
            continue
        value = parse_number(inner.replace("{,}", ","), lang)
        if value is None and "\\" in inner:
            value = _latex(inner)
        if value is None:  # \boxed{12 apples}, \boxed{x = 7}
            found = numbers(inner, lang)
            value = found[0][0] if len(found) == 1 else None
        if value is not None:
            return value
    return None


def _balanced(text: str, start: int) -> str | None:
    """The text from `start` to the brace that closes the one before it."""
    depth = 1
    for i in range(start, min(len(text), start + _LATEX_MAX)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    return None


def _latex(expression: str) -> float | None:
    """A LaTeX expression's numeric value by math-verify (sympy), or None."""
    import logging

    from math_verify import parse

    # parsing_timeout=None: its timeout is a signal alarm, which works only in the main thread;
    # _LATEX_MAX bounds the work instead, so its warning that we must bound it is noise.
    logging.getLogger("math_verify.parser").setLevel(logging.ERROR)
    for parsed in parse(f"\\boxed{{{expression}}}", parsing_timeout=None):
        try:
            return float(parsed)
        except (TypeError, ValueError):
            continue
    return None
