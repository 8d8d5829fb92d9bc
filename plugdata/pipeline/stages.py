"""The stages of a run that need nothing but the chunk at hand: triples, content checks,
routing, the split of each kept triple, rendering every method, and the Arrow tables (with each
row's JSON for the content hash) that a sink writes.

Everything that depends on earlier rows (ids and texts seen before, the join) is settled before a
chunk gets here, as its `early` reasons, so any slice of a chunk can be processed anywhere:
`ChunkJob.run` is a function of the slice alone. `ChunkRunner` runs the slices on the run's
executor (its worker processes, or Ray actors) and joins their results in input order.
"""

from __future__ import annotations

import gc
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from plugdata.checks.contamination import ContaminationIndex
from plugdata.checks.validate import Validator, Verdict
from plugdata.core.formats import render
from plugdata.core.schema import METHOD_ROW
from plugdata.dataset.shards import EncodedRows
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.executor.base import Executor, Pool
from plugdata.pipeline.layout import Layout
from plugdata.pipeline.recipe import Recipe
from plugdata.pipeline.triples import Ledger, PackedRows, Router, TargetRow, TripleMaker

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
    scores: dict[str, list[float]] = field(default_factory=dict)  # target field -> alignment

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
        for part in parts:
            for name, scores in part.scores.items():
                joined.scores.setdefault(name, []).extend(scores)
        return joined


@dataclass
class ChunkJob:
    """What one target language does to a chunk (see the module doc), laid out by `layout`."""

    recipe: Recipe
    layout: Layout
    validator: Validator
    contamination: ContaminationIndex | None = None

    def __post_init__(self) -> None:
        recipe, lang = self.recipe, self.layout.lang
        align = recipe.targets[lang].align
        self.make = TripleMaker(
            recipe.source.name,
            recipe.pivot,
            lang,
            responses=recipe.responses,
            keep=recipe.source.keep,
            target_keep=align.keep if align else {},
        )

    def __getstate__(self) -> dict[str, Any]:
        # Sent to Ray actors without the validator: each has its own, model loaded once.
        return {**self.__dict__, "validator": None}

    def run(self, chunk: list[TargetRow], early: list[list[str]]) -> ChunkResult:
        """Everything a slice of a chunk goes through once its early reasons are known."""
        triples = [self.make(row) for row in chunk]
        return self.finish(chunk, early, triples, self.check(to_check(triples, early)))

    def finish(
        self,
        chunk: list[TargetRow],
        early: list[list[str]],
        triples: list[dict[str, Any]],
        verdicts: list[Verdict],
    ) -> ChunkResult:
        """Routing, splits and rendering of a chunk whose content checks are done."""
        layout = self.layout
        kept, quarantined, ledger = self.route(chunk, early, triples, verdicts)
        result = ChunkResult(ledger)
        for verdict in verdicts:
            for scored in verdict.alignment:
                result.scores.setdefault(scored.field, []).append(scored.score)
        if quarantined:
            result.quarantine = pa.Table.from_pylist(quarantined, schema=layout.quarantine_schema)
        by_split: dict[str, list[dict[str, Any]]] = {split: [] for split in layout.splits}
        for triple in kept:
            by_split[layout.split_of(triple["id"])].append(triple)
        for split, rows in by_split.items():
            if rows:
                result.rows.setdefault(layout.lang, {})[split] = Encoded.of(rows, layout.schema)
                self.render(rows, split, result)
        return result

    def render(self, triples: list[dict[str, Any]], split: str, result: ChunkResult) -> None:
        """Every method's training rows of one split's triples, into `result`."""
        languages = self.layout.languages
        for config, made in self.layout.methods.items():
            prompts = {made.method: made.system_prompt}
            rows = [
                row
                for t in triples
                for row in render(
                    made.method,
                    t,
                    pivot_rows=made.pivot_rows,
                    languages=languages,
                    system_prompts=prompts,
                )
            ]
            result.kinds.setdefault(config, {})[split] = Counter(r["kind"] for r in rows)
            result.rows.setdefault(config, {})[split] = Encoded.of_methods(rows)

    def check(self, triples: list[dict[str, Any]]) -> list[Verdict]:
        """The content checks (language ID the costliest of them), and the evaluation sets
        the target instruction must not overlap."""
        verdicts = self.validator.check_batch(triples, responses=self.layout.responses)
        if self.contamination is not None:  # the pivot's was checked as the rows were read
            for triple, verdict in zip(triples, verdicts, strict=True):
                text = triple["target_instruction"]
                found = self.contamination.find(text) if isinstance(text, str) else None
                if found is not None:
                    verdict.reasons.append(f"contaminated:{found}")
        return verdicts

    def route(
        self,
        chunk: list[TargetRow],
        early: list[list[str]],
        triples: list[dict[str, Any]],
        checked: list[Verdict],
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Ledger]:
        """Each triple to kept or quarantine, with one ledger: its early reasons, else the
        verdict of its content checks (`checked`: one per triple without early reasons)."""
        flag = self.recipe.failure_action == "flag"
        verdicts = iter(checked)
        router = Router(Ledger())
        for triple, reasons, row in zip(triples, early, chunk, strict=True):
            if not reasons:
                verdict = next(verdicts)
                triple["meta"]["lid"] = verdict.lid_rows()
                triple["meta"]["alignment"] = verdict.alignment_rows()
                triple["meta"]["flags"] += verdict.flags
                reasons = verdict.reasons
                if reasons and flag:
                    triple["meta"]["flags"] += [f"failed:{r}" for r in reasons]
                    router.ledger.flagged[reasons[0]] += 1
                    reasons = []
            match = row.target
            where = row.pivot.where + (f" | {match.where}" if match and match.where else "")
            router.route(triple, reasons, where)
        return router.kept, router.quarantined, router.ledger


