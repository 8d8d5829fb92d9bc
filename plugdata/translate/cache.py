"""The segment cache: SQLite (WAL), one row per translated unit, keyed by a content hash of
everything that determines the answer (backend, model, languages, prompt version, text).

Answers are committed in groups as they arrive (`plugdata.core.store.GroupedInserts`): a run
killed outright loses at most `MAX_PENDING` answers it received, in practice none or a few; a run
that returns, fails or is interrupted has committed every one (`flush`). Failures are never
stored.
Processes sharing the file claim what they send (`plugdata.core.claims`), so that none pays for
a segment another is translating.
`export`/`import_` move a cache as a parquet file so that anyone can rebuild a published
dataset without paying for a single request.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from plugdata.core.claims import CLAIMS_SCHEMA, Claims, ClaimSettings
from plugdata.core.options import TranslationCache
from plugdata.core.outputs import refuse_overwrite
from plugdata.core.store import GroupedInserts, Store, cache_dir
from plugdata.errors import PlugdataError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    source_lang TEXT NOT NULL,
    target_lang TEXT NOT NULL,
    version TEXT NOT NULL,
    source TEXT NOT NULL,
    translation TEXT NOT NULL
)
"""
_INSERT = "INSERT OR REPLACE INTO segments VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
# Answers the content checks rejected (an echo of the source, the wrong language), by key: a
# note beside the answer, never part of it. Written after the answer and rewritten whenever a
# row made of it is checked again, so a run killed in between leaves at worst a note that the
# next check corrects.
_REJECTED_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rejected (key TEXT PRIMARY KEY, reason TEXT NOT NULL)"
)
_SPACES = re.compile(r"[ \t]+")
# Answers received and not yet committed, at most: what a run killed outright can lose.
MAX_PENDING = 64


class Segment(NamedTuple):
    """One translated unit: a row of the cache, under the key of everything that decided it."""

    key: str
    backend: str
    model: str
    source_lang: str
    target_lang: str
    version: str
    source: str
    translation: str


COLUMNS = Segment._fields


def default_cache_path() -> Path:
    """translations.sqlite in `plugdata.core.store.cache_dir()`, beside the judge's cache."""
    return cache_dir() / "translations.sqlite"


def normalize_segment(text: str) -> str:
    """Segments differing only in surrounding or repeated whitespace share one translation."""
    return _SPACES.sub(" ", text).strip()


@dataclass
class Imported:
    rows: int
    skipped: int  # rows with a null or non-text value


