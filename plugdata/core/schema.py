"""The rows plugdata writes, typed once: triples, method rows, quarantine rows.

Each row is a `TypedDict` (rows stay plain dicts, which pyarrow writes fastest), and every Arrow
schema is derived from these declarations, so the type checker and the parquet files agree. The
triple columns are the contract in DESIGN.md; keep this file and that table in step.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, is_dataclass
from typing import Union

import pyarrow as pa
from typing_extensions import NotRequired, TypedDict, is_typeddict


@dataclass
class LidResult:
    """One language-ID result for one field (validation's answer, and a row of `meta.lid`)."""

    field: str
    expected: str
    label: str
    score: float
    passed: bool
    # detector | script (zh/ko/ja: the script settled it; score is the script's share of words)
    # | short (too short: accepted or rejected by policy) | short-script (too short, by script)
    # | empty (`plugdata detect` only: no text at all, never a pass)
    basis: str


@dataclass
class AlignmentResult:
    """A target field scored against its pivot field (a row of `meta.alignment`): by which
    scorer (`name:model`), the score (higher is closer), and whether it passed."""

    field: str
    scorer: str
    score: float
    passed: bool


class MadeBy(TypedDict):
    """How each target field was made: `aligned:<corpus>` or `<backend>:<model>`."""

    target_instruction: str
    target_response: str | None  # None for eval sets, which have no responses


class Meta(TypedDict):
    made_by: MadeBy
    lid: list[LidResult]
    alignment: list[AlignmentResult]
    flags: list[str]


class Triple(TypedDict):
    """One row of a language config. Eval sets carry no responses; a recipe's `keep:` columns
    (of the kinds in `KEEP_TYPES`) sit between the target fields and `meta`."""

    id: str
    source: str
    pivot_lang: str
    target_lang: str
    pivot_instruction: str
    pivot_response: NotRequired[str]
    target_instruction: str
    target_response: NotRequired[str]
    meta: Meta


class Quarantined(Triple):
    """A triple that was not kept, with every reason (the first decides) and where it came
    from (`file:line`, never an absolute path)."""

    reason: str
    reasons: list[str]
    where: str


class Message(TypedDict):
    role: str
    content: str


class MethodRow(TypedDict):
    """One training row: TRL's conversational prompt-completion format."""

    id: str
    kind: str  # the method, or `pivot` for the paper's pivot-language rows
    prompt: list[Message]
    completion: list[Message]


RESPONSES = ("pivot_response", "target_response")


def arrow_type(annotation: typing.Any) -> pa.DataType:
    """The Arrow type of a row annotation: str, float, bool, `X | None`, lists, TypedDicts and
    dataclasses (as structs)."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return arrow_type(inner)
    if origin is list:
        return pa.list_(arrow_type(typing.get_args(annotation)[0]))
    if is_typeddict(annotation) or is_dataclass(annotation):
        hints = typing.get_type_hints(annotation)
        return pa.struct([(name, arrow_type(kind)) for name, kind in hints.items()])
    return {str: pa.string(), float: pa.float64(), bool: pa.bool_(), int: pa.int64()}[annotation]


def _fields(row: type) -> list[pa.Field]:
    return [pa.field(name, arrow_type(kind)) for name, kind in typing.get_type_hints(row).items()]


# The kinds of value a recipe's `keep:` column may hold, and how each is written: free text
# (the default, and every column of a `keep:` list), a number (a gold answer), a list of texts
# (reference answers).
KEEP_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "number": pa.float64(),
    "texts": pa.list_(pa.string()),
}


def triple_schema(responses: bool = True, extras: dict[str, str] | None = None) -> pa.Schema:
    """Triples for training corpora; eval sets (responses=False) carry instructions only.
    `extras`: the kept columns and their kinds (`KEEP_TYPES`), written before `meta`."""
    fields = [f for f in _fields(Triple) if responses or f.name not in RESPONSES]
    meta = fields.pop()
    fields += [pa.field(name, KEEP_TYPES[kind]) for name, kind in (extras or {}).items()]
    return pa.schema([*fields, meta])


def quarantine_schema(responses: bool = True, extras: dict[str, str] | None = None) -> pa.Schema:
    own = [f for f in _fields(Quarantined) if f.name not in typing.get_type_hints(Triple)]
    return pa.schema([*triple_schema(responses, extras), *own])


def reserved_columns() -> frozenset[str]:
    """Every column plugdata writes next to a recipe's `keep` columns, which may not reuse them."""
    return frozenset(quarantine_schema().names)


METHOD_ROW = pa.schema(_fields(MethodRow))
