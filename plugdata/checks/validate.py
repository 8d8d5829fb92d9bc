"""Row checks for triples: structure, leaked markers, copies, length ratios, loops, language.

Each check returns None (keep) or a reason code such as `wrong-language:target_response`.
`Validator.check` runs them all on one triple and returns every reason plus the language-ID
verdict per field (stored in the triple's `meta`). Routing rows to kept or quarantine and
counting happen once, in the pipeline's chunk stage (`pipeline.stages`). Every fact about a
language (script, length factor, markers) comes from the `LanguageTable` the validator is
given: the recipe's own, or the built-in one.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from plugdata.checks.agreement import AlignmentCheck
from plugdata.checks.alignment import AlignmentCache, AlignmentSettings
from plugdata.checks.characters import stray_character
from plugdata.checks.commentary import commentary
from plugdata.checks.detect import DEFAULT_DETECTOR, DETECTORS, Detector, get_detector
from plugdata.checks.scorers import scorer_options
from plugdata.core.digests import digest_bytes
from plugdata.core.languages import HAN, KANA, LANGUAGES, Language, LanguageTable
from plugdata.core.schema import AlignmentResult, LidResult
from plugdata.core.textproc import (
    has_letters,
    normalize_for_compare,
    prose_lines,
    strip_code_and_urls,
)
from plugdata.errors import PlugdataError

PIVOT_FIELDS = ("pivot_instruction", "pivot_response")
TARGET_FIELDS = ("target_instruction", "target_response")
TEXT_FIELDS = PIVOT_FIELDS + TARGET_FIELDS
INSTRUCTION_FIELDS = ("pivot_instruction", "target_instruction")


def checked_fields(responses: bool) -> tuple[str, ...]:
    """The text fields `Validator.check` reads: eval triples have instructions only."""
    return TEXT_FIELDS if responses else INSTRUCTION_FIELDS


class ValidationSettings(BaseModel):
    """How strict the validator is. Every number here is recorded in the manifest and card."""

    model_config = ConfigDict(extra="forbid")

    detector: Literal[tuple(DETECTORS)] = Field(
        DEFAULT_DETECTOR, description=f"language identifier: one of {', '.join(DETECTORS)}"
    )
    thresholds: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: {"default": 0.3},
        description="minimum detector probability of the expected language, per code or `default`",
    )
    min_letters: int = Field(
        8, ge=0, description="prose with fewer letters than this is too short to judge by detector"
    )
    min_words: int = Field(
        3, ge=0, description="prose with fewer words (Han/kana: characters) is too short to judge"
    )
    short_text: Literal["accept", "script", "reject"] = Field(
        "script",
        description="too-short fields: accept, require the language's script when it has one, "
        "or reject",
    )
    script_share: float = Field(
        0.3, ge=0, le=1, description="share of words in the expected script that settles zh/ko/ja"
    )
    short_prose: int = Field(
        60,
        ge=0,
        description="prose of up to this many characters is short for the detector: the expected "
        "language passes as its top label at any score, or as the runner-up at `runner_up` or more",
    )
    runner_up: float = Field(
        0.2, ge=0, le=1, description="least runner-up score that passes short prose (`short_prose`)"
    )
    max_chars: int = Field(100_000, gt=0, description="longest field accepted, in characters")
    length_ratio: tuple[float, float] = Field(
        (0.2, 5.0),
        description="allowed target/pivot length ratio after per-language scaling, (min, max); "
        "a min of 0 sets no lower bound",
    )
    length_ratio_min_chars: int = Field(
        40, ge=0, description="skip the ratio check when the pivot field is shorter than this"
    )
    max_compression: float = Field(
        0.2,
        gt=0,
        le=1,
        description="zlib ratio below which a long field counts as a repetition loop",
    )
    check_lid: bool = Field(True, description="run language identification at all")
    # None: off (a recipe writes `off`; an optional field rather than a union keeps its errors
    # at their own keys, `validation.alignment.min_score.it`).
    alignment: AlignmentSettings | None = Field(
        default_factory=AlignmentSettings,
        description="how each target field is scored against its pivot field "
        "(`{scorer, min_score, options}`), or `off`",
    )
    commentary: bool = Field(
        True,
        description="refuse a target field that opens with a translator's preamble, ends with "
        "a note its pivot field lacks, or quotes its pivot field before the translation",
    )

    @field_validator("alignment", mode="before")
    @classmethod
    def _off(cls, v: object) -> object:
        # YAML reads a bare `off` as false.
        if v is False or v == "off":
            return None
        if v is None or isinstance(v, dict | AlignmentSettings):
            return v
        raise ValueError("a mapping {scorer, min_score, options}, or off")

    @field_validator("alignment")
    @classmethod
    def _scorer_known(cls, v: AlignmentSettings | None) -> AlignmentSettings | None:
        # Checked when the settings are read, so that a typo stops a dry run too.
        if v is not None:
            try:
                scorer_options(v.scorer, v.options, "alignment")
            except PlugdataError as exc:
                message = str(exc).removeprefix("alignment.")
                raise ValueError(message.removeprefix("scorer: ")) from None
        return v

    @field_serializer("alignment")
    def _show_off(self, v: AlignmentSettings | None) -> AlignmentSettings | str:
        return "off" if v is None else v

    @field_validator("length_ratio")
    @classmethod
    def _ratio_ok(cls, v: tuple[float, float]) -> tuple[float, float]:
        low, high = v
        if not 0 <= low <= high or high <= 0:
            raise ValueError("give [min, max] with 0 <= min <= max and max > 0")
        return v

    def threshold(self, lang: str) -> float:
        return self.thresholds.get(lang, self.thresholds.get("default", 0.3))


@dataclass
class Verdict:
    reasons: list[str] = field(default_factory=list)
    lid: list[LidResult] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    alignment: list[AlignmentResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons

    def lid_rows(self) -> list[dict[str, object]]:
        """The results as rows of a triple's `meta.lid`. The rows are the results' own dicts
        (memoised results are shared between triples): `asdict` would copy them, at a cost the
        build feels at 50K rows, and nothing writes to them."""
        return [vars(result) for result in self.lid]

    def alignment_rows(self) -> list[dict[str, object]]:
        return [vars(result) for result in self.alignment]


# Han and kana characters are words of their own; other letters group into words. Counting
# words rather than letters keeps "TypeScript" from outweighing the Chinese sentence around it.
_WORD = re.compile(rf"[{KANA}{HAN}]|[^\W\d_{KANA}{HAN}]+")


def has_words(text: str, n: int) -> bool:
    """Whether a text holds at least `n` words (each Han or kana character counts as one)."""
    for count, _ in enumerate(_WORD.finditer(text), 1):
        if count >= n:
            return True
    return n <= 0


def script_share(text: str, language: Language) -> float | None:
    """Share of words written in the language's own script; None when it has none. A text
    holding letters the language excludes (kana in "Chinese") has a share of 0.

    >>> script_share("介绍说明TypeScript和Duck Typing", LANGUAGES.get("zh"))
    0.625
    """
    pattern = language.script_pattern
    if pattern is None:
        return None
    # Excluded letters and no words at all both give 0: the cheaper test first.
    excluded = language.script_excludes_pattern
    if excluded is not None and excluded.search(text):
        return 0.0
    counter = _script_words(language.script)
    if counter is not None:
        # Each word, with itself again where it starts with a letter of the script: no
        # Python-level call per word.
        words = counter.findall(text)
        if not words:
            return 0.0
        return (len(words) - words.count("")) / len(words)
    words = _WORD.findall(text)
    if not words:
        return 0.0
    return len(list(filter(pattern.match, words))) / len(words)


# One character class ("[\uac00-\ud7af]", "[^\W\d]"): it matches a word when it matches the
# word's first character, which a lookahead where the word starts sees as well.
_ONE_CLASS = re.compile(r"\[\^?\]?(?:\\.|[^\\\]\[])*\]")


@lru_cache(maxsize=32)
def _script_words(script: str) -> re.Pattern[str] | None:
    """For a script that is one character class: a pattern finding the same words as `_WORD`,
    whose group holds the word when the script matches it and "" when not; else None."""
    if not _ONE_CLASS.fullmatch(script):
        return None
    return re.compile(f"((?={script})(?:{_WORD.pattern}))|(?:{_WORD.pattern})")


# -- single-field checks: each returns None (keep) or a reason code ------------------------------
def _structure_reason(value: object, settings: ValidationSettings) -> str | None:
    if not isinstance(value, str):
        return "not-a-string"
    if not value.strip():
        return "empty"
    if len(value) > settings.max_chars:
        return "too-long"
    return None


def _marker_reason(text: str, languages: LanguageTable) -> str | None:
    """A PLUG header (of any language of the table) inside content would end the extracted
    answer early."""
    return "marker-leak" if languages.find_marker(text) else None


def _repetition_reason(text: str, raw: bytes, settings: ValidationSettings) -> str | None:
    """Degenerate loops: long text (`raw`: its UTF-8 bytes) that compresses absurdly well, or
    lines said over and over (see `line_loop`)."""
    if len(raw) >= 300 and len(zlib.compress(raw, 1)) / len(raw) < settings.max_compression:
        return "repetition"
    return "repetition" if line_loop(prose_lines(text)) else None


LOOP_COPIES = 5  # a block said this many times in a row is a loop
LOOP_BLOCK_LINES = 20  # the longest block (in non-blank lines) looked for


def line_loop(lines: list[str]) -> bool:
    """Whether lines hold a generation loop: a block of up to `LOOP_BLOCK_LINES` lines said
    `LOOP_COPIES` times back to back, or one line that is half of all lines (said 5+ times).

    A song's chorus comes back between verses, so its lines repeat, but not back to back and not
    as most of the text.

    >>> chorus = ["Round and round the garden goes", "Round and round the garden goes", "la"]
    >>> verse = ["The morning sun is on the wall", "A second verse with other words"]
    >>> line_loop((chorus + verse) * 3)
    False
    >>> line_loop(verse + ["I will stop now.", "And start again."] * 5)
    True
    """
    if len(lines) < LOOP_COPIES:
        return False  # too few lines for any line to come back often enough
    lines = list(filter(None, map(str.strip, lines)))
    counts = Counter(lines)
    # With a line said LOOP_COPIES times there are at most len - LOOP_COPIES + 1 distinct ones.
    if len(counts) > len(lines) - LOOP_COPIES + 1 or max(counts.values()) < LOOP_COPIES:
        return False  # the common case, decided without looking for blocks
    if any(n * 2 >= len(lines) and has_letters(line, 10) for line, n in counts.items()):
        return True
    for period in range(1, min(LOOP_BLOCK_LINES, len(lines) // LOOP_COPIES) + 1):
        run = 0  # how many lines in a row equal the line one period before them
        for j in range(period, len(lines)):
            run = run + 1 if lines[j] == lines[j - period] else 0
            if run >= (LOOP_COPIES - 1) * period and has_letters(
                "".join(lines[j - period + 1 : j + 1]), 10
            ):
                return True
    return False


def _similar_length(a: str, b: str) -> bool:
    """Cheap pre-check before normalising: texts equal up to whitespace have similar lengths."""
    return abs(len(a) - len(b)) <= 0.2 * max(len(a), len(b)) + 8


MEMO_LIMIT = 100_000  # remembered language-ID verdicts; forgotten all at once past this


class Validator:
    """Checks triples; holds the loaded detector, the settings and the language table. Many
    triples are checked in parallel by the pipeline's executor, each worker with its own
    validator."""

    def __init__(
        self,
        settings: ValidationSettings | None = None,
        detector: Detector | None = None,
        *,
        languages: LanguageTable = LANGUAGES,
        alignment_cache: Path | None = None,
    ):
        self.settings = settings or ValidationSettings()
        self.languages = languages
        self.detector = detector or (
            get_detector(self.settings.detector) if self.settings.check_lid else None
        )
        self._lid_memo: dict[tuple[bytes, str, str], LidResult] = {}
        # A field's own reasons (markers, loops, stray characters) by its text's digest: a
        # pivot field comes back once per target language, a repeated response once per row.
        self._field_memo: dict[bytes, tuple[str, ...]] = {}
        alignment = self.settings.alignment
        self.alignment = (
            None
            if alignment is None
            else AlignmentCheck(alignment, self.judgeable, AlignmentCache(alignment_cache))
        )

    def spec(self) -> tuple[ValidationSettings, LanguageTable, Path | None]:
        """What makes an equal validator in another process (a Ray actor, whose environment
        may name another cache folder): `Validator(*spec[:2], alignment_cache=spec[2])`."""
        cache = self.alignment.cache.path if self.alignment is not None else None
        return self.settings, self.languages, cache

    @property
    def parallel(self) -> bool:
        """Whether the executor's workers may share the checks: not when a remote service
        scores alignment (one process, one budget)."""
        return self.alignment is None or self.alignment.parallel

    def check_batch(self, triples: list[dict], *, responses: bool = True) -> list[Verdict]:
        """Every check on each triple, then the alignment of the pairs that passed them, as
        one batch for the scorer."""
        verdicts = [self.check(t, responses=responses) for t in triples]
        if self.alignment is not None:
            self.alignment.apply(triples, verdicts, responses)
        return verdicts

    def close(self) -> None:
        if self.alignment is not None:
            self.alignment.close()

    def describe(self) -> str:
        return self.detector.describe() if self.detector else "none (check_lid: false)"

    # -- single-field language check, also used by `plugdata detect` -------------------------
    def check_language(self, text: str, expected: str, field_name: str = "text") -> LidResult:
        s = self.settings
        prose = strip_code_and_urls(text)
        language = self.languages.get(expected)
        if not self.judgeable(prose):
            share = script_share(prose, language)
            if s.short_text == "accept" or (s.short_text == "script" and share is None):
                return LidResult(field_name, expected, "", 0.0, True, "short")
            if s.short_text == "reject":
                return LidResult(field_name, expected, "", 0.0, False, "short")
            ok = not has_letters(prose, 1) or share >= s.script_share
            return LidResult(field_name, expected, "", round(share or 0.0, 4), ok, "short-script")
        if language.script_decides:
            # Hangul, or Han without kana, settles zh/ko/ja on its own (and more reliably than
            # the detector on short or mixed text); the detector only names what failed.
            share = script_share(prose, language)
            if share is not None and share >= s.script_share:
                return LidResult(field_name, expected, expected, round(share, 4), True, "script")
        dist = self.detector.detect(prose, self.languages) if self.detector else {}
        ranked = sorted(dist.items(), key=lambda kv: kv[1], reverse=True)
        label, score = ranked[0] if ranked else ("", 0.0)
        ok = label == expected and score >= s.threshold(expected)
        if not ok and len(prose) <= s.short_prose:
            # A short sentence spreads fastText's probability over its neighbours ("Create an
            # AI chatbot": en 0.12; "Is a thumb war violent?": de, then en): the expected
            # language as the top guess, or a clear runner-up, is the best evidence there is.
            ok = label == expected or any(
                code == expected and p >= s.runner_up for code, p in ranked[1:2]
            )
        return LidResult(field_name, expected, label, round(score, 4), ok, "detector")

    # -- whole triple ---------------------------------------------------------------------------
    def check(self, triple: dict, *, responses: bool = True) -> Verdict:
        """Every check on one triple but alignment (which scores pairs in batches: see
        `check_batch`); eval triples (responses=False) have instructions only."""
        verdict = Verdict()
        fields = checked_fields(responses)
        sound = []
        for name in fields:
            reason = _structure_reason(triple.get(name), self.settings)
            if reason:
                verdict.reasons.append(f"{reason}:{name}")
            else:
                sound.append(name)
        keys = {}  # each field's digest: its text's verdicts are remembered under it
        for name in sound:
            text = triple[name]
            raw = text.encode("utf-8")  # once, for the loop check and the digest
            key = keys[name] = digest_bytes(raw)
            found = self._field_memo.get(key)
            if found is None:
                if len(self._field_memo) >= MEMO_LIMIT:
                    self._field_memo.clear()
                found = self._field_memo[key] = self._field_reasons(text, raw)
            for reason in found:
                verdict.reasons.append(f"{reason}:{name}")
        for pivot_name, target_name in zip(PIVOT_FIELDS, TARGET_FIELDS, strict=True):
            if pivot_name in sound and target_name in sound:
                for reason in self._pair_reasons(triple, pivot_name, target_name):
                    verdict.reasons.append(f"{reason}:{target_name}")
        if self.settings.check_lid:
            for name in sound:
                lang = triple["pivot_lang"] if name in PIVOT_FIELDS else triple["target_lang"]
                result = self._memo_language(triple[name], keys[name], lang, name)
                verdict.lid.append(result)
                if result.basis.startswith("short"):
                    verdict.flags.append(f"lid-short:{name}")
                if not result.passed:
                    rejected = result.basis == "short"  # short_text: reject
                    verdict.reasons.append(
                        f"{'too-short' if rejected else 'wrong-language'}:{name}"
                    )
        return verdict

    def judgeable(self, prose: str) -> bool:
        """Enough prose for a detector: one word ("Canberra", "Mammifero") reads the same in
        many languages, so neither language-ID nor the copy check can judge it."""
        s = self.settings
        return has_letters(prose, s.min_letters) and has_words(prose, s.min_words)

    def _field_reasons(self, text: str, raw: bytes) -> tuple[str, ...]:
        """The reasons one field's text gives on its own (`raw`: its UTF-8 bytes)."""
        found = (
            _marker_reason(text, self.languages),
            _repetition_reason(text, raw, self.settings),
            "control-character" if stray_character(text) else None,
        )
        return tuple(reason for reason in found if reason)

    def _memo_language(self, text: str, digest: bytes, expected: str, field_name: str) -> LidResult:
        # Pivot fields are checked once per target language with identical input; remember
        # their verdicts so a four-language build pays for them once. `digest`: the text's.
        key = (digest, expected, field_name)
        found = self._lid_memo.get(key)
        if found is None:
            if len(self._lid_memo) >= MEMO_LIMIT:  # bounded: a big build's memory stays flat
                self._lid_memo.clear()
            found = self._lid_memo[key] = self.check_language(text, expected, field_name)
        return found

    def _pair_reasons(self, triple: dict, pivot_name: str, target_name: str) -> list[str]:
        """What comparing a target field with its pivot field finds: a copy or a length out of
        proportion, and text the translator added around it."""
        found = [self._pair_reason(triple, pivot_name, target_name)]
        if self.settings.commentary:
            languages = self.languages
            pivot_language = languages.get(triple["pivot_lang"])
            target_language = languages.get(triple["target_lang"])
            pivot, target = triple[pivot_name], triple[target_name]
            if commentary(pivot, target, pivot_language, target_language):
                found.append("commentary")
        return [reason for reason in found if reason]

    def _pair_reason(self, triple: dict, pivot_name: str, target_name: str) -> str | None:
        """untranslated / length-ratio, comparing a target field with its pivot field."""
        s = self.settings
        pivot, target = triple[pivot_name], triple[target_name]
        # A copy is only suspicious when there is prose to translate: "42" or a code block
        # legitimately reads the same in every language.
        if (
            _similar_length(pivot, target)
            and normalize_for_compare(pivot) == normalize_for_compare(target)
            and self.judgeable(strip_code_and_urls(pivot))
        ):
            return "untranslated"
        if len(pivot) >= s.length_ratio_min_chars:
            scale = (
                self.languages.get(triple["target_lang"]).length_factor
                / self.languages.get(triple["pivot_lang"]).length_factor
            )
            ratio = len(target) / (len(pivot) * scale)
            low, high = s.length_ratio
            if not low <= ratio <= high:
                return "length-ratio"
        return None
