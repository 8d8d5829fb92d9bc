"""Where a corpus is and how its rows are read: a local file or a Hub dataset, which column plays
which role, the extra columns carried along, and how a target-language corpus joins the pivot
corpus. Recipes (`pipeline.recipe`) and `plugdata translate` and `detect` describe their inputs
with these models; unknown keys are errors.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from plugdata.core.schema import KEEP_TYPES, reserved_columns

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
BUILTIN_PREFIX = "builtin:"
# A packaged corpus: a relative path of plain names under plugdata/sources/corpora, so that no
# `..`, absolute path, backslash or hidden name can lead out of the package.
_BUILTIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def builtin_name_ok(name: str) -> str:
    """The NAME of `builtin:NAME`, refused unless it is plain names joined by `/`.

    >>> builtin_name_ok("demo/zh.jsonl")
    'demo/zh.jsonl'
    """
    if not _BUILTIN.match(name):
        raise ValueError(
            f"{BUILTIN_PREFIX}{name}: not a packaged corpus; write builtin:FOLDER/FILE with plain "
            "names (letters, digits, '.', '_', '-'), such as builtin:demo/zh.jsonl"
        )
    return name


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Text = Annotated[str, AfterValidator(not_blank)]  # a name or header: empty means a typo


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Columns(Strict):
    """Which source column plays which role; unset roles are detected from common names."""

    instruction: Text | None = Field(None, description="instruction column (Alpaca: instruction)")
    input: Text | None = Field(None, description="optional context joined to the instruction")
    response: Text | None = Field(None, description="response column (Alpaca: output)")
    id: Text | None = Field(None, description="stable id column; row index when absent")


class HubSpec(Strict):
    repo: Text = Field(description="Hub dataset id, e.g. zhihz0535/X-AlpacaEval")
    revision: Text = Field(
        "main", description="branch, tag or commit; pin a commit for reproducibility"
    )
    split: Text = "train"
    config: Text | None = None
    data_files: Text | list[Text] | None = None


class Corpus(Strict):
    """A local file (json, jsonl, csv, parquet) or a Hub dataset."""

    path: Text | None = Field(
        None, description="local file; relative to the recipe, or builtin:NAME"
    )
    hub: HubSpec | None = None
    format: Literal["auto", "json", "jsonl", "csv", "parquet"] = "auto"
    columns: Columns = Field(default_factory=Columns)

    @model_validator(mode="after")
    def _one_location(self) -> Corpus:
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of `path` or `hub`")
        return self

    @field_validator("path")
    @classmethod
    def _builtin_ok(cls, v: str | None) -> str | None:
        if v is not None and v.startswith(BUILTIN_PREFIX):
            builtin_name_ok(v[len(BUILTIN_PREFIX) :])
        return v


def _keep_columns(keep: Any) -> Any:
    """`keep:` as column -> kind: a list names text columns. A kept column sits next to
    plugdata's own in the triples and quarantine tables, and the same name twice makes a parquet
    file that nothing can read back."""
    names = list(keep) if isinstance(keep, (list, dict)) else []
    taken = reserved_columns()
    for i, name in enumerate(names):
        if name in taken:
            raise ValueError(
                f"{name!r} is a column plugdata writes itself ({', '.join(sorted(taken))})"
            )
        if name in names[:i]:
            raise ValueError(f"{name!r} is listed twice")
    return dict.fromkeys(keep, "text") if isinstance(keep, list) else keep


# Extra columns to carry into the triples: a list of names (text), or names with the kind of
# value each holds (`plugdata.core.schema.KEEP_TYPES`), e.g. `{answer: number}` for a gold answer.
# A kind ending in `?` (`text?`) marks a column the corpus may lack: its rows then carry null.
KEEP_KINDS = (*KEEP_TYPES, *(f"{kind}?" for kind in KEEP_TYPES))
Keep = Annotated[dict[Text, Literal[KEEP_KINDS]], BeforeValidator(_keep_columns)]


def keep_kind(kind: str) -> tuple[str, bool]:
    """A `keep:` kind as (the kind in `KEEP_TYPES`, whether the column may be missing).

    >>> keep_kind("text?"), keep_kind("texts")
    (('text', True), ('texts', False))
    """
    return kind.removesuffix("?"), kind.endswith("?")


class Source(Corpus):
    name: str = Field(description="corpus name; ids are `<name>/<id or index>`")
    keep: Keep = Field(
        default_factory=dict,
        description="extra source columns to carry: names (text), or name: kind (text, number, "
        "texts; with a trailing ? the column may be missing, e.g. text?)",
    )

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use letters, digits, '.', '_' or '-'")
        return v


class KeySpec(Strict):
    pivot: Text
    target: Text


class Align(Corpus):
    """Target fields taken from an existing translation of the source corpus."""

    join: Literal["index", "id", "key"] = Field(
        "id", description="match rows by position, by their id columns, or by a key column"
    )
    key: KeySpec | None = None
    keep: Keep = Field(
        default_factory=dict,
        description="extra columns of this corpus to carry (an eval set's references in this "
        "language): names, or name: kind",
    )

    @model_validator(mode="after")
    def _key_given(self) -> Align:
        if self.join == "key" and self.key is None:
            raise ValueError("join: key needs `key: {pivot: COLUMN, target: COLUMN}`")
        return self