def to_check(triples: list[dict[str, Any]], early: list[list[str]]) -> list[dict[str, Any]]:
    """The triples that need content checks: those no early reason fails already."""
    return [t for t, reasons in zip(triples, early, strict=True) if not reasons]


class ChunkRunner:
    """Runs a `ChunkJob` over chunks in order: slices of each chunk on the executor's workers
    (a pool asked for when the first chunk worth sending comes, closed with the runner), with a
    few chunks in flight, while this process reads and aligns the next chunks and writes the
    finished ones. Chunks the executor finds cheaper to do here are done here."""

    def __init__(self, job: ChunkJob, executor: Executor, config: RunConfig) -> None:
        self.job, self.executor, self.config = job, executor, config
        self._pool: Pool | None = None
        self._in_flight: deque[list[Any]] = deque()
        # A chunk allocates millions of short-lived containers, and the collector's passes
        # over them (and over every long-lived object) took a third of a build's time. Nearly
        # all of it is freed by reference counting; cycles are collected once per chunk. What
        # exists now lives through the run: frozen, no collection looks at it again (nor, in
        # forked workers, at what they inherit).
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        gc.freeze()
        self._done = 0

    def submit(self, chunk: list[TargetRow], early: list[list[str]]) -> Iterator[ChunkResult]:
        """Queue a chunk; yields the results that are due (oldest first). A job whose checks
        call a remote service runs here, where its one budget and failure monitor are."""
        to_check = sum(1 for reasons in early if not reasons)
        if not self.job.validator.parallel or self.executor.runs_here(to_check):
            parts: list[Any] = [self.job.run(chunk, early)]
        else:
            if self._pool is None:
                self._pool = self.executor.pool(self.job)
            size = self.config.task_rows
            parts = [
                self._pool.submit(PackedRows(chunk[i : i + size]), early[i : i + size])
                for i in range(0, len(chunk), size)
            ]
        self._in_flight.append(parts)
        limit = self._pool.in_flight if self._pool else self.executor.workers
        while len(self._in_flight) > limit:
            yield self._next()

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
        if self._pool is not None:
            self._pool.close()
        self._pool = None
