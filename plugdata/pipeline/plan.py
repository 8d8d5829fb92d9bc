"""The plan a dry run prints: what a build would read, how each language would be made, and
where it would write, without reading a row or sending a request.
"""

from __future__ import annotations

from pathlib import Path

from plugdata.dataset import staging
from plugdata.dataset.folder import FolderError
from plugdata.pipeline.layout import Layout
from plugdata.pipeline.manifests import public_options
from plugdata.pipeline.recipe import Recipe
from plugdata.pipeline.targets import corpus_where


def _folder_state(recipe: Recipe, root: Path, force: bool) -> str:
    """What a build would find in the output folder, for the dry run."""
    try:
        existing = staging.inspect(root, recipe.file.name, force=force)
    except FolderError as err:
        return f"refused: {err}"
    if not root.exists():
        return "new"
    return f"{len(existing.configs)} configs there; other languages are kept"


def _describe_options(target, base_dir: Path) -> str:
    options = public_options(target.translate.options, base_dir)
    text = ", ".join(f"{k}={v}" for k, v in options.items()) or "default options"
    return text + " (estimate cost with: plugdata translate ... --dry-run)"


def plan_lines(
    recipe: Recipe, root: Path, langs: list[str], limit: int | None, force: bool
) -> list[str]:
    src = recipe.source
    plan = [
        f"recipe   {recipe.file} ({recipe.kind}, pivot {recipe.pivot})",
        f"source   {src.name}: {corpus_where(src)}" + (f" (first {limit} rows)" if limit else ""),
        f"output   {root} ({_folder_state(recipe, root, force)})",
    ]
    for lang in langs:
        target = recipe.targets[lang]
        configs = Layout.of(recipe, lang).configs
        if target.align is not None:
            how = f"align {corpus_where(target.align)} by {target.align.join}"
        else:
            options = _describe_options(target, recipe.base_dir)
            how = f"translate with {target.translate.backend} ({options})"
        plan.append(f"target   {lang}: {how} -> configs {', '.join(configs)}")
    v = recipe.validation
    plan.append(
        f"validate detector {v.detector}, thresholds {v.thresholds}, "
        f"short texts: {v.short_text} (< {v.min_letters} letters)"
    )
    if recipe.responses:
        plan.append(f"splits   validation share {recipe.splits.validation} by hash of id")
    return plan
