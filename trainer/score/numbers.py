"""The final number of a worked answer, read by rules the way a careful reader does: the same
text always gives the same number, in every language the tables know.

Which number, in order of preference:

1. `boxed`: the last `\\boxed{...}` holding a number (a LaTeX expression in it, such as
   `\\frac{3}{4}`, is evaluated by math-verify);
2. then only the answer's last attempt counts: a self-correction ("Actually, ...", "等等",
   "잠깐", "Aspetta", "Espera"; `cues.Cues.corrections`) voids what came before it, and a check
   or note after the answer ("Check: 24 ÷ 4 = 6", "验证：", "Nota:"), or the start of another
   turn ("Question:"; `cues.Cues.checks`), is not part of it;
3. `marker` or `bold`, whichever comes last: the number after a final-answer phrase of any
   language (`Language.answer_markers` in `plugdata.core.languages`, plus `cues.Cues.markers`:
   "the answer is", "答案是", "정답은", "la risposta è", "la respuesta es", "Final answer:",
   "####", ...; after an `=` in that sentence, the number after the last `=`), or a bold number
   (`**42**`, `**15 manzanas**`) that concludes: after "so"/"所以"/"따라서"/"quindi"/"por lo
   tanto" in its sentence, or with no number and no `=` after it. A bold quantity of the
   question ("There are **3** groups ... 3 x 5 = 15") is not the answer. Working after either
   that arrives at another number makes it a heading, and that number wins;
4. `last-number`: the last sentence holding a number, passing over one that only explains the
   answer before it ("This is because ...", "因为...", `cues.Cues.reasons`) or restates two or
   more numbers of the question (when `extract` is given it); in it, the result of its last `=`
   (`750 − 600 = 150 pencils left, which is 20% of the order` is 150), else its last number
   before a clause of reasons ("14 apples, because Steven has 9"; `cues.Cues.because`) that is
   not a number of the question, else its last number;
5. `none`: no number at all.

Years (`nel 2023`, `2023年`), dates (`March 5`, `5 de marzo`, `3月5日`), step numbers (`Step 2`,
`第2步`, `(3 steps)`, `（共3个步骤）`) and list items (`1. `) are numbers too, but never the answer
while another number is there.

How numbers are written, in digits and in words, is `reading`'s (and `numerals`').

Comparison with the gold answer (`same`): `math.isclose` with rel_tol=1e-9 (Python's default,
which the PLUG paper used) and abs_tol=1e-9, so that a value computed as 0.30000000000000004
equals 0.3 and zero compares with zero.

`last_integer` is the PLUG paper's reading instead (`--number-rule paper`): the last run of
digits, with comma thousands and a leading minus, and no decimal point, so "3.5" reads as 5.

math-verify (PyPI `math-verify`, in the `[judge]` extra) is used for one thing: LaTeX inside
`\\boxed{}` that is not a plain number. We evaluated it for all of the extraction: it reads
`\\boxed{}`, `\\frac`, `1{,}234` and units well, but it knows no per-language answer phrases,
does not read full-width digits, and decides `3,5` without knowing the language; its default
timeout uses `signal.alarm`, which fails outside the main thread. So the rules above are ours,
math-verify parses the boxed LaTeX they hand it (short, length-capped, without its signal
timeout), imported only when such a box appears.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from dataclasses import dataclass

from plugdata.core.languages import HEADER_COLON, LANGUAGES
from trainer.score import cues
from trainer.score.reading import Number, digits, normalize, read

HOWS = ("boxed", "marker", "bold", "last-number", "last-integer", "none")
REL_TOL = 1e-9
ABS_TOL = 1e-9
_LATEX_MAX = 200  # longer boxed LaTeX is not an answer; it could only make sympy slow

_LEAD = re.compile(r"[\s:：*_$€£¥₩]*")
_BOXED = re.compile(r"\\boxed\s*\{")
_BOLD = re.compile(r"\*\*([^*\n]{1,60})\*\*")
# A sentence ends at a newline or a stop that is not a decimal point.
_SENTENCE_END = re.compile(r"\n|[。！？!?]|\.(?![0-9])")
_PAPER_INTEGER = re.compile(r"-?\d+(?:,\d{3})*")


@dataclass(frozen=True)
class Extraction:
    value: float | None
    how: str  # one of HOWS


def numbers(text: str, lang: str | None = None) -> list[tuple[float, int, int]]:
    """Every number of a text as (value, start, end), in order; positions are those of the
    normalized text (`normalize`).

    >>> [n[0] for n in numbers("Tiene 1.234 manzanas y 2,5 kg", "es")]
    [1234.0, 2.5]
    >>> [n[0] for n in numbers("Had 3,5 and -2; 10-3 = 7, ４２个")]
    [3.0, 5.0, -2.0, 10.0, 3.0, 7.0, 42.0]
    >>> [n[0] for n in numbers("12万人，其中三千五百人", "zh")]
    [120000.0, 3500.0]
    """
    return [(n.value, n.start, n.end) for n in read(normalize(text), lang)]


def parse_number(text: str, lang: str | None = None) -> float | None:
    """A text that is one number in digits and nothing else (a gold answer), else None.

    >>> parse_number(" 12.0 "), parse_number("1,200"), parse_number("twelve"), parse_number("1 2")
    (12.0, 1200.0, None, None)
    """
    stripped = normalize(text.strip())
    found = digits(stripped, lang)
    if len(found) == 1 and found[0].start == 0 and found[0].end == len(stripped):
        return found[0].value
    return None


def extract(text: str, lang: str | None = None, question: str | None = None) -> Extraction:
    """The final number of a worked answer, and which rule found it. With the `question`, a
    number of the question that the last sentence restates after the answer is passed over
    ("Tom has 8 apples after buying 3 more": 8).

    >>> extract("3 + 4 = 7, so the answer is \\\\boxed{7}.")
    Extraction(value=7.0, how='boxed')
    >>> extract("小明有5个苹果，又买了7个。答案是：12个。", "zh")
    Extraction(value=12.0, how='marker')
    >>> extract("There are **3** groups of 5: 3 x 5 = 15 students.")
    Extraction(value=15.0, how='last-number')
    >>> extract("The answer is 12. Actually, 4 x 4 = 16.")
    Extraction(value=16.0, how='last-number')
    >>> extract("Luca ha 3 mele e ne compra 2,5 kg: in tutto 5,5", "it")
    Extraction(value=5.5, how='last-number')
    """
    text = normalize(text)
    boxed = _boxed(text, lang)
    if boxed is not None:
        return Extraction(boxed, "boxed")
    found = read(text, lang)
    if not found:
        return Extraction(None, "none")
    lo, hi = _attempt(text, found)
    inside = [n for n in found if lo <= n.start and n.end <= hi]
    # A number that the last sentence restates from earlier, or from the question, is not its
    # conclusion.
    seen = Seen.of(text, found, read(normalize(question), lang) if question else [])
    candidates = [
        c for c in (_after_marker(text, lo, hi, inside), _bold(text, lo, hi, inside)) if c
    ]
    if candidates:
        _, end, value, how = max(candidates)
        # Working after the answer that arrives elsewhere ("Answer:\nStep 1: 5 × 3 = 15\n
        # Step 2: 15 + 2 = 17") makes the phrase a heading; working that arrives at the same
        # number explains it.
        later = [n for n in inside if n.start >= end and not n.aside]
        result = _last_sentence(text, later, seen) if "=" in text[end:hi] else None
        if result is None or result == value:
            return Extraction(value, how)
        return Extraction(result, "last-number")
    answer = _last_sentence(text, [n for n in inside if not n.aside], seen)
    if answer is None:  # only years and step numbers: the last of them
        answer = (inside or found)[-1].value
    return Extraction(answer, "last-number")


def last_integer(text: str) -> float | None:
    """The PLUG paper's reading: the last run of digits (any script's), with comma thousands
    and a leading minus sign; a decimal point ends a number, so "3.5" reads as 5.

    >>> last_integer("3.5"), last_integer("-2"), last_integer("1,000 or 1,0000"), last_integer("?")
    (5.0, -2.0, 0.0, None)
    """
    found = _PAPER_INTEGER.findall(text)
    value = float(found[-1].replace(",", "")) if found else None
    return value if value is not None and math.isfinite(value) else None


def same(value: float | None, gold: float) -> bool:
    """Whether an extracted number is the gold answer (see the module's tolerances).

    >>> same(12.0, 12), same(0.1 + 0.2, 0.3), same(3.33, 10 / 3), same(None, 0)
    (True, True, False, False)
    """
    return value is not None and math.isclose(value, gold, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _attempt(text: str, found: list[Number]) -> tuple[int, int]:
    """The span of the answer's last attempt: from the last self-correction that a number
    follows to the first check or note that a number precedes."""
    plain = [n for n in found if not n.aside]
    if not plain:
        return 0, len(text)
    m = next((m for m in _checks().finditer(text) if plain[0].end <= m.start()), None)
    hi = m.start() if m else len(text)
    last = max((n.start for n in plain if n.end <= hi), default=-1)
    lo = 0
    for m in cues.pattern("corrections").finditer(text, 0, hi):
        if m.end() <= last:
            lo = m.end()
    return lo, hi


@functools.cache
def _checks() -> re.Pattern[str]:
    # At the start of a line or sentence, or in parentheses: "Check: ...", "（注：...）".
    return re.compile(
        rf"(?:^|(?<=[.。!！?？])|[(（])[ \t*_#>-]*(?:{cues.pattern('checks').pattern})",
        re.IGNORECASE | re.MULTILINE,
    )


# -- the rules ------------------------------------------------------------------------------------
@functools.cache
def _markers() -> re.Pattern[str]:
    """Every language's final-answer phrases as one pattern: a Chinese model may still write
    "The answer is", and a phrase of one language means nothing else in another."""
    phrases = []
    for marker in {m for language in LANGUAGES for m in language.answer_markers} | set(
        cues.markers()
    ):
        words, colon, _ = marker.partition(":")
        words = words.rstrip()
        # A one-letter phrase (答:, 답:) is not the end of a longer word (解答:, 해답:).
        guard = r"(?<!\w)" if len(words) == 1 and words.isalpha() else ""
        phrases.append(guard + re.escape(words) + (r"[*_]*" + HEADER_COLON if colon else ""))
    phrases.sort(key=len, reverse=True)
    return re.compile("|".join(phrases), re.IGNORECASE)


def _sentence(text: str, start: int, limit: int) -> str:
    """The text from `start` to the end of its sentence (at most 200 characters)."""
    rest = text[start : min(limit, start + 200)]
    end = _SENTENCE_END.search(rest, _LEAD.match(rest).end())
    return rest[: end.start() if end else len(rest)]


def _after_marker(
    text: str, lo: int, hi: int, found: list[Number]
) -> tuple[int, int, float, str] | None:
    """(position, end of its sentence, value, "marker") for the last answer phrase followed by
    a number in its sentence; when that sentence holds an `=`, the number right after the last
    `=`."""
    for m in reversed(list(_markers().finditer(text, lo, hi))):
        # The sentence starts after the colon, line breaks or bold stars that may follow the
        # phrase ("The answer is:\n\n**12**").
        sentence = _sentence(text, m.end(), hi)
        equals = m.end() + sentence.rfind("=")
        end = m.end() + len(sentence)
        after = [n for n in found if equals < n.start and n.end <= end and not n.aside]
        if after:
            return (m.start(), end, after[0].value, "marker")
    return None


def _bold(text: str, lo: int, hi: int, found: list[Number]) -> tuple[int, int, float, str] | None:
    """(position, end, value, "bold") for the last bold number that concludes the answer: a number
    with at most a currency sign before and a short unit or counter word after it, that
    follows a conclusion word in its sentence or has no number and no `=` after it."""
    starts = [n.start for n in found]
    # What comes after a bold number that concludes: no number, no `=`.
    last_number = max((n.start for n in found if not n.aside), default=-1)
    last_equals = text.rfind("=", lo, hi)
    for m in reversed(list(_BOLD.finditer(text, lo, hi))):
        inner = found[bisect.bisect_left(starts, m.start(1)) : bisect.bisect_left(starts, m.end(1))]
        if len(inner) != 1 or inner[0].aside or inner[0].end > m.end(1):
            continue
        n = inner[0]
        before, after = text[m.start(1) : n.start], text[n.end : m.end(1)]
        if not (re.fullmatch(r"[$€£¥₩ ]*", before) and re.fullmatch(r"[^0-9=+*/×÷:]{0,24}", after)):
            continue
        if (m.end() > last_number and m.end() > last_equals) or _concluded(text, m.start()):
            return (m.start(), m.end(), n.value, "bold")
    return None


def _concluded(text: str, start: int) -> bool:
    """Whether a conclusion word or an answer phrase comes before `start` in its sentence.
    Alone on its line is not enough: a list of the question's quantities ("- Boxes: **8**")
    is bold too."""
    # A conclusion word further back than a long sentence is not this number's.
    line_start = max(text.rfind("\n", 0, start) + 1, start - 200)
    sentence_start = max(
        (m.end() for m in _SENTENCE_END.finditer(text, line_start, start)), default=line_start
    )
    lead = text[sentence_start:start]
    return bool(cues.pattern("conclusions").search(lead) or _markers().search(lead))


def _last_sentence(text: str, found: list[Number], seen: Seen) -> float | None:
    """The answer among the numbers of the working: the last sentence holding a number, passing
    over one that explains the sentence before it ("This is because ...") or restates numbers
    of the question; in it, the result of its last `=` (or `≈`) unless a conclusion follows
    ("= 12 minutes, so all 5 take 60"), else its last number before any clause of reasons
    ("14 apples, because Steven has 9") that it does not restate (`_restated_dropped`)."""
    if not found:
        return None
    ends = [0] + [m.end() for m in _SENTENCE_END.finditer(text, 0, found[-1].start)]
    sentences: dict[int, list[Number]] = {}  # by where the sentence starts
    for n in found:
        sentences.setdefault(ends[bisect.bisect_right(ends, n.start) - 1], []).append(n)
    groups = list(sentences.items())
    i = len(groups) - 1
    while i > 0 and _passed_over(text, *groups[i], seen):
        i -= 1
    start, sentence = groups[i]
    last = sentence[-1]
    equals = max(text.rfind("=", start, last.start), text.rfind("≈", start, last.start))
    if equals >= 0:
        result = next(n for n in sentence if n.start > equals)
        then = cues.pattern("conclusions").search(text, result.end, last.start)
        if not then:
            return result.value
        sentence = [n for n in sentence if n.start >= then.end()]
    else:
        reasons = cues.pattern("because").search(text, sentence[0].end, last.start)
        if reasons:
            sentence = [n for n in sentence if n.end <= reasons.start()]
    return _restated_dropped(start, sentence, seen)[-1].value


def _restated_dropped(start: int, sentence: list[Number], seen: Seen) -> list[Number]:
    """The sentence's numbers without those it restates after its answer: numbers of the
    question after one that is not, and numbers written before this sentence and never
    computed after one that the working computed ("So the train travels 120 km in 2 hours",
    where `60 × 2 = 120` came before)."""
    while len(sentence) > 1:
        n, before = sentence[-1], sentence[:-1]
        question = seen.given(n) and not all(seen.given(m) for m in before)
        earlier = seen.restated(n, start) and any(seen.computed(m, start) for m in before)
        if not (question or earlier):
            break
        sentence = before
    return sentence


@dataclass
class Seen:
    """Where each value was written first, and where the working first computed it (the
    number after an `=`); the question's numbers count as written before the answer."""

    first: dict[float, int]
    results: dict[float, int]

    @classmethod
    def of(cls, text: str, found: list[Number], question: list[Number]) -> Seen:
        first = {n.value: -1 for n in question}
        results: dict[float, int] = {}
        for n in found:
            first.setdefault(n.value, n.start)
            if re.search(r"[=≈][\s$€£¥₩(]*\Z", text[max(0, n.start - 8) : n.start]):
                results.setdefault(n.value, n.start)
        return cls(first, results)

    def given(self, n: Number) -> bool:
        return self.first.get(n.value) == -1

    def computed(self, n: Number, before: int) -> bool:
        """Whether the working computed `n`'s value before `before`."""
        return self.results.get(n.value, before) < before

    def restated(self, n: Number, before: int) -> bool:
        """Whether `n`'s value was written before `before`, and never as a result."""
        return self.first.get(n.value, before) < before and n.value not in self.results


def _passed_over(text: str, start: int, sentence: list[Number], seen: Seen) -> bool:
    """Whether a sentence only explains or restates: no `=`, no conclusion, and it opens with
    a reason ("This is because") or holds nothing but two or more of the question's numbers."""
    body = text[start : sentence[-1].end]
    if "=" in body or "≈" in body or cues.pattern("conclusions").search(body):
        return False
    if len(sentence) >= 2 and all(seen.given(n) for n in sentence):
        return True
    return bool(_reason_opener().match(text, start))


@functools.cache
def _reason_opener() -> re.Pattern[str]:
    return re.compile(rf"[\s*_#>-]*(?:{cues.pattern('reasons').pattern})", re.IGNORECASE)


def _boxed(text: str, lang: str | None) -> float | None:
    """The value in the last `\\boxed{...}` that holds one."""
    for m in reversed(list(_BOXED.finditer(text))):
        inner = _balanced(text, m.end())
        if inner is None:
            continue
        value = parse_number(inner, lang)
        if value is None and "\\" in inner:
            value = _latex(inner)
        if value is None:  # \boxed{12 apples}, \boxed{x = 7}
            found = digits(inner, lang)
            value = found[0].value if len(found) == 1 else None
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
