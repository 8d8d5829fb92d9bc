"""One target language of a run: its target rows (aligned from a corpus, or translated), the
triples made from them, checked and routed to kept or quarantine, with one ledger, and handed to
a sink (a dataset folder's configs, or a JSON Lines file).

The language streams: the pivot corpus is read afresh, record by record, and handled
`chunk_rows` rows at a time. What depends on earlier rows (duplicate ids and texts, kept as
8-byte digests; the join, through a `TargetIndex` on disk) is settled here; the rest of each
chunk is `stages`' work on the run's executor, and its rows go to the sink in order.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

from tqdm.auto import tqdm

from plugdata.core.digests import DigestSet, digest
from plugdata.pipeline.layout import Layout
from plugdata.pipeline.recipe import Recipe
from plugdata.pipeline.run import PivotChecker, Run, pivot_rows
from plugdata.pipeline.stages import ChunkJob, ChunkResult, ChunkRunner
from plugdata.pipeline.targets import TranslatedSide, target_side
from plugdata.pipeline.triples import Ledger, TargetRow
from plugdata.translate.engine import TranslateReport

TARGET_DUPLICATE = "duplicate:target"  # the target instruction+response pair came before


class Sink(Protocol):
    """Where a language's routed rows go, chunk by chunk, laid out by its `layout`."""

    layout: Layout

    def write(self, result: ChunkResult) -> None: ...


@dataclass
class LanguageResult:
    """One target language checked, routed and handed to its sink: what the report and the
    manifest say about it."""

    lang: str
    ledger: Ledger
    made_by: str
    pivot_counts: dict[str, int]  # duplicates in the pivot corpus, for the summary
    translation: TranslateReport | None = None  # what a translated language sent and cost
    # Every alignment score, per target field (4 bytes a score: 8 MB at a million rows).
    alignment: dict[str, array] = field(default_factory=dict)


def run_language(recipe: Recipe, lang: str, sink: Sink, run: Run) -> LanguageResult:
    """Align (or translate), check and route one target language, `chunk_rows` pivot rows at a
    time, each chunk's rows to `sink` in order."""
    config = run.config
    checker = PivotChecker(recipe, run.contamination)
    if recipe.targets[lang].align is not None:  # reading its corpus overlaps starting Ray
        target = run.executor.meanwhile(lambda: target_side(recipe, lang, run))
    else:
        target = target_side(recipe, lang, run)
    job = ChunkJob(recipe, sink.layout, run.validator, run.contamination)
    runner = ChunkRunner(job, run.executor, config)
    ledger = Ledger()
    made_by: Counter = Counter()
    seen_targets = DigestSet()
    alignment: dict[str, array] = {}
    bar = tqdm(
        desc=f"{lang}",
        unit="row",
        disable=None if config.progress else True,  # None: only on a terminal
        leave=False,
    )

    def take(done: Iterator[ChunkResult]) -> None:
        for result in done:
            ledger.add(result.ledger)
            sink.write(result)
            for name, scores in result.scores.items():
                alignment.setdefault(name, array("f")).extend(scores)
            bar.update(result.ledger.rows_in)

    try:
        rows = target.rows(pivot_rows(recipe, run, checker))
        while chunk := list(islice(rows, config.chunk_rows)):
            made_by.update(row.made_by for row in chunk)
            take(runner.submit(chunk, early_reasons(recipe, chunk, seen_targets)))
        take(runner.drain())
        ledger.orphans = target.orphans if run.whole else None
        ledger.target_duplicates = target.duplicates
    finally:
        runner.close()
        bar.close()
        target.close()
    ledger.check(lang)
    made = describe_made_by(made_by)
    return LanguageResult(lang, ledger, made, checker.counts, target.report, alignment)


def plan_translation(recipe: Recipe, lang: str, run: Run) -> TranslateReport:
    """What translating `lang` would send and cost, read through the same pivot rows and checks
    as a run (rows that fail anyway are not counted), and nothing sent."""
    side = TranslatedSide(recipe, lang, run, dry_run=True)
    try:
        return side.plan(pivot_rows(recipe, run, PivotChecker(recipe, run.contamination)))
    finally:
        side.close()


def early_reasons(
    recipe: Recipe, chunk: list[TargetRow], seen_targets: DigestSet
) -> list[list[str]]:
    """Per row of a chunk, the reasons known before any content check: the pivot's problems,
    the target's, and a target pair that came before."""
    early = []
    for row in chunk:
        reasons = [*row.problems, *row.target_reasons]
        target = row.target
        if target is None:
            reasons.append("missing-target")
        elif target.problems:
            reasons += target.reasons("target")
        early.append(reasons)
    if recipe.dedupe:
        # Two pivot rows translated (or aligned) to the same target pair would train the
        # same target row twice: quarantined like a pivot duplicate, the first one kept.
        responses = recipe.responses
        clean = [i for i, reasons in enumerate(early) if not reasons]
        pairs = [
            digest(
                chunk[i].target.instruction, (chunk[i].target.response or "") if responses else ""
            )
            for i in clean
        ]
        for i, repeated in zip(clean, seen_targets.seen(pairs), strict=True):
            if repeated:
                early[i].append(TARGET_DUPLICATE)
    return early


def describe_made_by(counts: Counter) -> str:
    """One line for the manifest and card: the distinct producers, most frequent first."""
    return ", ".join(
        name if len(counts) == 1 else f"{name} ({n})" for name, n in counts.most_common()
    )
