"""The SQLite files behind plugdata's caches (translations, judgments): how they are opened, how
long a lock held by another process is waited for, and the one-line errors for a locked or
damaged file, wherever the connection is used.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from plugdata.core.env import seconds_from_env
from plugdata.errors import PlugdataError

BUSY_TIMEOUT_ENV = "PLUGDATA_CACHE_BUSY_TIMEOUT"
DEFAULT_BUSY_TIMEOUT = 60.0  # seconds; another run's writes take milliseconds


def cache_dir() -> Path:
    """Where plugdata's caches live unless a `--cache` says otherwise: `$PLUGDATA_CACHE_DIR`,
    else `$XDG_CACHE_HOME/plugdata`, else `~/.cache/plugdata`. Read at each call, never at
    import, so that a test (or a notebook) can point it elsewhere."""
    base = os.environ.get("PLUGDATA_CACHE_DIR") or (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "plugdata"
    )
    return Path(base)


class CacheError(PlugdataError):
    """A cache file that is locked for too long, damaged, or not a database."""


def busy_timeout() -> float:
    """Seconds to wait for a lock another process holds: `$PLUGDATA_CACHE_BUSY_TIMEOUT`,
    else 60."""
    return seconds_from_env(BUSY_TIMEOUT_ENV, DEFAULT_BUSY_TIMEOUT)


def _is_storage_error(exc: sqlite3.DatabaseError) -> bool:
    """Errors of the file (locked, damaged, not a database, disk full), as opposed to errors of
    our SQL (ProgrammingError and friends), which are bugs and keep their traceback."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


def _is_lock_error(exc: sqlite3.DatabaseError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class Store:
    """One SQLite connection, shared by threads (callers hold their own lock), whose
    every use turns a locked or damaged file into a one-line `CacheError` naming it."""

    def __init__(self, path: Path, *schema: str):
        self.path = Path(path)
        self.timeout = busy_timeout()
        self.closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._errors():
            self._db = self._open(schema)

    def _open(self, schema: tuple[str, ...]) -> sqlite3.Connection:
        """The connection, set up. Processes that open a new file at the same moment race to
        switch it to WAL, and SQLite answers the loser "locked" at once, without waiting (its busy
        handler is not used there): so the set-up is tried again, after a short pause, until the
        busy timeout is spent."""
        deadline = time.monotonic() + self.timeout
        pause = 0.005
        while True:
            # Autocommit makes each answer durable the moment it is put; WAL lets readers run
            # beside the writer; the timeout makes a second process wait for a lock, not fail.
            db = sqlite3.connect(
                self.path, timeout=self.timeout, check_same_thread=False, isolation_level=None
            )
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                for statement in schema:
                    db.execute(statement)
                # Take the write lock once: a lock another process holds is met here, before
                # any request is paid for, rather than when the first answer is to be stored.
                db.execute("BEGIN IMMEDIATE")
                db.execute("ROLLBACK")
                return db
            except sqlite3.OperationalError as exc:
                db.close()
                if not _is_lock_error(exc) or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(pause * 2, 0.2)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if not _is_storage_error(exc):
                raise
            raise self._error(exc) from None

    def _error(self, exc: sqlite3.DatabaseError) -> CacheError:
        if _is_lock_error(exc):
            return CacheError(
                f"{self.path}: locked by another process for more than {self.timeout:g} s "
                f"(${BUSY_TIMEOUT_ENV}); finished answers stay in it: run again when the other "
                "process is done"
            )
        return CacheError(f"{self.path}: not a usable plugdata cache ({exc})")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """All rows of a SELECT (read inside the guard: damaged pages surface while reading)."""
        with self._errors():
            return self._db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._errors():
            self._db.execute(sql, params)

    def write_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """`sql` for every row, in one transaction: all of them or none."""
        with self._errors():
            # IMMEDIATE takes the write lock first, so the busy timeout applies to it.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction, for reads and writes that must see
        and change the file together (claims): committed at the end, rolled back on error."""
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")  # the write lock first: no upgrade deadlock
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        self.closed = True
        self._db.close()


class GroupedInserts:
    """Rows for one INSERT into a `Store`, committed in groups: a sending thread that finds the
    file free commits every row waiting, in one transaction; one that finds it busy (another
    thread committing, or reading) leaves its row waiting and goes back to work at once, unless
    `most` rows wait already, and then it waits to commit them. A commit per row, under one lock,
    had dozens of sending threads queueing for the file (profiled: a third of a run's time).

    So a process killed outright loses at most `most` rows; `commit()` (which the callers make
    before they read, claim or close) leaves none waiting. `lock` is the one that guards the
    store's connection."""

    def __init__(self, store: Store, lock: threading.Lock, sql: str, most: int = 64) -> None:
        self._store, self._lock, self._sql, self.most = store, lock, sql, most
        self._rows: list[Sequence[Any]] = []
        self._guard = threading.Lock()  # the list only: never held while the file is written

    def add(self, row: Sequence[Any]) -> None:
        with self._guard:
            self._rows.append(row)
            full = len(self._rows) >= self.most
        if self._lock.acquire(blocking=full):
            try:
                self.commit_held()
            finally:
                self._lock.release()

    def commit(self) -> None:
        """Commit every row added so far."""
        with self._lock:
            self.commit_held()

    def commit_held(self) -> None:
        """`commit`, for a caller that holds the store's lock already."""
        with self._guard:
            rows, self._rows = self._rows, []
        if rows and self._store.closed:  # a sending thread still in flight after Ctrl-C
            raise CacheError(
                f"{self._store.path}: closed; answers that came after are not kept ({len(rows)})"
            )
        if rows:
            self._store.write_many(self._sql, rows)
