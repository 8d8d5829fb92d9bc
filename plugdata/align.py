"""Joining a target-language corpus to the pivot corpus: by row index, by id, or by a key column."""

from __future__ import annotations

from dataclasses import dataclass

from plugdata.errors import SourceError
from plugdata.recipe import Align
from plugdata.sources import Record


@dataclass
class Alignment:
    matches: list[Record | None]  # one per pivot record, None when the target lacks it
    orphans: int  # target rows that match no pivot row
    duplicates: int  # target rows whose join key was already taken


def _key(record: Record, spec: Align, side: str) -> str | None:
    if spec.join == "id":
        return record.raw_id
    column = spec.key.pivot if side == "pivot" else spec.key.target
    value = record.extras.get(column)
    return None if value is None else str(value).strip()


def align(pivot: list[Record], target: list[Record], spec: Align, label: str) -> Alignment:
    if spec.join == "index":
        if len(pivot) != len(target):
            raise SourceError(
                f"{label}: cannot join by index: the pivot corpus has {len(pivot)} rows and this "
                f"one {len(target)}; join by `id` or `key` instead"
            )
        return Alignment(list(target), orphans=0, duplicates=0)
    if spec.join == "id" and pivot and pivot[0].raw_id is None:
        raise SourceError(
            f"{label}: join: id needs an id column in the pivot corpus (set `source.columns.id`)"
        )
    by_key: dict[str, Record] = {}
    duplicates = 0
    for record in target:
        key = _key(record, spec, "target")
        if key is None:
            raise SourceError(f"{record.where}: no join key ({spec.join}) in this row")
        if key in by_key:
            duplicates += 1
            continue
        by_key[key] = record
    matches = [by_key.get(_key(p, spec, "pivot") or "") for p in pivot]
    used = {_key(p, spec, "pivot") for p in pivot}
    orphans = sum(1 for k in by_key if k not in used)
    return Alignment(matches, orphans=orphans, duplicates=duplicates)
