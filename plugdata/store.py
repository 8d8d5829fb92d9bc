"""Opening the SQLite files behind plugdata's caches (translations, judgments)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from plugdata.errors import PlugdataError


def open_store(path: Path, *schema: str) -> sqlite3.Connection:
    """A connection shared by worker threads (callers hold their own lock). Autocommit makes
    each answer durable the moment it is put; WAL lets readers run beside the writer. A file
    that is not a usable database is a one-line error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for statement in schema:
            db.execute(statement)
    except sqlite3.DatabaseError as exc:
        raise PlugdataError(f"{path}: not a usable plugdata cache ({exc})") from None
    return db
