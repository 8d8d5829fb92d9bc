"""The stages of a build that need nothing but the chunk at hand: triples, content checks,
routing, the split of each kept triple, rendering every method, and the Arrow tables (with each
row's JSON for the content hash) that `configs.LanguageWriter` appends to the folder.

Everything that depends on earlier rows (ids and texts seen before, the join) is settled before a
chunk gets here, as its `early` reasons, so any slice of a chunk can be processed anywhere:
`ChunkJob.run` is a function of the slice alone. `ChunkRunner` runs the slices in a pool (forked
worker processes, or Ray actors for `--engine ray`) and joins their results in input order.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from plugdata.checks.validate import Validator, Verdict
from plugdata.core.formats import METHODS, render
from plugdata.core.schema import METHOD_ROW, quarantine_schema, triple_schema
from plugdata.dataset.folder import config_name
from plugdata.dataset.shards import EncodedRows
from plugdata.dataset.splits import split_of
from plugdata.pipeline.recipe import Recipe, Translate
from plugdata.pipeline.triples import Ledger, Router, make_triple
from plugdata.sources.corpus import Align, Corpus
from plugdata.sources.read import Record

# One pivot row with its target side: the pivot record, its id, the problems that fail it in
# every language; its target record (or None), how that was made, reasons and flags.
TargetRow = tuple[Record, str, list[str], Record | None, str, list[str], list[str]]
# Chunks with fewer rows to check than this are done here rather than sent to a worker.
INLINE_ROWS = 512
FULL_COLLECT_EVERY = 16  # chunks between full garbage collections during a build


@dataclass
class Encoded:
    """Rows as an Arrow table, and (as Arrow gives them back) as JSON for the hash."""

    table: pa.Table
    json: EncodedRows

    @classmethod
    def of(cls, rows: list[dict[str, Any]], schema: pa.Schema) -> Encoded:
        table = pa.Table.from_pylist(rows, schema=schema)
        return cls(table, EncodedRows.of(table.to_pylist()))

    @classmethod
    def of_methods(cls, rows: list[dict[str, Any]]) -> Encoded:
        """Training rows, which `formats.render` makes of strings in exactly `METHOD_ROW`'s
        shape, so they read back from Arrow as they are: hashed without the round trip."""
        return cls(pa.Table.from_pylist(rows, schema=METHOD_ROW), EncodedRows.of(rows))

    @classmethod
    def join(cls, parts: list[Encoded]) -> Encoded:
        """Consecutive slices' rows as one (the tables are not copied)."""
        if len(parts) == 1:
            return parts[0]
        table = pa.concat_tables([p.table for p in parts])
        return cls(table, EncodedRows.join([p.json for p in parts]))


@dataclass
class ChunkResult:
    """A chunk done: its ledger, its rows per config and split, and its quarantined rows."""

    ledger: Ledger
    rows: dict[str, dict[str, Encoded]] = field(default_factory=dict)  # config -> split -> rows
    kinds: dict[str, dict[str, Counter]] = field(default_factory=dict)  # config -> split -> kinds
    quarantine: pa.Table | None = None

    @classmethod
    def join(cls, parts: list[ChunkResult]) -> ChunkResult:
        """The results of consecutive slices of a chunk as the chunk's: one write per split."""
        if len(parts) == 1:
            return parts[0]
        joined = cls(Ledger())
        rows: dict[str, dict[str, list[Encoded]]] = {}
        for part in parts:
            joined.ledger.add(part.ledger)
            for config, splits in part.rows.items():
                for split, encoded in splits.items():
                    rows.setdefault(config, {}).setdefault(split, []).append(encoded)
            for config, splits in part.kinds.items():
                for split, kinds in splits.items():
                    joined.kinds.setdefault(config, {}).setdefault(split, Counter()).update(kinds)
        joined.rows = {
            config: {split: Encoded.join(encoded) for split, encoded in splits.items()}
            for config, splits in rows.items()
        }
        quarantined = [p.quarantine for p in parts if p.quarantine is not None]
        if quarantined:
            joined.quarantine = pa.concat_tables(quarantined)
        return joined