def segment_key(
    backend: str, model: str, source_lang: str, target_lang: str, version: str, text: str
) -> str:
    payload = "\x1f".join(
        [backend, model, source_lang, target_lang, version, normalize_segment(text)]
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class SegmentCache:
    """Thread-safe: sending threads `put` as answers arrive, committed in groups (see the
    module's first lines); one connection, one lock. Every read and write other than `put`
    commits the answers waiting first, so this process reads what it put."""

    def __init__(self, path: Path, claims: ClaimSettings | None = None):
        self.path = Path(path)
        self._db = Store(self.path, _SCHEMA, *CLAIMS_SCHEMA, _REJECTED_SCHEMA)
        self._lock = threading.Lock()
        self._answers = GroupedInserts(self._db, self._lock, _INSERT, MAX_PENDING)
        # What processes sharing this file are sending now (`claims`: for tests).
        self.claims = Claims(self._db, self._lock, "segments", claims, self._answers)

    def _select_in(self, sql: str, keys: list[str]) -> dict[str, str]:
        """`sql` (with `{marks}` for the keys) over `keys` in chunks SQLite accepts."""
        found: dict[str, str] = {}
        with self._lock:
            self._answers.commit_held()
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                found.update(self._db.query(sql.format(marks=",".join("?" * len(chunk))), chunk))
        return found

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        return self._select_in(
            "SELECT key, translation FROM segments WHERE key IN ({marks})",
            list(dict.fromkeys(keys)),
        )

    def put(self, segment: Segment) -> None:
        self._answers.add(segment)

    def flush(self) -> None:
        """Commit every answer `put` so far (the senders call it when they stop, however they
        stop)."""
        self._answers.commit()

    def note_checks(self, rejected: dict[str, str], passed: Iterable[str]) -> None:
        """What the content checks said of rows made of these answers: `rejected` (key ->
        reason) are marked, `passed` are unmarked; one transaction."""
        passed = [(key,) for key in passed if key not in rejected]
        if not rejected and not passed:
            return
        with self._lock:
            self._answers.commit_held()
            with self._db.transaction() as db:
                db.executemany("DELETE FROM rejected WHERE key = ?", passed)
                db.executemany("INSERT OR REPLACE INTO rejected VALUES (?, ?)", rejected.items())

    def forget_rejected(self, keys: Iterable[str]) -> list[str]:
        """Drop the answers among `keys` that the checks rejected, so that they are asked for
        again (and claimed like any missing segment); returns their keys."""
        found = list(self.rejected(keys))
        if not found:
            return found
        with self._lock:
            self._answers.commit_held()
            with self._db.transaction() as db:
                for i in range(0, len(found), 500):
                    chunk = found[i : i + 500]
                    marks = ",".join("?" * len(chunk))
                    db.execute(f"DELETE FROM segments WHERE key IN ({marks})", chunk)
                    db.execute(f"DELETE FROM rejected WHERE key IN ({marks})", chunk)
        return found

    def rejected(self, keys: Iterable[str]) -> dict[str, str]:
        """Those of `keys` whose answers the checks rejected, with the reason."""
        return self._select_in(
            "SELECT key, reason FROM rejected WHERE key IN ({marks})", list(dict.fromkeys(keys))
        )

    def put_many(self, segments: list[Segment]) -> None:
        """Segments as `put` takes them, in one transaction: answers that Ray's sending actors
        sent back together."""
        with self._lock:
            self._answers.commit_held()
            self._db.write_many(_INSERT, segments)

    def export(self, out: Path) -> int:
        """Every segment to the parquet file `out`; returns how many."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not out.parent.is_dir():
            raise PlugdataError(f"{out.parent}: no such folder")
        with self._lock:
            self._answers.commit_held()
            rows = self._db.query(f"SELECT {', '.join(COLUMNS)} FROM segments ORDER BY key")
        table = pa.table(
            {c: [r[i] for r in rows] for i, c in enumerate(COLUMNS)},
            schema=pa.schema([(c, pa.string()) for c in COLUMNS]),
        )
        try:
            pq.write_table(table, out, compression="zstd")
        except OSError as exc:
            raise PlugdataError(f"{out}: cannot write ({exc.strerror or exc})") from None
        return table.num_rows

    def import_(self, file: Path) -> Imported:
        """The segments of a parquet file from `export`; rows with a null or non-text value are
        skipped and counted, a file without one usable row is an error."""
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(file)
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise PlugdataError(f"{file}: not a readable parquet file ({exc})") from None
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise PlugdataError(
                f"{file}: not a plugdata cache export (missing {', '.join(missing)})"
            )
        rows = list(zip(*(table[c].to_pylist() for c in COLUMNS), strict=True))
        good = [row for row in rows if all(isinstance(v, str) for v in row)]
        if rows and not good:
            raise PlugdataError(f"{file}: none of its {len(rows)} rows is complete text")
        with self._lock:
            self._answers.commit_held()
            self._db.write_many(_INSERT, good)
        return Imported(len(good), len(rows) - len(good))

    def close(self) -> None:
        """Commit the answers waiting, close the file."""
        with self._lock:
            try:
                self._answers.commit_held()
            finally:
                self._db.close()

    def __enter__(self) -> SegmentCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CacheExportOptions(BaseModel):
    """`plugdata cache export`."""

    model_config = ConfigDict(extra="forbid")

    file: Path = Field(
        description="The parquet file to write.",
        json_schema_extra={
            "argument": True,
            "metavar": "FILE",
            "path": "file",
            "io": "write",
            "role": "the export",
        },
    )
    cache_path: TranslationCache = None

    @property
    def cache(self) -> Path:
        return self.cache_path or default_cache_path()


class CacheImportOptions(CacheExportOptions):
    """`plugdata cache import`."""

    file: Path = Field(
        description="A parquet file from `plugdata cache export`.",
        json_schema_extra={
            "argument": True,
            "metavar": "FILE",
            "path": "file",
            "exists": True,
            "io": "read",
            "role": "the imported file",
        },
    )


def export_cache(options: CacheExportOptions) -> int:
    """Every segment of the cache to a parquet file; returns how many."""
    cache_path, file = options.cache, options.file
    if not cache_path.exists():
        raise PlugdataError(f"{cache_path}: no cache there (give --cache)")
    refuse_overwrite(reads=[("the cache", cache_path)], writes=[("the export", file)])
    with SegmentCache(cache_path) as cache:
        return cache.export(file)


def import_cache(options: CacheImportOptions) -> Imported:
    """The segments of a parquet file from `export_cache` into the cache."""
    cache_path, file = options.cache, options.file
    refuse_overwrite(reads=[("the imported file", file)], writes=[("the cache", cache_path)])
    with SegmentCache(cache_path) as cache:
        return cache.import_(file)
