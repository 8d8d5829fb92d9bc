"""Joining a target-language corpus to the pivot corpus: by row index, by id, or by a key column.

The target corpus is spilled to a SQLite file keyed by its join key, so that aligning holds one
chunk of pivot rows and their matches, never the target corpus: memory stays flat whatever the
corpus size (the file takes about the corpus's own size on disk, in the system's temp folder).
The first target row with a key wins; later ones are counted as duplicates. Which keys matched
is marked in the file, to count the target rows no pivot row used.
"""

from __future__ import annotations

import pickle
import sqlite3
import tempfile
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from plugdata.core import leftovers
from plugdata.errors import SourceError
from plugdata.sources.corpus import Align
from plugdata.sources.read import Record

SPILL_NAME = ("plugdata-align-", ".sqlite")  # a spilled target corpus, in the temp folder
_BATCH = 2_000  # target records inserted per statement
_LOOKUP = 900  # keys looked up per statement (SQLite allows 999 parameters at the least)


def _dumps(record: Record) -> bytes:
    # A plain tuple: much faster to load than a pickled dataclass.
    fields = (record.index, record.where, record.raw_id, record.instruction, record.response)
    return pickle.dumps((*fields, record.extras, record.problems), pickle.HIGHEST_PROTOCOL)


def _key(record: Record, spec: Align, side: str) -> str | None:
    if spec.join == "id":
        return record.raw_id
    if spec.join == "index":
        return str(record.index)
    column = spec.key.pivot if side == "pivot" else spec.key.target
    value = record.extras.get(column)
    return None if value is None else str(value).strip()


def _refused(record: Record) -> bool:
    return any(p.endswith(":row") for p in record.problems)


class TargetIndex:
    """A target corpus by join key, on disk; `matches` finds pivot records' partners."""

    def __init__(self, target: Iterable[Record], spec: Align, label: str) -> None:
        self.spec, self.label = spec, label
        # Held (locked) by this process while it lives: a killed build's file is removed by
        # the next build's (`leftovers`).
        self._file, self._owned = leftovers.create(Path(tempfile.gettempdir()), *SPILL_NAME)
        self._db: sqlite3.Connection | None = None
        try:
            # Used by one thread at a time, not always the one that made it (the index may be
            # built while Ray starts: `Executor.meanwhile`).
            self._db = sqlite3.connect(self._file, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute(
                "CREATE TABLE target (key TEXT PRIMARY KEY, record BLOB, used INTEGER DEFAULT 0)"
            )
            self.rows = 0  # target rows read
            self.duplicates = 0  # target rows whose join key was already taken
            # Target rows the JSON decoder refused (`Refused`): their key is unknown, so the pivot
            # row they belong to finds no partner and is quarantined for that.
            self.unreadable = 0
            records = iter(target)
            while batch := list(islice(records, _BATCH)):
                if spec.join != "index":
                    whole = [r for r in batch if not (r.raw_id is None and _refused(r))]
                    self.unreadable += len(batch) - len(whole)
                    self.rows += len(batch) - len(whole)
                    batch = whole
                before = self._db.total_changes
                self._db.executemany(
                    "INSERT OR IGNORE INTO target (key, record) VALUES (?, ?)",
                    ((self._target_key(r), _dumps(r)) for r in batch),
                )
                self.rows += len(batch)
                self.duplicates += len(batch) - (self._db.total_changes - before)
            self._db.commit()
        except BaseException:  # a row without a key, a Ctrl-C: no spill file outlives it
            self.close()
            raise

    def _target_key(self, record: Record) -> str:
        key = _key(record, self.spec, "target")
        if key is None:
            raise SourceError(f"{record.where}: no join key ({self.spec.join}) in this row")
        return key

    def check_pivot(self, first: Record, pivot_rows: int | None) -> None:
        """Refuse a join the pivot corpus cannot make, before any row is matched."""
        if self.spec.join == "index" and pivot_rows != self.rows:
            raise SourceError(
                f"{self.label}: cannot join by index: the pivot corpus has {pivot_rows} rows and "
                f"this one {self.rows}; join by `id` or `key` instead"
            )
        if self.spec.join == "id" and first.raw_id is None:
            raise SourceError(
                f"{self.label}: join: id needs an id column in the pivot corpus "
                "(set `source.columns.id`)"
            )

    def matches(self, pivot: list[Record]) -> list[Record | None]:
        """The partner of each pivot record (None when the target lacks it), looked up in
        batches."""
        keys = [_key(p, self.spec, "pivot") for p in pivot]
        wanted = list({key or "" for key in keys})
        found = dict(self._where_in("SELECT key, record FROM target WHERE key IN ({})", wanted))
        used = list({key for key in keys if key is not None and key in found})
        self._where_in("UPDATE target SET used = 1 WHERE key IN ({})", used)
        return [
            None if (blob := found.get(key or "")) is None else Record(*pickle.loads(blob))
            for key in keys
        ]

    def _where_in(self, sql: str, keys: list[str]) -> list[tuple]:
        """The rows of `sql`, whose `IN ({})` takes `keys`, `_LOOKUP` at a time (SQLite caps
        the parameters of one statement)."""
        rows: list[tuple] = []
        for start in range(0, len(keys), _LOOKUP):
            part = keys[start : start + _LOOKUP]
            rows += self._db.execute(sql.format(",".join("?" * len(part))), part).fetchall()
        return rows

    @property
    def orphans(self) -> int:
        """Target rows (one per key) that no pivot row matched so far."""
        unused = self._db.execute("SELECT count(*) FROM target WHERE used = 0").fetchone()[0]
        return unused + self.unreadable

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
        self._file.unlink(missing_ok=True)
        leftovers.release(self._owned)
