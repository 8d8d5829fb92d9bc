"""One target language of a build: its target rows (aligned from a corpus, or translated), the
triples made from them, checked and routed to kept or quarantine, with one ledger.

The language streams: the pivot corpus is read afresh, record by record, and handled
`CHUNK_ROWS` rows at a time. What depends on earlier rows (duplicate ids and texts, kept as
8-byte digests; the join, through a `TargetIndex` on disk) is settled here; the rest of each
chunk is `stages`' work, and its rows go to a `Sink` (`configs.LanguageWriter`) in order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from plugdata.checks.validate import Validator
from plugdata.core.digests import DigestSet, digest
from plugdata.pipeline.executor.ray import RayStagePool, check_engine
from plugdata.pipeline.recipe import Recipe, Translate
from plugdata.pipeline.stages import TASK_ROWS, ChunkJob, ChunkResult, ChunkRunner, TargetRow
from plugdata.pipeline.triples import Ledger, row_id
from plugdata.sources.align import TargetIndex
from plugdata.sources.corpus import Corpus
from plugdata.sources.read import Record, iter_records

TARGET_DUPLICATE = "duplicate:target"  # the target instruction+response pair came before
# Pivot rows per chunk: a build holds a few chunks at a time (their triples, verdicts and
# rendered rows: a few MB each at the paper's row sizes), one more than it has workers.
CHUNK_ROWS = 8_192

_BATCH_ROWS = 1_000  # pivot rows read, checked for duplicates and joined at a time
# Pivot rows translated at a time: the records, their units and translations of one window are
# held (tens of MB at the paper's row sizes); the cache and the budget span the windows.
TRANSLATE_WINDOW = 20_000

# One pivot row: the record, its id, the problems that fail it in every language.
PivotRow = tuple[Record, str, list[str]]


class Sink(Protocol):
    """Where a language's routed rows go, chunk by chunk (`configs.LanguageWriter`)."""

    def write(self, result: ChunkResult) -> None: ...


@dataclass
class PivotChecker:
    """Problems that fail a pivot row in every language (duplicates, bad values), found as the
    rows stream by, a batch at a time. Seen ids and texts are kept as digests (`DigestSet`),
    not as texts."""

    recipe: Recipe
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "duplicate ids": 0,
            "duplicate instruction+response pairs": 0,
            "repeated instructions (different responses, kept)": 0,
        }
    )
    _ids: DigestSet = field(default_factory=DigestSet)
    _content: DigestSet = field(default_factory=DigestSet)
    _instructions: DigestSet = field(default_factory=DigestSet)

    def problems(self, records: list[Record], ids: list[str]) -> list[list[str]]:
        """Per record (in corpus order, after every record of the batches before)."""
        id_before = self._ids.seen([digest(rid) for rid in ids])
        content_before = self._content.seen(
            [digest(r.instruction, r.response or "") for r in records]
        )
        instruction_before = self._instructions.seen([digest(r.instruction) for r in records])
        problems = []
        rows = zip(records, id_before, content_before, instruction_before, strict=True)
        for record, repeated_id, repeated_content, repeated_instruction in rows:
            found = record.reasons("pivot")
            if record.raw_id is None and self.recipe.source.columns.id is not None:
                found.append("missing-id")
            if repeated_id:
                found.append("duplicate-id")
                self.counts["duplicate ids"] += 1
            if self.recipe.dedupe and repeated_content and not repeated_id:
                found.append("duplicate")
                self.counts["duplicate instruction+response pairs"] += 1
            elif repeated_instruction and not repeated_content:
                self.counts["repeated instructions (different responses, kept)"] += 1
            problems.append(found)
        return problems


def pivot_records(recipe: Recipe, limit: int | None) -> Iterator[Record]:
    """The pivot corpus, record by record (read afresh for every language)."""
    aligned = [t.align for t in recipe.targets.values() if t.align is not None]
    key_columns = sorted({a.key.pivot for a in aligned if a.join == "key"})
    return iter_records(
        recipe.source,
        recipe.base_dir,
        need_response=recipe.kind == "train",
        keep={**dict.fromkeys(key_columns, "text"), **recipe.source.keep},
        limit=limit,
    )


def pivot_rows(recipe: Recipe, limit: int | None, checker: PivotChecker) -> Iterator[PivotRow]:
    records = pivot_records(recipe, limit)
    while batch := list(islice(records, _BATCH_ROWS)):
        ids = [row_id(recipe.source.name, record) for record in batch]
        yield from zip(batch, ids, checker.problems(batch, ids), strict=True)


