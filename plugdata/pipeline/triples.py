"""The rows the pipeline streams (`TargetRow`), the triples made of them (the rows of a language
config), and the routing of each finished one to the kept rows or the quarantine, counted in one
ledger."""

from __future__ import annotations

import dataclasses
import io
import operator
import pickle
import typing
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from plugdata.core.schema import Quarantined, Triple
from plugdata.errors import PlugdataError
from plugdata.sources.corpus import keep_kind
from plugdata.sources.read import Record


def row_id(source_name: str, record: Record) -> str:
    """`<source>/<id>` from the id column, else `<source>/<zero-padded index>`."""
    if record.raw_id is not None:
        return f"{source_name}/{record.raw_id}"
    return f"{source_name}/{record.index:05d}"


class TargetRow(NamedTuple):
    """One pivot row with its target side, as the pipeline streams it: the pivot record, its
    id, the problems that fail it in every language; the target record (None: no match in
    the target corpus), how that was made, why it failed (a translation that did not come back)
    and what `meta.flags` notes about it."""

    pivot: Record
    id: str
    problems: list[str]
    target: Record | None
    made_by: str
    target_reasons: list[str]
    flags: list[str]


class PackedRows:
    """A slice of a chunk as it travels to a worker process (or Ray actor): one list of plain
    tuples, pickled apart without pickle's memo (rows are trees of strings, lists and dicts; no
    object of a row is shared with another that the rows' users could tell), and unpickled there
    as the list of `TargetRow`s itself. Pickling `TargetRow`s with their `Record` dataclasses
    called back into Python for every object, and took more of the build's own process than any
    stage it runs itself."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[TargetRow]) -> None:
        self.rows = rows

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        fields = _RECORD_FIELDS
        packed = [
            (
                fields(row.pivot),
                None if row.target is None else fields(row.target),
                row.id,
                row.problems,
                row.made_by,
                row.target_reasons,
                row.flags,
            )
            for row in self.rows
        ]
        data = io.BytesIO()
        pickler = pickle.Pickler(data, pickle.HIGHEST_PROTOCOL)
        pickler.fast = True  # no memo: a third less time, for rows that share nothing
        pickler.dump(packed)
        return _unpack_rows, (data.getvalue(),)


# A record's fields as a tuple, in `Record`'s order (taken in C, not by a Python function).
_RECORD_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(Record)))


def _unpack_rows(data: bytes) -> list[TargetRow]:
    return [
        TargetRow(
            Record(*pivot), row_id, problems, None if target is None else Record(*target), *rest
        )
        for pivot, target, row_id, problems, *rest in pickle.loads(data)
    ]


@dataclass(frozen=True)
class TripleMaker:
    """Makes one language's triples. `keep` and `target_keep`: the extra columns carried from
    the pivot and the target record, with their kinds (a recipe's `keep:`)."""

    source_name: str
    pivot_lang: str
    target_lang: str
    responses: bool = True
    keep: dict[str, str] = field(default_factory=dict)
    target_keep: dict[str, str] = field(default_factory=dict)

    def __call__(self, row: TargetRow) -> Triple:
        pivot, target = row.pivot, row.target
        triple: dict[str, Any] = {
            "id": row.id,
            "source": self.source_name,
            "pivot_lang": self.pivot_lang,
            "target_lang": self.target_lang,
            "pivot_instruction": pivot.instruction,
            "target_instruction": target.instruction if target else "",
        }
        if self.responses:
            triple["pivot_response"] = pivot.response or ""
            triple["target_response"] = (target.response or "") if target else ""
        for record, columns in ((pivot, self.keep), (target, self.target_keep)):
            for extra, kind in columns.items():
                value = record.extras.get(extra) if record else None
                text = keep_kind(kind)[0] == "text"
                triple[extra] = str(value) if text and value is not None else value
        made_by = row.made_by
        triple["meta"] = {
            "made_by": {
                "target_instruction": made_by,
                "target_response": made_by if self.responses else None,
            },
            "lid": [],
            "alignment": [],
            "flags": list(row.flags),
        }
        return typing.cast(Triple, triple)


class LedgerError(PlugdataError):
    """Rows were lost between reading and writing: a bug, reported rather than written."""


@dataclass
class Ledger:
    """Counts for one language: every row read ends up kept or quarantined with a reason."""

    rows_in: int = 0
    kept: int = 0
    quarantined: Counter = field(default_factory=Counter)
    flagged: Counter = field(default_factory=Counter)  # kept despite a failed check (eval sets)
    orphans: int | None = 0  # target rows matching no pivot row (None: not counted, --limit)
    target_duplicates: int = 0

    def add(self, other: Ledger) -> None:
        """Count a chunk's ledger (rows, kept, quarantined, flagged) into this one."""
        self.rows_in += other.rows_in
        self.kept += other.kept
        self.quarantined.update(other.quarantined)
        self.flagged.update(other.flagged)

    def check(self, lang: str) -> None:
        total = self.kept + sum(self.quarantined.values())
        if total != self.rows_in:  # never write a manifest that lies about the counts
            raise LedgerError(f"{lang}: ledger off: {self.rows_in} in, {total} accounted for")


@dataclass
class Router:
    """Sends each finished triple to the kept rows or, with its reasons and where it came
    from, to the quarantine, counting both in one ledger."""

    ledger: Ledger = field(default_factory=Ledger)
    kept: list[Triple] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)

    def route(self, triple: Triple, reasons: list[str], where: str) -> None:
        self.ledger.rows_in += 1
        if reasons:
            self.quarantined.append(
                Quarantined(**triple, reason=reasons[0], reasons=reasons, where=where)
            )
            self.ledger.quarantined[reasons[0]] += 1
        else:
            self.kept.append(triple)
            self.ledger.kept += 1
