"""One run of the pipeline, and the pivot corpus as every language of it reads it: record by
record, with the problems that fail a row in every language (duplicates, bad values) found as
the rows stream by, in bounded memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import NamedTuple

from plugdata.checks.contamination import ContaminationIndex
from plugdata.checks.validate import Validator
from plugdata.core.digests import DigestSet, digest
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.executor.base import Executor
from plugdata.pipeline.recipe import Recipe
from plugdata.pipeline.triples import row_id
from plugdata.sources.read import Record, iter_records


@dataclass
class Run:
    """How a run works (`config`), where its parallel work goes (`executor`), the validator its
    languages share (its memory of pivot-field verdicts pays for them once, whatever the number
    of languages), which source rows it reads (`rows`: a build's `--limit`, a translate run's
    `--shard`), and the evaluation sets its rows are checked against."""

    config: RunConfig
    executor: Executor
    validator: Validator
    rows: slice = field(default_factory=lambda: slice(None))
    counted: int | None = None  # the rows it reads, once a pass has counted them
    # The evaluation sets a training row must not overlap (a recipe's `decontaminate:`).
    contamination: ContaminationIndex | None = None

    def source_rows(self, recipe: Recipe) -> int:
        """The pivot rows this run reads, counted by one pass over the corpus the first time
        it is asked (a row that cannot be read stops the run there), known afterwards."""
        if self.counted is None:
            self.counted = sum(1 for _ in pivot_records(recipe, self.rows))
        return self.counted

    @property
    def whole(self) -> bool:
        """Whether the run reads the whole corpus."""
        return self.rows.start in (None, 0) and self.rows.stop is None


class PivotRow(NamedTuple):
    """One pivot row: the record, its id, and the problems that fail it in every language."""

    record: Record
    id: str
    problems: list[str]


@dataclass
class PivotChecker:
    """Problems that fail a pivot row in every language (duplicates, bad values), found as the
    rows stream by, a batch at a time. Seen ids and texts are kept as digests (`DigestSet`),
    not as texts."""

    recipe: Recipe
    # The evaluation sets a pivot instruction must not overlap: found here, before a
    # contaminated row is translated, paid for or checked.
    contamination: ContaminationIndex | None = None
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
            found = record.reasons("pivot") if record.problems else []
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
            if self.contamination is not None and not found:
                leaked = self.contamination.find(record.instruction)
                if leaked is not None:
                    found.append(f"contaminated:{leaked}")
            problems.append(found)
        return problems


def pivot_records(recipe: Recipe, rows: slice = slice(None)) -> Iterator[Record]:
    """The pivot corpus (the part `rows` names), record by record, read afresh."""
    aligned = [t.align for t in recipe.targets.values() if t.align is not None]
    key_columns = sorted({a.key.pivot for a in aligned if a.join == "key"})
    records = iter_records(
        recipe.source,
        recipe.base_dir,
        need_response=recipe.responses,
        keep={**dict.fromkeys(key_columns, "text"), **recipe.source.keep},
        limit=rows.stop,
    )
    return islice(records, rows.start, None) if rows.start else records


def pivot_rows(recipe: Recipe, run: Run, checker: PivotChecker) -> Iterator[PivotRow]:
    records = pivot_records(recipe, run.rows)
    while batch := list(islice(records, run.config.read_rows)):
        ids = [row_id(recipe.source.name, record) for record in batch]
        for row in zip(batch, ids, checker.problems(batch, ids), strict=True):
            yield PivotRow(*row)