@dataclass
class Engine:
    """Where a build's chunk stages and translations run: `local` (forked processes and
    threads of this machine) or `ray` (actors on a Ray cluster at `address`, or a local Ray).
    `workers`: at most this many Ray actors for the chunks (default: one per CPU). The actors
    start with the first rows to check and serve every language until `close()`."""

    name: str = "local"
    address: str | None = None
    workers: int | None = None
    _pool: RayStagePool | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_engine(self.name, self.address)

    def stage_pool(self, validator: Validator) -> Callable[[], Any] | None:
        """For `ChunkRunner`: None (its own fork pool), or where to get the Ray actors."""
        return None if self.name != "ray" else partial(self._ray_pool, validator)

    def _ray_pool(self, validator: Validator) -> RayStagePool:
        # One validator per build, and each task carries its language's job: every language
        # shares the actors.
        if self._pool is None:
            self._pool = RayStagePool(
                validator,
                address=self.address,
                workers=self.workers,
                chunk_rows=CHUNK_ROWS,
                task_rows=TASK_ROWS,
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


@dataclass
class LanguageResult:
    """One target language checked, routed and handed to its sink: what the report and the
    manifest say about it."""

    lang: str
    ledger: Ledger
    made_by: str
    spec: Corpus | Translate
    pivot_counts: dict[str, int]  # duplicates in the pivot corpus, for the summary


def check_language(
    recipe: Recipe,
    lang: str,
    validator: Validator,
    sink: Sink,
    limit: int | None,
    progress: bool,
    engine: Engine | None = None,
) -> LanguageResult:
    """Align (or translate), check and route one target language, `CHUNK_ROWS` pivot rows at a
    time: what depends on earlier rows (duplicates, the join) here, the rest of each chunk in
    the validator's worker processes, or on Ray with `engine` (`stages`); each chunk's rows go
    to `sink` in order."""
    engine = engine or Engine()
    checker = PivotChecker(recipe)
    target = _target_side(recipe, lang, limit, engine)
    job = ChunkJob(recipe, lang, target.spec, validator)
    runner = ChunkRunner(job, validator.workers, engine.stage_pool(validator))
    ledger = Ledger()
    made_by: Counter = Counter()
    seen_targets = DigestSet()
    bar = tqdm(
        desc=f"build {lang}",
        unit="row",
        disable=None if progress else True,  # None: only on a terminal
        leave=False,
    )

    def take(done: Iterator[ChunkResult]) -> None:
        for result in done:
            ledger.add(result.ledger)
            sink.write(result)
            bar.update(result.ledger.rows_in)

    try:
        rows = target.rows(pivot_rows(recipe, limit, checker), progress)
        while chunk := list(islice(rows, CHUNK_ROWS)):
            made_by.update(row[4] for row in chunk)
            take(runner.submit(chunk, _early(recipe, chunk, seen_targets)))
        take(runner.drain())
        ledger.orphans = None if limit else target.orphans
        ledger.target_duplicates = target.duplicates
    finally:
        runner.close()
        bar.close()
        target.close()
    ledger.check(lang)
    return LanguageResult(lang, ledger, describe_made_by(made_by), target.spec, checker.counts)


def _early(recipe: Recipe, chunk: list[TargetRow], seen_targets: DigestSet) -> list[list[str]]:
    """Per row of a chunk, the reasons known before any content check: the pivot's problems,
    the target's, and a target pair that came before."""
    early = []
    for _, _, pivot_found, match, _, target_reasons, _ in chunk:
        reasons = list(pivot_found) + target_reasons
        if match is None:
            reasons.append("missing-target")
        else:
            reasons += match.reasons("target")
        early.append(reasons)
    if recipe.dedupe:
        # Two pivot rows translated (or aligned) to the same target pair would train the
        # same target row twice: quarantined like a pivot duplicate, the first one kept.
        train = recipe.kind == "train"
        clean = [i for i, reasons in enumerate(early) if not reasons]
        pairs = [
            digest(chunk[i][3].instruction, (chunk[i][3].response or "") if train else "")
            for i in clean
        ]
        for i, repeated in zip(clean, seen_targets.seen(pairs), strict=True):
            if repeated:
                early[i].append(TARGET_DUPLICATE)
    return early


class _Aligned:
    """The target side from a corpus, joined through a `TargetIndex` on disk."""

    def __init__(self, recipe: Recipe, lang: str, limit: int | None) -> None:
        self.recipe, self.limit = recipe, limit
        self.spec = spec = recipe.targets[lang].align
        label = corpus_where(spec)
        self.made_by = f"aligned:{label}"
        records = iter_records(
            spec,
            recipe.base_dir,
            need_response=recipe.kind == "train",
            keep={**({spec.key.target: "text"} if spec.join == "key" else {}), **spec.keep},
            limit=limit if spec.join == "index" else None,
        )
        self.index = TargetIndex(records, spec, label)

    def rows(self, pivot: Iterable[PivotRow], progress: bool) -> Iterator[TargetRow]:
        pivot = iter(pivot)
        first = next(pivot, None)
        if first is None:
            return
        count = None
        if self.spec.join == "index":  # one more pass over the pivot corpus: just a count
            count = sum(1 for _ in pivot_records(self.recipe, self.limit))
        self.index.check_pivot(first[0], count)
        rows = _chain(first, pivot)
        while batch := list(islice(rows, _BATCH_ROWS)):
            partners = self.index.matches([record for record, _, _ in batch])
            for (record, rid, found), match in zip(batch, partners, strict=True):
                yield record, rid, found, match, self.made_by, [], []

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


class _Translated:
    """The target side made by machine translation, `TRANSLATE_WINDOW` pivot rows at a time:
    a window is read, translated, handed on, and dropped before the next is read. What holds
    for the whole target (one cost cap, one failure monitor and rate limiter per backend, one
    sender, one cache, one progress bar) is one `_Translation`."""

    orphans = 0
    duplicates = 0

    def __init__(self, recipe: Recipe, lang: str, engine: Engine) -> None:
        self.recipe, self.lang, self.engine = recipe, lang, engine
        self.spec = recipe.targets[lang].translate
        self._job: _Translation | None = None

    def rows(self, pivot: Iterable[PivotRow], progress: bool) -> Iterator[TargetRow]:
        pivot = iter(pivot)
        self._job = job = _Translation(self.recipe, self.lang, self.engine, progress)
        while window := list(islice(pivot, TRANSLATE_WINDOW)):
            skip = [bool(found) for _, _, found in window]
            target = job.translate([record for record, _, _ in window], skip)
            for (record, rid, found), *side in zip(window, *target, strict=True):
                yield (record, rid, found, *side)
            del window, target  # before the next window is read, not after

    def close(self) -> None:
        if self._job is not None:
            self._job.close()
            self._job = None


class _Translation:
    """One target's machine translation across its windows: the backends (the fallbacks after
    the first), the segment cache, the sender (Ray's actors start once) and the engine's
    `Session` (the budget, monitors, limiters and bar)."""

    def __init__(self, recipe: Recipe, lang: str, engine: Engine, progress: bool) -> None:
        from plugdata.translate.cache import SegmentCache
        from plugdata.translate.engine import Session
        from plugdata.translate.job import default_cache_path, make_translator, sender

        self.recipe, self.lang, self.progress = recipe, lang, progress
        self.spec = spec = recipe.targets[lang].translate
        where = f"{recipe.file}: targets.{lang}.translate"
        languages = recipe.language_table
        self.translators = [make_translator(spec.backend, spec.options, where, languages)]
        self.translators += [
            make_translator(f.backend, f.options, f"{where}.fallback", languages)
            for f in spec.fallback
        ]
        cache_file = Path(spec.cache) if spec.cache else default_cache_path()
        if not cache_file.is_absolute():
            cache_file = recipe.base_dir / cache_file
        self.session = Session()
        self.cache = SegmentCache(cache_file)
        self.send = sender(engine.name, engine.address, spec.workers)

    def translate(
        self, pivot: list[Record], skip: list[bool]
    ) -> tuple[list[Record], list[str], list[list[str]], list[list[str]]]:
        """Target records made by machine translation, one per pivot record, with per-row
        provenance, the reasons rows could not be translated and the backends' last error.
        Rows marked in `skip` (quarantined whatever their translation) are not sent: nobody
        pays."""
        from plugdata.translate.engine import Outcome, translate_records

        recipe, spec = self.recipe, self.spec
        answered, _ = translate_records(
            [p for p, skipped in zip(pivot, skip, strict=True) if not skipped],
            recipe.pivot,
            self.lang,
            self.translators,
            self.cache,
            fields=("instruction", "response") if recipe.kind == "train" else ("instruction",),
            workers=spec.workers,
            max_cost=spec.max_cost,  # for the whole target: the session's one budget
            progress=self.progress,
            languages=recipe.language_table,
            send=self.send,
            session=self.session,
        )
        answers = iter(answered)
        outcomes = [Outcome() if skipped else next(answers) for skipped in skip]
        records = [
            Record(
                p.index,
                "",  # made from the pivot row: no place of its own
                p.raw_id,
                o.fields.get("instruction", ""),
                o.fields.get("response"),
                {},
                [],
            )
            for p, o in zip(pivot, outcomes, strict=True)
        ]
        made_by = [o.made_by or f"{spec.backend}:failed" for o in outcomes]
        reasons = [[o.reason] if o.reason else [] for o in outcomes]
        return records, made_by, reasons, [o.flags for o in outcomes]

    def close(self) -> None:
        try:
            if hasattr(self.send, "close"):  # Ray's actors: stopped with the translation
                self.send.close()
        finally:
            self.session.close()
            self.cache.close()
            for translator in self.translators:
                translator.close()


def _target_side(
    recipe: Recipe, lang: str, limit: int | None, engine: Engine
) -> _Aligned | _Translated:
    if recipe.targets[lang].align is None:
        return _Translated(recipe, lang, engine)
    return _Aligned(recipe, lang, limit)


def describe_made_by(counts: Counter) -> str:
    """One line for the manifest and card: the distinct producers, most frequent first."""
    return ", ".join(
        name if len(counts) == 1 else f"{name} ({n})" for name, n in counts.most_common()
    )


def corpus_where(corpus) -> str:
    """How a corpus is named in reports and in `meta.made_by`: never an absolute local path."""
    if corpus.path is not None:
        return corpus.path if corpus.path.startswith("builtin:") else Path(corpus.path).name
    files = f" {corpus.hub.data_files}" if corpus.hub.data_files else ""
    return f"hub {corpus.hub.repo}@{corpus.hub.revision}{files}"
