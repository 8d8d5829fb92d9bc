"""The target side of a language, row by row: taken from an aligned corpus (joined through a
`TargetIndex` on disk), or made by machine translation a window of rows at a time. Either way
the pivot rows stream through, each leaving with its target record as a `TargetRow`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from plugdata.checks.validate import TARGET_FIELDS, Validator
from plugdata.pipeline.recipe import Recipe
from plugdata.pipeline.run import PivotRow, Run
from plugdata.pipeline.triples import TargetRow
from plugdata.sources.align import TargetIndex
from plugdata.sources.corpus import Corpus
from plugdata.sources.read import Record, iter_records
from plugdata.translate.backends import make_translator
from plugdata.translate.backends.base import Translator
from plugdata.translate.cache import SegmentCache, default_cache_path
from plugdata.translate.engine import (
    ContentCheck,
    Outcome,
    Sender,
    TranslateReport,
    Translation,
    TranslationSettings,
)


class AlignedSide:
    """The target side from a corpus, joined through a `TargetIndex` on disk."""

    report = None  # nothing translated

    def __init__(self, recipe: Recipe, lang: str, run: Run) -> None:
        self.recipe, self.run = recipe, run
        self.spec = spec = recipe.targets[lang].align
        label = corpus_where(spec)
        self.made_by = f"aligned:{label}"
        records = iter_records(
            spec,
            recipe.base_dir,
            need_response=recipe.responses,
            keep={**({spec.key.target: "text"} if spec.join == "key" else {}), **spec.keep},
            limit=run.rows.stop if spec.join == "index" else None,
        )
        self.index = TargetIndex(records, spec, label)

    def rows(self, pivot: Iterable[PivotRow]) -> Iterator[TargetRow]:
        pivot = iter(pivot)
        first = next(pivot, None)
        if first is None:
            return
        count = self.run.source_rows(self.recipe) if self.spec.join == "index" else None
        self.index.check_pivot(first.record, count)
        rows = _chain(first, pivot)
        while batch := list(islice(rows, self.run.config.read_rows)):
            partners = self.index.matches([row.record for row in batch])
            for row, match in zip(batch, partners, strict=True):
                yield TargetRow(row.record, row.id, row.problems, match, self.made_by, [], [])

    @property
    def orphans(self) -> int:
        return self.index.orphans

    @property
    def duplicates(self) -> int:
        return self.index.duplicates

    def close(self) -> None:
        self.index.close()


def _chain(first: PivotRow, rest: Iterator[PivotRow]) -> Iterator[PivotRow]:
    yield first
    yield from rest


class TranslatedSide:
    """The target side made by machine translation, `window_rows` pivot rows at a time: a window
    is read, translated, handed on, and dropped before the next is read. One `Translation`
    spans the windows (one cost cap, one failure monitor and rate limiter per backend, one
    sender, one cache, one progress bar). Rows that fail in every language anyway are not sent.
    `dry_run`: plan (`plan`), never send."""

    orphans = 0
    duplicates = 0

    def __init__(self, recipe: Recipe, lang: str, run: Run, *, dry_run: bool = False) -> None:
        self.recipe, self.run = recipe, run
        self.spec = spec = recipe.targets[lang].translate
        self.translators: list[Translator] = []
        self.cache: SegmentCache | None = None
        self.sender: Sender | None = None
        self.translation: Translation | None = None
        try:
            where = f"{recipe.file}: targets.{lang}.translate"
            languages = recipe.language_table
            for i, backend in enumerate([spec, *spec.fallback]):
                at = where if i == 0 else f"{where}.fallback.{i - 1}"
                self.translators.append(
                    make_translator(backend.backend, backend.options, at, languages, in_recipe=True)
                )
            self.cache = SegmentCache(_cache_file(recipe, spec.cache))
            self.sender = run.executor.sender(spec.concurrency)
        except BaseException:
            self.close()
            raise
        settings = TranslationSettings(
            recipe.pivot,
            lang,
            recipe.fields,
            max_cost=spec.max_cost,  # for the whole target: the translation's one budget
            offline=run.config.offline,
            dry_run=dry_run,
            progress=run.config.progress,
            languages=recipe.language_table,
            check=_content_check(run.validator, recipe.pivot, lang, recipe.fields),
            retry_rejected=run.config.retry_rejected,
        )
        self.translation = Translation(self.translators, self.cache, settings, self.sender)

    @property
    def report(self) -> TranslateReport:
        return self.translation.report

    def rows(self, pivot: Iterable[PivotRow]) -> Iterator[TargetRow]:
        # Every source row is read once before the first is sent: a row that cannot be read
        # anywhere in the corpus stops the run before it costs anything.
        self.run.source_rows(self.recipe)
        for window, outcomes in self._windows(pivot):
            for row, outcome in zip(window, outcomes, strict=True):
                target = _target_record(row.record, outcome)
                made_by = outcome.made_by or f"{self.spec.backend}:failed"
                reasons = [outcome.reason] if outcome.reason else []
                yield TargetRow(
                    row.record, row.id, row.problems, target, made_by, reasons, outcome.flags
                )
            del window, outcomes  # before the next window is read, not after

    def plan(self, pivot: Iterable[PivotRow]) -> TranslateReport:
        """What translating every row would send and cost (a dry run: nothing is sent)."""
        for _ in self._windows(pivot):
            pass
        return self.report

    def _windows(self, pivot: Iterable[PivotRow]) -> Iterator[tuple[list, list[Outcome]]]:
        pivot = iter(pivot)
        while window := list(islice(pivot, self.run.config.window_rows)):
            skip = [bool(row.problems) for row in window]
            outcomes, _ = self.translation.translate([row.record for row in window], skip)
            yield window, outcomes

    def close(self) -> None:
        try:
            if self.sender is not None:  # Ray's actors: stopped with the translation
                self.sender.close()
        finally:
            if self.translation is not None:
                self.translation.close()
            if self.cache is not None:
                self.cache.close()
            for translator in self.translators:
                translator.close()


def _target_record(pivot: Record, outcome: Outcome) -> Record:
    """The target record a translation made of a pivot record; made from the pivot row, it has
    no place of its own."""
    fields = outcome.fields
    return Record(
        pivot.index, "", pivot.raw_id, fields.get("instruction", ""), fields.get("response")
    )


def _content_check(
    validator: Validator, pivot: str, target: str, fields: tuple[str, ...]
) -> ContentCheck:
    """The job's content checks as `TranslationSettings.check`: the checks a triple goes
    through (a `plugdata.checks.validate.Validator`, alignment scoring aside) on a row as the
    engine makes it, keeping only what they find in its target fields."""
    responses = "response" in fields

    def check(record: Record, made: dict[str, str]) -> str | None:
        triple = {
            "pivot_lang": pivot,
            "target_lang": target,
            "pivot_instruction": record.instruction,
            "pivot_response": record.response or "",
            "target_instruction": made.get("instruction", ""),
            "target_response": made.get("response", ""),
        }
        reasons = validator.check(triple, responses=responses).reasons
        return next((r for r in reasons if r.endswith(TARGET_FIELDS)), None)

    return check


def _cache_file(recipe: Recipe, cache: str | None) -> Path:
    path = Path(cache) if cache else default_cache_path()
    return path if path.is_absolute() else recipe.base_dir / path


def target_side(recipe: Recipe, lang: str, run: Run) -> AlignedSide | TranslatedSide:
    if recipe.targets[lang].align is None:
        return TranslatedSide(recipe, lang, run)
    return AlignedSide(recipe, lang, run)


def corpus_where(corpus: Corpus) -> str:
    """How a corpus is named in reports and in `meta.made_by`: never an absolute local path."""
    if corpus.path is not None:
        return corpus.path if corpus.path.startswith("builtin:") else Path(corpus.path).name
    files = f" {corpus.hub.data_files}" if corpus.hub.data_files else ""
    return f"hub {corpus.hub.repo}@{corpus.hub.revision}{files}"
