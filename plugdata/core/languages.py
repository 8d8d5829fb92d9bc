"""The language table: every fact plugdata knows about a language, in one place.

Rendering training rows (`formats`) and extracting answers from generations (`extract`) read the
markers from here, so the two can never drift apart; validation reads scripts and length factors,
translators read names and provider codes, detectors' labels are mapped onto codes here. Response
headers for en/zh/ko/it/es are the ones used by the PLUG paper's code; the pivot-instruction
headers and every other entry are plugdata's own choice.

`LANGUAGES` is the built-in table. A recipe's `languages:` section makes a table of its own
(`LANGUAGES.extended(...)`, see `Recipe.language_table`); nothing here is ever changed in place,
so one recipe's languages never leak into another build. To add a language for everyone, add one
`Language(...)` to `LANGUAGES`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from plugdata.errors import UnknownLanguageError

LATIN = r"[A-Za-z\u00c0-\u024f]"
CYRILLIC = r"[\u0400-\u04ff]"
KANA = r"\u3040-\u30ff"
HAN = r"\u4e00-\u9fff"
HANGUL = r"\uac00-\ud7af"


@dataclass(frozen=True)
class Language:
    """One row of the table."""

    code: str  # ISO 639 code; names configs and folders
    name: str  # English name, used in system prompts, translation prompts and docs
    response_header: str  # starts the response block in this language
    instruction_header: str  # starts the restated instruction block in this language
    script: str | None = None  # regex character class of the letters this language is written in
    # True when the script alone identifies the language (Hangul, Han without kana, kana), so a
    # detector unsure about a short or code-heavy text can be overruled by it.
    script_decides: bool = False
    # Typical characters per English character of the same content; lets the length-ratio
    # check compare, say, Chinese with English fairly.
    length_factor: float = 1.0
    # Detector labels that mean this language (langdetect says `zh-cn` for Chinese).
    detector_aliases: tuple[str, ...] = ()
    # Regex character class of letters that show a text is NOT in this language although its
    # script matches: Han text holding kana is Japanese, not Chinese.
    script_excludes: str | None = None
    # False for languages written without spaces between sentences (Chinese, Japanese): the
    # translation engine then joins translated sentences without one.
    spaces_between_sentences: bool = True
    # How translation services spell this language where it is not `code`: keys are a
    # deep-translator provider (google, mymemory, microsoft) or `nllb` (FLORES-200 codes).
    codes: dict[str, str] = field(default_factory=dict, hash=False)
    # Words that introduce a final answer ("the answer is"), any case; a `:` in one matches
    # either colon style. Scoring prefers the number after such words (`trainer.score.numbers`).
    answer_markers: tuple[str, ...] = ()
    # True where a comma marks decimals (3,5) and a dot groups thousands (1.234).
    decimal_comma: bool = False
    # What a translator (an LLM most of all) writes around a translation in this language,
    # as regular expressions matched, any case, at the start of a text's first paragraph
    # ("Here is the translation:") and of its last one ("Note: ..."). `checks.commentary`.
    preambles: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def markers(self) -> tuple[str, str]:
        return (self.response_header, self.instruction_header)

    # Compiled once per language (the table lives as long as the build), not once per row.
    @cached_property
    def script_pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.script) if self.script is not None else None

    @cached_property
    def script_excludes_pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.script_excludes) if self.script_excludes is not None else None

    @cached_property
    def preamble_pattern(self) -> re.Pattern[str] | None:
        return _any_of(self.preambles)

    @cached_property
    def note_pattern(self) -> re.Pattern[str] | None:
        return _any_of(self.notes)


def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern matching any of `patterns` at the start of a text, any case."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


class LanguageTable:
    """Languages by code, with the lookups derived from them (every marker as one pattern,
    detector aliases) computed once. Immutable: `extended` returns a new table."""

    def __init__(self, languages: Iterable[Language]) -> None:
        self._by_code = {lang.code: lang for lang in languages}
        self._markers = re.compile("|".join(header_pattern(m).pattern for m in self.markers()))
        self._aliases = {
            alias.lower(): lang.code
            for lang in self._by_code.values()
            for alias in lang.detector_aliases
        }

    def extended(self, languages: Iterable[Language]) -> LanguageTable:
        """A new table with `languages` added (or replacing an entry with the same code).

        >>> sw = Language("sw", "Swahili", "Jibu kwa Kiswahili:", "Maagizo kwa Kiswahili:")
        >>> "sw" in LANGUAGES.extended([sw]), "sw" in LANGUAGES
        (True, False)
        """
        return LanguageTable([*self._by_code.values(), *languages])

    def get(self, code: str) -> Language:
        """Look up a language; the error lists every code the table knows.

        >>> LANGUAGES.get("zh").response_header
        '中文回复：'
        """
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownLanguageError(
                f"unknown language code {code!r}; known: {', '.join(self.codes())} "
                "(add one in plugdata/core/languages.py or a recipe's `languages:` section)"
            ) from None

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Language]:
        """The languages in code order."""
        return iter(sorted(self._by_code.values(), key=lambda lang: lang.code))

    def codes(self) -> list[str]:
        return sorted(self._by_code)

    def markers(self) -> list[str]:
        """Every header of every language: none may appear inside a triple's content."""
        return [m for lang in self._by_code.values() for m in lang.markers]

    def find_marker(self, text: str) -> str | None:
        """The first header (in the extractor's tolerant form) found in a text, if any.

        >>> LANGUAGES.find_marker("see the 中文回复: part"), LANGUAGES.find_marker("plain text")
        ('中文回复:', None)
        """
        found = self._markers.search(text)
        return found.group(0) if found else None

    def normalize_detector_label(self, label: str) -> str:
        """Map a detector's label (e.g. langdetect's `zh-cn`) onto a table code."""
        label = label.lower()
        return self._aliases.get(label, label)

    def listing(self) -> list[str]:
        """The table as `plugdata languages` prints it: code, name and markers in columns that
        line up on a terminal, where a CJK character takes two cells."""
        rows = [("code", "name", "response header", "instruction header")]
        rows += [(x.code, x.name, x.response_header, x.instruction_header) for x in self]
        widths = [max(display_width(row[i]) for row in rows) + 2 for i in range(3)]
        return [
            "".join(pad(cell, width) for cell, width in zip(row, widths, strict=False)) + row[3]
            for row in rows
        ]