@dataclass
class ChunkJob:
    """What one target language does to a chunk (see the module doc)."""

    recipe: Recipe
    lang: str
    spec: Corpus | Translate
    validator: Validator

    def __post_init__(self) -> None:
        recipe = self.recipe
        self.train = recipe.kind == "train"
        kept_columns = recipe.kept_columns(self.lang)
        self.schema = triple_schema(self.train, kept_columns)
        self.quarantine_schema = quarantine_schema(self.train, kept_columns)
        self.methods = {
            config_name(self.lang, m): (m, recipe.pivot_rows.get(m, METHODS[m].pivot_rows))
            for m in (recipe.methods if self.train else [])
        }

    def __getstate__(self) -> dict[str, Any]:
        # Sent to Ray actors without the validator: each has its own, model loaded once.
        return {**self.__dict__, "validator": None}

    def run(self, chunk: list[TargetRow], early: list[list[str]]) -> ChunkResult:
        """Everything a slice of a chunk goes through once its early reasons are known."""
        triples = self.triples(chunk)
        return self.finish(chunk, early, triples, self.check(to_check(triples, early)))

    def finish(
        self,
        chunk: list[TargetRow],
        early: list[list[str]],
        triples: list[dict[str, Any]],
        verdicts: list[Verdict],
    ) -> ChunkResult:
        """Routing, splits and rendering of a chunk whose content checks are done."""
        kept, quarantined, ledger = self.route(chunk, early, triples, verdicts)
        result = ChunkResult(ledger)
        if quarantined:
            result.quarantine = pa.Table.from_pylist(quarantined, schema=self.quarantine_schema)
        if not self.train:
            if kept:
                result.rows[self.lang] = {"test": Encoded.of(kept, self.schema)}
            return result
        splits = self.recipe.splits
        by_split: dict[str, list[dict[str, Any]]] = {"train": [], "validation": []}
        for triple in kept:
            by_split[split_of(triple["id"], splits.validation, splits.salt)].append(triple)
        languages = self.recipe.language_table
        for split, triples in by_split.items():
            if not triples:
                continue
            result.rows.setdefault(self.lang, {})[split] = Encoded.of(triples, self.schema)
            for config, (method, pivot_rows) in self.methods.items():
                rows = [
                    row
                    for t in triples
                    for row in render(method, t, pivot_rows=pivot_rows, languages=languages)
                ]
                result.kinds.setdefault(config, {})[split] = Counter(r["kind"] for r in rows)
                result.rows.setdefault(config, {})[split] = Encoded.of_methods(rows)
        return result

    def triples(self, chunk: list[TargetRow]) -> list[dict[str, Any]]:
        recipe = self.recipe
        triples = []
        for record, rid, _, match, made_by, _, flags in chunk:
            triple = make_triple(
                rid,
                recipe.source.name,
                recipe.pivot,
                self.lang,
                record,
                match,
                made_by,
                responses=self.train,
                keep=recipe.source.keep,
                target_keep=self.spec.keep if isinstance(self.spec, Align) else None,
            )
            triple["meta"]["flags"] = list(flags)
            triples.append(triple)
        return triples

    def check(self, triples: list[dict[str, Any]]) -> list[Verdict]:
        """The content checks (language ID the costliest of them)."""
        return [self.validator.check(t, responses=self.train) for t in triples]

    def route(
        self,
        chunk: list[TargetRow],
        early: list[list[str]],
        triples: list[dict[str, Any]],
        checked: list[Verdict],
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Ledger]:
        """Each triple to kept or quarantine, with one ledger: its early reasons, else the
        verdict of its content checks (`checked`: one per triple without early reasons)."""
        recipe = self.recipe
        verdicts = iter(checked)
        router = Router(Ledger())
        for triple, reasons, row in zip(triples, early, chunk, strict=True):
            record, match = row[0], row[3]
            if not reasons:
                verdict = next(verdicts)
                triple["meta"]["lid"] = verdict.lid_rows()
                triple["meta"]["flags"] += verdict.flags
                reasons = verdict.reasons
                if reasons and recipe.failure_action == "flag":
                    triple["meta"]["flags"] += [f"failed:{r}" for r in reasons]
                    router.ledger.flagged[reasons[0]] += 1
                    reasons = []
            where = record.where + (f" | {match.where}" if match and match.where else "")
            router.route(triple, reasons, where)
        return router.kept, router.quarantined, router.ledger


def to_check(triples: list[dict[str, Any]], early: list[list[str]]) -> list[dict[str, Any]]:
    """The triples that need content checks: those no early reason fails already."""
    return [t for t, reasons in zip(triples, early, strict=True) if not reasons]


