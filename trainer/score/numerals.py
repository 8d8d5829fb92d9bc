"""Numbers written in words, and the words that scale a number: spelled-out numbers (English,
Italian, Spanish), Chinese numerals, Korean native numerals, magnitude words after a number
(12万, 3만 5천, 2 milioni, 1,5 millones, 20 thousand) and fractions in words (四分之三, 4분의 3).

`words(text, lang)` returns the `(value, start, end)` spans it finds; `scaled` extends a number
that a magnitude word follows. A word that is also an ordinary word is left alone where it means
that word: "un"/"una" are articles, "each one" and "cada uno" pronouns, 一共 is "in total", 零件
"parts", and a Korean counting form counts only before a counter word (세 개, not 세계).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

Span = tuple[float, int, int]


def _numbered(words: str, start: int = 1, step: int = 1) -> dict[str, int]:
    return {w: start + step * i for i, w in enumerate(_split(words))}


def _split(words: str) -> list[str]:
    return words.split()


@dataclass(frozen=True)
class Words:
    """A language's number words: below 100 they add, 100 multiplies what comes before, 1000
    and up close a group ("two thousand three hundred and five")."""

    values: dict[str, int]
    # A word between two number words, and the value the word before it must have for it to
    # join them: "and" after hundred/thousand, "y" after the tens (treinta y dos).
    joiners: dict[str, tuple[int, int]]
    # True where a number is one word made of parts (Italian ventitré, duemilacinquecento).
    compound: bool = False
    # Tens written without their last vowel, which stand only before 1 and 8.
    elided: frozenset[str] = frozenset()
    # Around a word worth 1: the text before or after it that makes it a pronoun.
    pronoun_before: str = r"(?!)"
    pronoun_after: str = r"(?!)"


WORDS: dict[str, Words] = {
    "en": Words(
        {
            "zero": 0,
            **_numbered(
                "one two three four five six seven eight nine ten eleven twelve thirteen "
                "fourteen fifteen sixteen seventeen eighteen nineteen"
            ),
            **_numbered("twenty thirty forty fifty sixty seventy eighty ninety", 20, 10),
            "hundred": 100,
            "thousand": 1000,
            "million": 10**6,
            "billion": 10**9,
        },
        {"and": (100, 10**9)},
        pronoun_before=r"\b(?:each|every|no|any|some|the|this|that|which)\s+$",
        pronoun_after=r"^\s+(?:of|another|by one)\b",
    ),
    "it": Words(
        {
            "zero": 0,
            "uno": 1,
            **_numbered(
                "due tre quattro cinque sei sette otto nove dieci undici dodici tredici "
                "quattordici quindici sedici diciassette diciotto diciannove",
                2,
            ),
            "tré": 3,
            **_numbered(
                "venti trenta quaranta cinquanta sessanta settanta ottanta novanta", 20, 10
            ),
            # The tens lose their last vowel before uno and otto: ventuno, trentotto.
            **_numbered("vent trent quarant cinquant sessant settant ottant novant", 20, 10),
            "cento": 100,
            "mille": 1000,
            "mila": 1000,
            "milione": 10**6,
            "milioni": 10**6,
            "miliardo": 10**9,
            "miliardi": 10**9,
        },
        {},
        compound=True,
        elided=frozenset(_split("vent trent quarant cinquant sessant settant ottant novant")),
        pronoun_after=r"^\s+(?:di|dei|degli|delle)\b",
    ),
    "es": Words(
        {
            "cero": 0,
            "uno": 1,
            **_numbered(
                "dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince "
                "dieciséis diecisiete dieciocho diecinueve veinte veintiuno veintidós veintitrés "
                "veinticuatro veinticinco veintiséis veintisiete veintiocho veintinueve",
                2,
            ),
            "dieciseis": 16,
            "veintidos": 22,
            "veintitres": 23,
            "veintiseis": 26,
            **_numbered("treinta cuarenta cincuenta sesenta setenta ochenta noventa", 30, 10),
            "cien": 100,
            "ciento": 100,
            **_numbered(
                "doscientos trescientos cuatrocientos quinientos seiscientos setecientos "
                "ochocientos novecientos",
                200,
                100,
            ),
            **_numbered(
                "doscientas trescientas cuatrocientas quinientas seiscientas setecientas "
                "ochocientas novecientas",
                200,
                100,
            ),
            "mil": 1000,
            "millón": 10**6,
            "millon": 10**6,
            "millones": 10**6,
        },
        {"y": (30, 90)},
        pronoun_before=r"\b(?:cada|el|la)\s+$",
        pronoun_after=r"^\s+(?:de|del|a|al)\b",
    ),
}
# Words that scale a number written in digits ("2 milioni"), by language; English everywhere.
_SCALES = {
    "en": {"thousand": 1000, "million": 10**6, "billion": 10**9},
    "it": {"mila": 1000, "milione": 10**6, "milioni": 10**6, "miliardo": 10**9, "miliardi": 10**9},
    "es": {"mil millones": 10**9, "mil": 1000, "millón": 10**6, "millon": 10**6, "millones": 10**6},
}

# -- Chinese and Korean ---------------------------------------------------------------------------
_HAN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5}
_HAN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
_HAN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10**4, "亿": 10**8}
_KO_UNITS = {"십": 10, "백": 100, "천": 1000, "만": 10**4, "억": 10**8}
_HAN_RUN = re.compile(f"[{''.join(_HAN_DIGITS)}{''.join(_HAN_UNITS)}]+")
# Words holding a numeral that do not mean a number: masked before numerals are read.
_HAN_WORDS = _split(
    "一共 一起 一些 一下 一定 一样 一般 一直 一边 一点 一致 一旦 一切 一再 一律 一向 一同 "
    "一会 一面 一时 一来 一步 一并 一度 一番 一连 一带 一生 一心 一方面 一半 逐一 统一 唯一 "
    "同一 之一 万一 不一 十分 一一 千万 万万 三角 百分比 百货 百姓 千克 千米 千瓦 千卡 万物 "
    "两边 两者 零下 零钱 零件 零食 零售 零用 星期 礼拜"
)
_HAN_MASK = re.compile(
    "|".join(map(re.escape, _HAN_WORDS))
    + f"|第[{''.join(_HAN_DIGITS)}{''.join(_HAN_UNITS)}]+|周[一二三四五六日]"
)
# A lone 一 or 零 is a number only before a counter (一个, 零元); elsewhere it is a word.
_HAN_COUNTERS = (
    "个只本支张条件位名次天年月周元角分块辆匹头棵朵颗粒杯瓶盒箱包袋套双把台间层页道题岁米斤克人组份"
)
_KO_TENS = {"열": 10, "스물": 20, "스무": 20, "서른": 30, "마흔": 40, "쉰": 50, "예순": 60}
_KO_TENS |= {"일흔": 70, "여든": 80, "아흔": 90}
_KO_ONES = {"하나": 1, "한": 1, "둘": 2, "두": 2, "셋": 3, "세": 3, "석": 3, "넷": 4, "네": 4}
_KO_ONES |= {"넉": 4, "다섯": 5, "여섯": 6, "일곱": 7, "여덟": 8, "아홉": 9}
# Forms used only before a counter word (한 개, 스무 명).
_KO_BEFORE_COUNTER = {"한", "두", "세", "석", "네", "넉", "스무"}
_KO_COUNTERS = _split(
    "개 명 마리 권 자루 장 살 번 대 그루 송이 켤레 벌 잔 병 봉지 상자 통 쪽 시간 달 "
    "사람 가지 조각 줄 채 알 컵 판 곳 군데 팀 묶음 바구니 덩이 다발 배 주 층 칸 바퀴 "
    "문제 접시 봉 박스 팩 캔 롤"
)
_KO_PARTICLE = "이가을를은는도와과의만로으입이예야"
# Phrases with a counting word that are not a count: once more, at once, one way.
_KO_MASK = re.compile(r"다시 한 ?번|한 ?번 더|한 ?번에|한번|한 가지")


def _alternation(words) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_KO_NUMBER = re.compile(
    rf"(?<![\uac00-\ud7af])(?P<tens>{_alternation(_KO_TENS)})?(?P<ones>{_alternation(_KO_ONES)})?"
    rf"(?P<after>\s*(?:{_alternation(_KO_COUNTERS)})(?!째)|(?=[{_KO_PARTICLE}]|[^\uac00-\ud7af]|$))"
)
# Only from the start of a run of digits: tried from inside one too, it backtracks over the rest
# of the run at every digit (a 100,000-digit number took minutes).
_FRACTION = re.compile(
    rf"(?<![0-9{''.join(_HAN_DIGITS)}{''.join(_HAN_UNITS)}])"
    rf"(?P<bottom>[0-9]+|[{''.join(_HAN_DIGITS)}{''.join(_HAN_UNITS)}]+)\s*(?:分之|분의)\s*"
    rf"(?P<top>[0-9]+(?:\.[0-9]+)?|[{''.join(_HAN_DIGITS)}{''.join(_HAN_UNITS)}]+)"
)


def han_value(run: str) -> float | None:
    """The value of a run of Chinese numerals.

    >>> han_value("一百零五"), han_value("十二"), han_value("三千五百"), han_value("一〇八")
    (105, 12, 3500, 108)
    >>> han_value("十二万"), han_value("两")
    (120000, 2)
    """
    if len(run) > 1 and not any(c in _HAN_UNITS for c in run):  # 二〇二三: digit by digit
        written = "".join(str(_HAN_DIGITS[c]) for c in run)
        # Past a float's range (and int()'s 4,300 digits) it cannot be an answer.
        return int(written) if len(written) <= 308 else math.inf
    pieces = [(_HAN_DIGITS[c], None) if c in _HAN_DIGITS else (None, _HAN_UNITS[c]) for c in run]
    return _sections(pieces)


def _sections(pieces: list[tuple[float | None, int | None]]) -> float | None:
    """(number, None) and (None, unit) pieces read as East Asian numbers are: units below 10^4
    multiply the number before them, 万/만 and 亿/억 close a section (3万5千 = 35000)."""
    total = section = 0.0
    current: float | None = None
    for number, unit in pieces:
        if number is not None:
            current = number
        elif unit is not None and unit < 10**4:
            section += (1 if current is None else current) * unit
            current = None
        elif unit is not None:
            section += current or 0
            total += (section or 1) * unit
            section, current = 0.0, None
    value = total + section + (current or 0)
    return int(value) if math.isfinite(value) and value == int(value) else value


def _han(text: str) -> Iterator[tuple[float, int, int]]:
    masked = _HAN_MASK.sub(lambda m: "□" * len(m[0]), text)
    for m in _HAN_RUN.finditer(masked):
        run = m[0]
        after = masked[m.end() : m.end() + 1]
        if run in ("一", "零", "〇") and (not after or after not in _HAN_COUNTERS):
            continue
        if run in ("百", "千", "万", "亿"):  # 几万, 千里: a unit alone is no number
            continue
        value = han_value(run)
        if value is not None:
            yield value, m.start(), m.end()


def _korean(text: str) -> Iterator[tuple[float, int, int]]:
    masked = _KO_MASK.sub(lambda m: "□" * len(m[0]), text)
    for m in _KO_NUMBER.finditer(masked):
        tens, ones = m["tens"], m["ones"]
        if not tens and not ones:
            continue
        counter = bool(m["after"].strip())
        last = ones or tens
        if last in _KO_BEFORE_COUNTER and not counter:
            continue
        value = _KO_TENS.get(tens or "", 0) + _KO_ONES.get(ones or "", 0)
        yield value, m.start(), m.start() + len(tens or "") + len(ones or "")


def _fractions(text: str) -> Iterator[tuple[float, int, int]]:
    for m in _FRACTION.finditer(text):
        bottom, top = (_number(m[k]) for k in ("bottom", "top"))
        if bottom is None or top is None:
            continue
        if m["bottom"] == "百" and "分之" in m[0]:  # 百分之二十: a percentage, read as 20
            yield top, m.start(), m.end()
        elif bottom:
            yield top / bottom, m.start(), m.end()


def _number(text: str) -> float | None:
    if text[0].isdigit():
        return float(text)
    return han_value(text)


# -- spelled-out numbers --------------------------------------------------------------------------
@functools.cache
def _spelled_pattern(lang: str) -> re.Pattern[str]:
    words = WORDS[lang]
    word = _alternation(words.values)
    one = f"(?:{word})+" if words.compound else f"(?:{word})"
    joiner = "".join(rf"(?:{re.escape(j)}\s+)?" for j in words.joiners)
    return re.compile(rf"(?<![\w-]){one}(?:(?:\s+|-){joiner}{one})*(?![\w-])", re.IGNORECASE)


def _spelled(text: str, lang: str) -> Iterator[tuple[float, int, int]]:
    words = WORDS[lang]
    parts = re.compile(_alternation(words.values), re.IGNORECASE)
    for m in _spelled_pattern(lang).finditer(text):
        group: list[tuple[int, int, int]] = []  # (value, start, end) of each word
        joiner = None
        for token in re.finditer(r"[^\s-]+", m[0]):
            lower = token[0].lower()
            start = m.start() + token.start()
            if lower in words.joiners:
                joiner = lower
                continue
            pieces = [p[0].lower() for p in parts.finditer(lower)] if words.compound else [lower]
            if "".join(pieces) != lower or not _whole_word(pieces, words):
                yield from _close(text, group, words)
                group, joiner = [], None
                continue
            for piece in pieces:
                value = words.values[piece]
                if group and not _follows(group[-1][0], value, joiner, words):
                    yield from _close(text, group, words)
                    group = []
                group.append((value, start, start + len(token[0])))
                joiner = None
        yield from _close(text, group, words)


def _whole_word(pieces: list[str], words: Words) -> bool:
    """False for Italian elided tens anywhere but before uno and otto (ventuno, trentotto)."""
    for piece, after in zip(pieces, [*pieces[1:], None], strict=True):
        if piece in words.elided and (after is None or words.values[after] not in (1, 8)):
            return False
    return True


def _follows(before: int, value: int, joiner: str | None, words: Words) -> bool:
    """Whether `value` continues the number whose last word is worth `before`."""
    if joiner is not None:
        low, high = words.joiners[joiner]
        if not low <= before <= high or value >= 10:
            return False
    if value >= 1000:
        return before < value
    if value == 100:
        return before < 10
    if before >= 100:
        return True
    return before >= 20 and before % 10 == 0 and value < 10


def _close(text: str, group: list[tuple[int, int, int]], words: Words) -> Iterator[Span]:
    if not group:
        return
    start, end = group[0][1], group[-1][2]
    values = [v for v, _, _ in group]
    if values == [1] and (
        re.search(words.pronoun_before, text[max(0, start - 12) : start], re.IGNORECASE)
        or re.search(words.pronoun_after, text[end : end + 16], re.IGNORECASE)
    ):
        return
    if values == [100] and re.search(r"\b(?:per|por)\s+$", text[max(0, start - 8) : start]):
        return  # per cento, por ciento: the percent sign in words
    total = current = 0
    for value in values:
        if value == 100:
            current = (current or 1) * 100
        elif value >= 1000:
            total, current = total + (current or 1) * value, 0
        else:
            current += value
    yield total + current, start, end


# -- what the finders share -----------------------------------------------------------------------
def words(text: str, lang: str | None) -> list[Span]:
    """Every number written in words in `text`, as (value, start, end).

    >>> [v for v, *_ in words("She read seven pages, then twenty-five more", "en")]
    [7, 25]
    >>> [v for v, *_ in words("妈妈买了七个橙子，一共吃了两个，还剩一百零五个", "zh")]
    [7, 2, 105]
    >>> [v for v, *_ in words("사과 여덟 개 중 세 개를 먹고 다섯 개가 남았다. 세계", "ko")]
    [8, 3, 5]
    >>> [v for v, *_ in words("ventitré e treinta y dos", "it")], words("cada uno", "es")
    ([23], [])
    """
    found: list[Span] = list(_fractions(text))
    if lang in (None, "zh", "ja"):
        found += _han(text)
    if lang in (None, "ko"):
        found += _korean(text)
    spelled = lang if lang in WORDS else ("en" if lang is None else None)
    if spelled:
        found += _spelled(text, spelled)
    out = []
    for value, start, end in found:
        value, end = scaled(text, end, value, lang)
        out.append((value, start, end))
    return out


@functools.cache
def _scale_pattern(lang: str | None) -> re.Pattern[str]:
    table = {**_SCALES["en"], **_SCALES.get(lang or "en", {})}
    return re.compile(rf"\s+({_alternation(table)})(?![\w])", re.IGNORECASE)


# A big unit may be followed by a number with units of its own (3万5千, 2만 5천).
_CJK_PIECE = re.compile(
    r"\s?(?P<number>[0-9]+(?:\.[0-9]+)?)?(?P<unit>[万亿千百만억천백])(?![米克瓦卡字兆분큼에])"
)


def scaled(text: str, end: int, value: float, lang: str | None) -> tuple[float, int]:
    """A number that ends at `end`, with the magnitude words after it: (value, new end).

    >>> scaled("12万人", 2, 12, "zh"), scaled("2만 5천 원", 1, 2, "ko")
    ((120000, 3), (25000, 5))
    >>> scaled("1,5 millones de", 3, 1.5, "es"), scaled("5千米", 1, 5, "zh")
    ((1500000, 12), (5, 1))
    """
    m = _scale_pattern(lang).match(text, end)
    if m:
        factor = {**_SCALES["en"], **_SCALES.get(lang or "en", {})}[m[1].lower()]
        return _whole(value * factor), m.end()
    pieces: list[tuple[float | None, int | None]] = [(value, None)]
    pos = end
    first = True
    while True:
        m = _CJK_PIECE.match(text, pos)
        big = m is not None and m["unit"] in "万亿만억"
        # The unit glued to the number comes first; after it, a number with its unit (5千), or
        # a big unit alone (五百万, 2백만).
        if not m or (first and m["number"]) or (not first and not m["number"] and not big):
            break
        if m["number"]:
            pieces.append((float(m["number"]), None))
        unit = m["unit"]
        pieces.append((None, _HAN_UNITS.get(unit) or _KO_UNITS[unit]))
        pos, first = m.end(), False
    if len(pieces) == 1:
        return value, end
    return _whole(_sections(pieces)), pos


def _whole(value: float) -> float:
    return int(value) if float(value).is_integer() else value