def display_width(text: str) -> int:
    """Terminal cells `text` takes: two for a wide or full-width character (CJK), none for a
    combining mark.

    >>> display_width("中文回复："), display_width("English response:")
    (10, 17)
    """
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def pad(text: str, width: int) -> str:
    """`text` followed by the spaces that make it `width` cells wide."""
    return text + " " * max(0, width - display_width(text))


# Either colon style, any spacing before it: how a header ends wherever one is matched.
HEADER_COLON = r"\s*[:：]"


def header_text(header: str) -> str:
    """A header's words as a regular expression, without its colon (see `HEADER_COLON`)."""
    return re.escape(header.rstrip(" :："))


def header_pattern(header: str) -> re.Pattern[str]:
    """A tolerant pattern for a header: either colon style, any spacing before it."""
    return re.compile(header_text(header) + HEADER_COLON)


LANGUAGES = LanguageTable(
    [
        Language(
            "en",
            "English",
            "English response:",
            "English instruction:",
            LATIN,
            codes={"mymemory": "en-GB", "nllb": "eng_Latn"},
            answer_markers=("answer is", "answer:", "answer would be", "answer ="),
            preambles=(
                r"(?:sure|certainly|of course|okay|ok)\b.{0,40}\btranslat",
                r"here(?:'s| is| are)\b.{0,40}\btranslat",
                r"(?:the |my )?(?:\w+ )?translation(?: \w+){0,3}\s*:",
                r"translated(?: text| version)?\s*:",
                r"i (?:have )?translated\b",
            ),
            notes=(
                r"\(?(?:note|translator'?s? note|n\.\s?b\.)\s*:",
                r"\(?(?:this|the) translation\b",
            ),
        ),
        Language(
            "zh",
            "Chinese",
            "中文回复：",
            "中文指令：",
            f"[{HAN}]",
            True,
            length_factor=0.32,
            detector_aliases=("zh-cn", "zh-tw", "wuu", "yue"),
            script_excludes=f"[{KANA}{HANGUL}]",
            spaces_between_sentences=False,
            codes={
                "google": "zh-CN",
                "mymemory": "zh-CN",
                "microsoft": "zh-Hans",
                "nllb": "zho_Hans",
            },
            answer_markers=("答案是", "答案为", "答案:", "答:"),
            preambles=(
                r"(?:以下是|下面是|这是|如下是|好的).{0,12}(?:翻译|译文)",
                r"(?:中文)?(?:翻译|译文)(?:如下)?\s*[:：]",
            ),
            notes=(r"[（(]?(?:注|注意|说明|译注|译者注|备注)\s*[:：]",),
        ),
        Language(
            "ko",
            "Korean",
            "한국어 응답:",
            "한국어 지시:",
            f"[{HANGUL}]",
            True,
            length_factor=0.45,
            codes={"mymemory": "ko-KR", "nllb": "kor_Hang"},
            answer_markers=("정답은", "답은", "정답:", "답:"),
            preambles=(r"(?:다음은|여기|아래는|네).{0,20}번역", r"번역(?:문|본)?\s*[:：]"),
            notes=(r"\(?(?:참고|주의|역자 주|역주|번역 참고|참고 사항)\s*[:：]",),
        ),
        Language(
            "it",
            "Italian",
            "Risposta in italiano:",
            "Istruzione in italiano:",
            LATIN,
            length_factor=1.12,
            codes={"mymemory": "it-IT", "nllb": "ita_Latn"},
            answer_markers=("risposta è", "risposta finale è", "risposta:", "risposta finale:"),
            decimal_comma=True,
            preambles=(
                r"(?:ecco|di seguito|certo)\b.{0,30}\btraduzion",
                r"(?:la )?traduzione(?: \w+){0,3}\s*:",
            ),
            notes=(r"\(?(?:nota(?: del traduttore)?|n\.\s?d\.\s?t\.)\s*:",),
        ),
        Language(
            "es",
            "Spanish",
            "Respuesta en español:",
            "Instrucción en español:",
            LATIN,
            length_factor=1.12,
            codes={"mymemory": "es-ES", "nllb": "spa_Latn"},
            answer_markers=("respuesta es", "respuesta final es", "respuesta:", "respuesta final:"),
            decimal_comma=True,
            preambles=(
                r"(?:aquí (?:está|tienes|va)|a continuación|claro|por supuesto)\b.{0,30}\btraducci",
                r"(?:la )?traducción(?: \w+){0,3}\s*:",
            ),
            notes=(r"\(?(?:nota(?: del traductor)?|n\. del t\.)\s*:",),
        ),
        Language(
            "fr",
            "French",
            "Réponse en français :",
            "Instruction en français :",
            LATIN,
            length_factor=1.15,
            codes={"nllb": "fra_Latn"},
            answer_markers=("réponse est", "réponse finale est", "réponse :", "réponse finale :"),
            decimal_comma=True,
            preambles=(
                r"(?:voici|ci-dessous|bien sûr)\b.{0,30}\btraduction",
                r"(?:la )?traduction(?: \w+){0,3}\s*:",
            ),
            notes=(r"\(?(?:note(?: du traducteur)?|n\.\s?d\.\s?t\.)\s*:",),
        ),
        Language(
            "de",
            "German",
            "Antwort auf Deutsch:",
            "Anweisung auf Deutsch:",
            LATIN,
            length_factor=1.15,
            codes={"nllb": "deu_Latn"},
            answer_markers=("antwort ist", "antwort lautet", "antwort:"),
            decimal_comma=True,
            preambles=(
                r"(?:hier ist|im folgenden|gerne|natürlich)\b.{0,30}\bübersetzung",
                r"(?:die )?übersetzung(?: \w+){0,3}\s*:",
            ),
            notes=(r"\(?(?:hinweis|anmerkung(?: des übersetzers)?)\s*:",),
        ),
        Language(
            "pt",
            "Portuguese",
            "Resposta em português:",
            "Instrução em português:",
            LATIN,
            length_factor=1.1,
            codes={"nllb": "por_Latn"},
            answer_markers=("resposta é", "resposta final é", "resposta:"),
            decimal_comma=True,
            preambles=(
                r"(?:aqui está|segue|claro)\b.{0,30}\btradução",
                r"(?:a )?tradução(?: \w+){0,3}\s*:",
            ),
            notes=(r"\(?(?:nota(?: do tradutor)?)\s*:",),
        ),
        Language(
            "ja",
            "Japanese",
            "日本語の回答：",
            "日本語の指示：",
            f"[{KANA}{HAN}]",
            True,
            length_factor=0.45,
            spaces_between_sentences=False,
            codes={"nllb": "jpn_Jpan"},
            answer_markers=("答えは", "答え:", "解答:"),
            preambles=(r"(?:以下は|こちらは|はい).{0,15}(?:翻訳|訳)", r"(?:翻訳|訳文)\s*[:：]"),
            notes=(r"[（(]?(?:注|注意|備考|訳注)\s*[:：]",),
        ),
        Language(
            "ru",
            "Russian",
            "Ответ на русском языке:",
            "Инструкция на русском языке:",
            CYRILLIC,
            length_factor=1.05,
            codes={"nllb": "rus_Cyrl"},
            answer_markers=("ответ:", "ответ равен", "ответ —"),
            decimal_comma=True,
            preambles=(r"(?:вот|ниже|конечно)\b.{0,30}\bперевод", r"перевод(?: \w+){0,3}\s*:"),
            notes=(r"\(?(?:примечание(?: переводчика)?|прим\. пер\.)\s*:",),
        ),
    ]
)
