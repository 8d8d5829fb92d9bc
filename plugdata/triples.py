"""Making triples (the rows of a language config) from a pivot record and its target record."""

from __future__ import annotations

from typing import Any

from plugdata.sources import Record


def row_ids(source_name: str, records: list[Record]) -> list[str]:
    """`<source>/<id>` from the id column, else `<source>/<zero-padded index>`."""
    return [
        f"{source_name}/{r.raw_id}" if r.raw_id is not None else f"{source_name}/{r.index:05d}"
        for r in records
    ]


def make_triple(
    row_id: str,
    source_name: str,
    pivot_lang: str,
    target_lang: str,
    pivot: Record,
    target: Record | None,
    made_by: str,
    *,
    responses: bool = True,
    keep: list[str] | None = None,
) -> dict[str, Any]:
    triple: dict[str, Any] = {
        "id": row_id,
        "source": source_name,
        "pivot_lang": pivot_lang,
        "target_lang": target_lang,
        "pivot_instruction": pivot.instruction,
        "target_instruction": target.instruction if target else "",
    }
    if responses:
        triple["pivot_response"] = pivot.response or ""
        triple["target_response"] = (target.response or "") if target else ""
    for extra in keep or []:
        value = pivot.extras.get(extra)
        triple[extra] = None if value is None else str(value)
    triple["meta"] = {
        "made_by": {
            "target_instruction": made_by,
            "target_response": made_by if responses else None,
        },
        "lid": [],
        "flags": [],
    }
    return triple
