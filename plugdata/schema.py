"""Arrow schemas of every table plugdata writes: triples, method rows, quarantine.

The triple columns are the contract in DESIGN.md; keep this file and that table in step.
"""

from __future__ import annotations

import pyarrow as pa

LID = pa.struct(
    [
        ("field", pa.string()),
        ("expected", pa.string()),
        ("label", pa.string()),
        ("score", pa.float64()),
        ("passed", pa.bool_()),
        ("basis", pa.string()),
    ]
)
META = pa.struct(
    [
        # How each target field was made: "aligned:<corpus>" or "<backend>:<model>".
        (
            "made_by",
            pa.struct([("target_instruction", pa.string()), ("target_response", pa.string())]),
        ),
        ("lid", pa.list_(LID)),
        ("flags", pa.list_(pa.string())),
    ]
)
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])

_BASE = [
    pa.field("id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("pivot_lang", pa.string()),
    pa.field("target_lang", pa.string()),
]


def triple_schema(responses: bool = True, extras: list[str] | None = None) -> pa.Schema:
    """Triples for training corpora; eval sets (responses=False) carry instructions only."""
    fields = list(_BASE)
    fields.append(pa.field("pivot_instruction", pa.string()))
    if responses:
        fields.append(pa.field("pivot_response", pa.string()))
    fields.append(pa.field("target_instruction", pa.string()))
    if responses:
        fields.append(pa.field("target_response", pa.string()))
    fields.extend(pa.field(name, pa.string()) for name in extras or [])
    fields.append(pa.field("meta", META))
    return pa.schema(fields)


def quarantine_schema(responses: bool = True, extras: list[str] | None = None) -> pa.Schema:
    base = triple_schema(responses, extras)
    return (
        base.append(pa.field("reason", pa.string()))
        .append(pa.field("reasons", pa.list_(pa.string())))
        .append(pa.field("where", pa.string()))
    )


def reserved_columns() -> frozenset[str]:
    """Every column plugdata writes next to a recipe's `keep` columns, which may not reuse them."""
    return frozenset(quarantine_schema().names)


METHOD_ROW = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("prompt", pa.list_(MESSAGE)),
        pa.field("completion", pa.list_(MESSAGE)),
    ]
)
