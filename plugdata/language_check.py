"""One target language of a build: its target rows (aligned from a corpus, or translated), the
triples made from them, checked and routed to kept or quarantine, with one ledger. Nothing is
written here; `configs` writes what a language kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from tqdm.auto import tqdm

from plugdata.align import Alignment, align
from plugdata.recipe import Align, Corpus, Recipe, Translate
from plugdata.schema import quarantine_schema
from plugdata.sources import Record, read_records
from plugdata.triples import Ledger, Router, make_triple
from plugdata.validate import Validator

TARGET_DUPLICATE = "duplicate:target"  # the target instruction+response pair came before


def pivot_problems(
    recipe: Recipe, records: list[Record], ids: list[str]
) -> tuple[list[list[str]], dict[str, int]]:
    """Per pivot record: problems that fail it in every language (duplicates, bad values)."""
    seen_ids: set[str] = set()
    seen_content: set[tuple[str, str]] = set()
    seen_instructions: set[str] = set()
    counts = {
        "duplicate ids": 0,
        "duplicate instruction+response pairs": 0,
        "repeated instructions (different responses, kept)": 0,
    }
    problems: list[list[str]] = []
    for record, row_id in zip(records, ids, strict=True):
        found = record.reasons("pivot")
        if record.raw_id is None and recipe.source.columns.id is not None:
            found.append("missing-id")
        if row_id in seen_ids:
            found.append("duplicate-id")
            counts["duplicate ids"] += 1
        seen_ids.add(row_id)
        instruction = record.instruction
        content = (instruction, record.response or "")
        if recipe.dedupe and content in seen_content and "duplicate-id" not in found:
            found.append("duplicate")
            counts["duplicate instruction+response pairs"] += 1
        elif instruction in seen_instructions and content not in seen_content:
            counts["repeated instructions (different responses, kept)"] += 1
        seen_content.add(content)
        seen_instructions.add(instruction)
        problems.append(found)
    return problems, counts


@dataclass
class LanguageResult:
    """One target language checked: its ledger and rows, not yet written anywhere."""

    lang: str
    ledger: Ledger
    kept: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]
    made_by: str
    spec: Corpus | Translate

    def quarantine_table(self, recipe: Recipe) -> pa.Table:
        schema = quarantine_schema(recipe.kind == "train", recipe.kept_columns(self.lang))
        return pa.Table.from_pylist(self.quarantined, schema=schema)


def check_language(
    recipe: Recipe,
    lang: str,
    pivot: list[Record],
    ids: list[str],
    pivot_problems: list[list[str]],
    validator: Validator,
    limit: int | None,
    progress: bool,
) -> LanguageResult:
    """Align (or translate), check and route one target language."""
    train = recipe.kind == "train"
    target = _target_rows(recipe, lang, pivot, pivot_problems, limit, progress)
    alignment = target.alignment
    ledger = Ledger(
        orphans=None if limit else alignment.orphans, target_duplicates=alignment.duplicates
    )

    triples, early = _triples(recipe, lang, pivot, ids, pivot_problems, target)

    # Pass 2: content checks (in worker processes for big builds), then routing.
    to_check = [t for t, r in zip(triples, early, strict=True) if not r]
    verdicts = iter(
        tqdm(
            validator.check_many(to_check, responses=train),
            total=len(to_check),
            desc=f"validate {lang}",
            unit="row",
            disable=None if progress else True,  # None: only on a terminal
            leave=False,
        )
    )
    router = Router(ledger)
    for triple, reasons, record, match in zip(
        triples, early, pivot, alignment.matches, strict=True
    ):
        if not reasons:
            verdict = next(verdicts)
            triple["meta"]["lid"] = verdict.lid_rows()
            triple["meta"]["flags"] += verdict.flags
            reasons = verdict.reasons
            if reasons and recipe.failure_action == "flag":
                triple["meta"]["flags"] += [f"failed:{r}" for r in reasons]
                ledger.flagged[reasons[0]] += 1
                reasons = []
        where = record.where + (f" | {match.where}" if match and match.where else "")
        router.route(triple, reasons, where)
    ledger.check(lang)
    made_by = describe_made_by(target.made_by)
    return LanguageResult(lang, ledger, router.kept, router.quarantined, made_by, target.spec)


def _triples(
    recipe: Recipe,
    lang: str,
    pivot: list[Record],
    ids: list[str],
    pivot_problems: list[list[str]],
    target: TargetRows,
) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """Pass 1 of a language: its triples, and the reasons known before any content check."""
    triples: list[dict[str, Any]] = []
    early: list[list[str]] = []
    seen_targets: set[tuple[str, str]] = set()
    rows = zip(pivot, ids, pivot_problems, target.alignment.matches, target.made_by, strict=True)
    for i, (record, row_id, pivot_found, match, row_made_by) in enumerate(rows):
        triple = make_triple(
            row_id,
            recipe.source.name,
            recipe.pivot,
            lang,
            record,
            match,
            row_made_by,
            responses=recipe.kind == "train",
            keep=recipe.source.keep,
            target_keep=target.spec.keep if isinstance(target.spec, Align) else None,
        )
        triple["meta"]["flags"] = list(target.flags[i])
        triples.append(triple)
        reasons = list(pivot_found) + target.reasons[i]
        if match is None:
            reasons.append("missing-target")
        else:
            reasons += match.reasons("target")
        if recipe.dedupe and not reasons:
            # Two pivot rows translated (or aligned) to the same target pair would train the
            # same target row twice: quarantined like a pivot duplicate, the first one kept.
            pair = (triple["target_instruction"], triple.get("target_response") or "")
            if pair in seen_targets:
                reasons.append(TARGET_DUPLICATE)
            seen_targets.add(pair)
        early.append(reasons)
    return triples, early


@dataclass
class TargetRows:
    """A target language's side of every pivot row: the matched record (or None), how it was
    made, reasons known already (could not be translated) and flags for `meta.flags`."""

    spec: Corpus | Translate
    alignment: Alignment
    made_by: list[str]
    reasons: list[list[str]]
    flags: list[list[str]]


def _target_rows(
    recipe: Recipe,
    lang: str,
    pivot: list[Record],
    pivot_problems: list[list[str]],
    limit: int | None,
    progress: bool,
) -> TargetRows:
    spec = recipe.targets[lang].align
    if spec is None:
        skip = [bool(found) for found in pivot_problems]
        return _translate_target(recipe, lang, pivot, skip, progress)
    label = corpus_where(spec)
    target_records = read_records(
        spec,
        recipe.base_dir,
        need_response=recipe.kind == "train",
        keep={
            **({spec.key.target: "text"} if spec.join == "key" else {}),
            **spec.keep,
        },
        limit=limit if spec.join == "index" else None,
    )
    empty: list[list[str]] = [[] for _ in pivot]
    alignment = align(pivot, target_records, spec, label)
    return TargetRows(spec, alignment, [f"aligned:{label}"] * len(pivot), empty, empty)


def _translate_target(
    recipe: Recipe, lang: str, pivot: list[Record], skip: list[bool], progress: bool
) -> TargetRows:
    """Target records made by machine translation, one per pivot record, with per-row
    provenance, the reasons rows could not be translated and the backends' last error. Rows
    marked in `skip` (quarantined whatever their translation) are not sent: nobody pays."""
    from plugdata.translate.cache import SegmentCache
    from plugdata.translate.engine import Outcome, translate_records
    from plugdata.translate.job import default_cache_path, make_translator

    spec = recipe.targets[lang].translate
    where = f"{recipe.file}: targets.{lang}.translate"
    languages = recipe.language_table
    translators = [make_translator(spec.backend, spec.options, where, languages)] + [
        make_translator(f.backend, f.options, f"{where}.fallback", languages) for f in spec.fallback
    ]
    cache_file = Path(spec.cache) if spec.cache else default_cache_path()
    if not cache_file.is_absolute():
        cache_file = recipe.base_dir / cache_file
    cache = SegmentCache(cache_file)
    fields = ("instruction", "response") if recipe.kind == "train" else ("instruction",)
    todo = [p for p, skipped in zip(pivot, skip, strict=True) if not skipped]
    try:
        answered, _ = translate_records(
            todo,
            recipe.pivot,
            lang,
            translators,
            cache,
            fields=fields,
            workers=spec.workers,
            max_cost=spec.max_cost,
            progress=progress,
            languages=languages,
        )
    finally:
        cache.close()
        for translator in translators:
            translator.close()
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
    return TargetRows(
        spec,
        Alignment(records, orphans=0, duplicates=0),
        [o.made_by or f"{spec.backend}:failed" for o in outcomes],
        [[o.reason] if o.reason else [] for o in outcomes],
        [o.flags for o in outcomes],
    )


def describe_made_by(made_by: list[str]) -> str:
    """One line for the manifest and card: the distinct producers, most frequent first."""
    counts = Counter(made_by)
    return ", ".join(
        name if len(counts) == 1 else f"{name} ({n})" for name, n in counts.most_common()
    )


def corpus_where(corpus) -> str:
    """How a corpus is named in reports and in `meta.made_by`: never an absolute local path."""
    if corpus.path is not None:
        return corpus.path if corpus.path.startswith("builtin:") else Path(corpus.path).name
    files = f" {corpus.hub.data_files}" if corpus.hub.data_files else ""
    return f"hub {corpus.hub.repo}@{corpus.hub.revision}{files}"
