"""The evaluation sets a training recipe is checked against (`decontaminate:`), read into one
`ContaminationIndex`: the instructions, in every language they come in, of a dataset folder
built from an eval recipe, of a file of items, or of an eval recipe's corpora as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from plugdata.checks.contamination import ContaminationIndex
from plugdata.core.redact import public_path
from plugdata.dataset.folder import read_manifest
from plugdata.errors import PlugdataError
from plugdata.pipeline.recipe import EvalSet, Recipe, load_recipe
from plugdata.sources.corpus import Columns, Corpus
from plugdata.sources.read import iter_records

INSTRUCTIONS = ("pivot_instruction", "target_instruction")


def contamination_index(recipe: Recipe) -> ContaminationIndex | None:
    """Every evaluation set of the recipe in one index (None: the recipe names none)."""
    if not recipe.decontaminate:
        return None
    index = ContaminationIndex()
    for spec in recipe.decontaminate:
        for text in eval_texts(spec, recipe.base_dir):
            index.add(spec.name, text)
        if not index.items.get(spec.name):
            raise PlugdataError(
                f"{recipe.file}: decontaminate {spec.name}: no evaluation item found in "
                f"{describe(spec, recipe.base_dir)['from']}"
            )
    return index


def describe(spec: EvalSet, base_dir: Path) -> dict[str, Any]:
    """How the manifest and the card name an evaluation set: never by an absolute path."""
    where = spec.folder or spec.path or spec.recipe
    kind = "folder" if spec.folder else "file" if spec.path else "recipe"
    return {"name": spec.name, "kind": kind, "from": public_path(where, base_dir)}


def eval_texts(spec: EvalSet, base_dir: Path) -> Iterator[str]:
    """The instructions of an evaluation set, in every language it has."""
    if spec.folder is not None:
        yield from _folder_texts(_resolve(spec.folder, base_dir))
    elif spec.path is not None:
        columns = Columns(instruction=spec.column)
        corpus = Corpus(path=str(_resolve(spec.path, base_dir)), columns=columns)
        for record in iter_records(corpus, base_dir, need_response=False):
            yield record.instruction
    else:
        local = {code: str(_resolve(path, base_dir)) for code, path in spec.corpus.items()}
        recipe = load_recipe(_resolve(spec.recipe, base_dir), local)
        corpora = [recipe.source, *(t.align for t in recipe.targets.values() if t.align)]
        for corpus in corpora:
            for record in iter_records(corpus, recipe.base_dir, need_response=False):
                yield record.instruction


def _folder_texts(root: Path) -> Iterator[str]:
    import pyarrow.parquet as pq

    for info in read_manifest(root).configs.values():
        if info.type == "method":
            continue  # rendered from the same triples
        for rel in info.files:
            table = pq.read_table(root / rel, columns=list(INSTRUCTIONS))
            for column in INSTRUCTIONS:
                yield from (text for text in table.column(column).to_pylist() if text)


def _resolve(path: str, base_dir: Path) -> Path:
    resolved = Path(path)
    return resolved if resolved.is_absolute() else base_dir / resolved