# The job of a runner's fork pool, set in the parent while the pool lives: forked workers
# inherit it (with the validator's loaded model), so only the slices travel to them.
_JOB: ChunkJob | None = None
# Rows of a chunk per task of a worker: small enough to keep every worker busy to the end of a
# language, big enough that a task's tables make a sizeable write.
TASK_ROWS = 1024


def _run(chunk: list[TargetRow], early: list[list[str]]) -> ChunkResult:
    return _JOB.run(chunk, early)


class StagePool(Protocol):
    """Where a runner's slices run: `run` a job over a slice of a chunk; the handle's `get()`
    gives its `ChunkResult`. `in_flight`: the chunks to keep queued to keep the pool busy."""

    in_flight: int

    def run(self, job: ChunkJob, chunk: list[TargetRow], early: list[list[str]]) -> Any: ...

    def close(self) -> None: ...


class ForkPool:
    """`workers` forked processes that inherit the job (the default engine's pool)."""

    def __init__(self, job: ChunkJob, workers: int) -> None:
        global _JOB
        _JOB = job
        self.in_flight = workers
        self._pool = multiprocessing.get_context("fork").Pool(workers)

    def run(self, job: ChunkJob, chunk: list[TargetRow], early: list[list[str]]) -> Any:
        return self._pool.apply_async(_run, (chunk, early))

    def close(self) -> None:
        global _JOB
        self._pool.terminate()
        self._pool.join()
        _JOB = None


class ChunkRunner:
    """Runs a `ChunkJob` over chunks in order: slices of each chunk in a pool that lives as long
    as the runner, with a few chunks in flight (one more than there are workers, for the
    default `ForkPool`), while this process reads and aligns the next chunks and writes the
    finished ones. With the fork pool, small chunks, one worker, or no `fork` on this system:
    all here. `pool`: where to get another pool (`ray_engine.RayStagePool`), asked when the
    first chunk with something to check comes; whoever made that pool closes it (it may serve
    several runners)."""

    def __init__(
        self, job: ChunkJob, workers: int, pool: Callable[[], StagePool] | None = None
    ) -> None:
        self.job, self.workers = job, workers
        self._make_pool = pool
        self._pool: StagePool | None = None
        self._in_flight: deque[list[Any]] = deque()
        # A chunk allocates millions of short-lived containers, and the collector's passes
        # over them (and over every long-lived object) took a third of a build's time. Nearly
        # all of it is freed by reference counting; cycles are collected once per chunk. What
        # exists now lives through the build: frozen, no collection looks at it again (nor, in
        # the forked workers, at what they inherit).
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        gc.freeze()
        self._done = 0

    def submit(self, chunk: list[TargetRow], early: list[list[str]]) -> Iterator[ChunkResult]:
        """Queue a chunk; yields the results that are due (oldest first)."""
        pool = self._pool_for(sum(1 for reasons in early if not reasons))
        if pool is None:
            parts = [self.job.run(chunk, early)]
        else:
            parts = [
                pool.run(self.job, chunk[i : i + TASK_ROWS], early[i : i + TASK_ROWS])
                for i in range(0, len(chunk), TASK_ROWS)
            ]
        self._in_flight.append(parts)
        limit = self._pool.in_flight if self._pool else self.workers
        while len(self._in_flight) > limit:
            yield self._next()

    def _pool_for(self, to_check: int) -> StagePool | None:
        """The pool for a chunk with `to_check` rows to check (None: run it here)."""
        if self._pool is None:
            if self._make_pool is not None:
                if to_check:
                    self._pool = self._make_pool()
            elif (
                self.workers > 1
                and to_check >= INLINE_ROWS
                and "fork" in multiprocessing.get_all_start_methods()
            ):
                self._pool = ForkPool(self.job, self.workers)
        if self._make_pool is None and to_check < INLINE_ROWS:
            return None
        return self._pool

    def drain(self) -> Iterator[ChunkResult]:
        while self._in_flight:
            yield self._next()

    def _next(self) -> ChunkResult:
        parts = self._in_flight.popleft()
        result = ChunkResult.join([p if isinstance(p, ChunkResult) else p.get() for p in parts])
        # The young generations every chunk (they hold the chunks in flight), all of it now
        # and then: a full pass each time would look at every row still in flight again.
        self._done += 1
        gc.collect(2 if self._done % FULL_COLLECT_EVERY == 0 else 1)
        return result

    def close(self) -> None:
        self._in_flight.clear()
        gc.unfreeze()
        if self._gc_was_enabled:
            gc.enable()
        if self._pool is not None and self._make_pool is None:
            self._pool.close()
        self._pool = None
