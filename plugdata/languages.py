"""The language table: the single source of truth for names, PLUG markers and system prompts.

Rendering training rows (`formats`) and extracting answers from generations (`extract`) both
read the markers from here, so the two can never drift apart. Response headers for en/zh/ko/it/es
are the ones used by the PLUG paper's code; the pivot-instruction headers and every other entry
are plugdata's own choice. To add a language, add one `Language(...)` to `_TABLE` (or declare it
in a recipe's `languages:` section).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from plugdata.errors import UnknownLanguageError

LATIN = r"[A-Za-z\u00c0-\u024f]"
CYRILLIC = r"[\u0400-\u04ff]"

# System prompts are templates over language names so that any pivot/target pair works.
PLUG_SYSTEM_PROMPT = (
    "You are a helpful assistant. First restate the user's instruction in {pivot}, then answer "
    "it in {pivot}, and finally give the answer in {target}."
)
PLUG_PRO_SYSTEM_PROMPT = (
    "You are a helpful assistant. First answer the user's instruction in {pivot}, "
    "then give the answer in {target}."
)
MONO_SYSTEM_PROMPT = "You are a helpful assistant. Always respond in {target}."


@dataclass(frozen=True)
class Language:
    """One row of the table."""

    code: str  # ISO 639-1
    name: str  # English name, used in system prompts and docs
    response_header: str  # starts the response block in this language
    instruction_header: str  # starts the restated instruction block in this language
    script: str | None = None  # regex character class of the letters this language is written in
    # True when the script alone identifies the language (Hangul, Han without kana, kana), so a
    # detector unsure about a short or code-heavy text can be overruled by it.
    script_decides: bool = False
    # Typical characters per English character of the same content; lets the length-ratio
    # check compare, say, Chinese with English fairly.
    length_factor: float = 1.0
    detector_aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def markers(self) -> tuple[str, str]:
        return (self.response_header, self.instruction_header)


_TABLE: dict[str, Language] = {
    lang.code: lang
    for lang in [
        Language("en", "English", "English response:", "English instruction:", LATIN),
        Language(
            "zh",
            "Chinese",
            "中文回复：",
            "中文指令：",
            r"[\u4e00-\u9fff]",
            True,
            length_factor=0.32,
            detector_aliases=("zh-cn", "zh-tw", "wuu", "yue"),
        ),
        Language(
            "ko",
            "Korean",
            "한국어 응답:",
            "한국어 지시:",
            r"[\uac00-\ud7af]",
            True,
            length_factor=0.45,
        ),
        Language(
            "it",
            "Italian",
            "Risposta in italiano:",
            "Istruzione in italiano:",
            LATIN,
            length_factor=1.12,
        ),
        Language(
            "es",
            "Spanish",
            "Respuesta en español:",
            "Instrucción en español:",
            LATIN,
            length_factor=1.12,
        ),
        Language(
            "fr",
            "French",
            "Réponse en français :",
            "Instruction en français :",
            LATIN,
            length_factor=1.15,
        ),
        Language(
            "de",
            "German",
            "Antwort auf Deutsch:",
            "Anweisung auf Deutsch:",
            LATIN,
            length_factor=1.15,
        ),
        Language(
            "pt",
            "Portuguese",
            "Resposta em português:",
            "Instrução em português:",
            LATIN,
            length_factor=1.1,
        ),
        Language(
            "ja",
            "Japanese",
            "日本語の回答：",
            "日本語の指示：",
            r"[\u3040-\u30ff\u4e00-\u9fff]",
            True,
            length_factor=0.45,
        ),
        Language(
            "ru",
            "Russian",
            "Ответ на русском языке:",
            "Инструкция на русском языке:",
            CYRILLIC,
            length_factor=1.05,
        ),
    ]
}


def register_language(lang: Language) -> None:
    """Add (or replace) a table entry, e.g. from a recipe's `languages:` section."""
    _TABLE[lang.code] = lang
    _derived.cache_clear()


def known_codes() -> list[str]:
    return sorted(_TABLE)


def get_language(code: str) -> Language:
    """Look up a language; the error lists every code the table knows.

    >>> get_language("zh").response_header
    '中文回复：'
    """
    try:
        return _TABLE[code]
    except KeyError:
        raise UnknownLanguageError(
            f"unknown language code {code!r}; known: {', '.join(known_codes())} "
            "(add one in plugdata/languages.py or a recipe's `languages:` section)"
        ) from None


def all_markers() -> list[str]:
    """Every header of every language: none may appear inside a triple's content."""
    return [m for lang in _TABLE.values() for m in lang.markers]


def find_marker(text: str) -> str | None:
    """The first header (in the extractor's tolerant form) found in a text, if any.

    >>> find_marker("see the 中文回复: part"), find_marker("plain text")
    ('中文回复:', None)
    """
    found = _derived()[0].search(text)
    return found.group(0) if found else None


def normalize_detector_label(label: str) -> str:
    """Map a detector's label (e.g. langdetect's `zh-cn`) onto a table code."""
    label = label.lower()
    return _derived()[1].get(label, label)


@lru_cache(maxsize=1)
def _derived() -> tuple[re.Pattern[str], dict[str, str]]:
    """Lookups computed from the table once (and again after `register_language`)."""
    markers = re.compile("|".join(header_pattern(m).pattern for m in all_markers()))
    aliases = {alias: lang.code for lang in _TABLE.values() for alias in lang.detector_aliases}
    return markers, aliases


def header_pattern(header: str) -> re.Pattern[str]:
    """A tolerant pattern for a header: either colon style, any spacing before it."""
    base = header.rstrip(" :：")
    return re.compile(re.escape(base) + r"\s*[:：]")


def system_prompt(template: str, pivot: str, target: str) -> str:
    return template.format(pivot=get_language(pivot).name, target=get_language(target).name)
