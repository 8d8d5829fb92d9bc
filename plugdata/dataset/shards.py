"""One split of a config written as it streams by: bounded parquet shards with the names the Hub
expects (`train-00000-of-00003.parquet`), a row count, and a content hash that does not depend on
how the rows were chunked or sharded.

A shard holds at most `shard_rows` rows (a build's `--shard-rows`). Rows arrive in chunks;
each chunk becomes one or more row groups of the open shard, so the writer holds no more than one
chunk. Shards are written under hidden names and get their final `-of-NNNNN` names once the split
is complete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Rows per shard. Rows rather than bytes so that a shard's name can be known from the counts
# alone; at the paper's row sizes (about 2-4 KB a training row) a shard is a few hundred MB
# uncompressed, well under what the Hub and `datasets` handle per file.
SHARD_ROWS = 200_000
HASH_STEP = 5_000  # rows per JSON document fed to the content hash (part of what it means)
HEAD_ROWS = 500  # the first rows of a split, kept for the card's example


def _row_encoder() -> Callable[[Any], str]:
    """`json.dumps(row, sort_keys=True, ensure_ascii=False)`, the text the content hash is
    taken over, from one C encoder made once (`json.dumps` with these options makes a new
    encoder for every row, a fifth of the time it takes to encode one)."""
    settings = json.JSONEncoder(sort_keys=True, ensure_ascii=False)
    if c_make_encoder is None:  # a Python without the C accelerator
        return settings.encode
    encode = c_make_encoder(
        None,  # no check for cycles: a row is a tree
        settings.default,
        encode_basestring,
        None,
        settings.key_separator,
        settings.item_separator,
        True,
        False,
        True,
    )
    return lambda row: "".join(encode(row, 0))


row_json = _row_encoder()


@dataclass
class EncodedRows:
    """Rows as the JSON the content hash is taken over, ready to hash: one UTF-8 blob with the
    rows joined by ", " and where each row ends (so a worker process hands a chunk's rows back
    as one bytes object, not a string per row)."""

    blob: bytes
    ends: list[int]

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> EncodedRows:
        encoded = [row_json(r).encode() for r in rows]
        ends, end = [], -2
        for row in encoded:
            end += 2 + len(row)
            ends.append(end)
        return cls(b", ".join(encoded), ends)

    @classmethod
    def join(cls, parts: list[EncodedRows]) -> EncodedRows:
        """Consecutive parts' rows as one."""
        parts = [p for p in parts if p.ends]
        ends: list[int] = []
        offset = 0  # where the part starts in the joined blob
        for part in parts:
            ends += [offset + end for end in part.ends]
            offset = ends[-1] + 2
        return cls(b", ".join(p.blob for p in parts), ends)


def shard_name(split: str, i: int, n: int) -> str:
    return f"{split}-{i:05d}-of-{n:05d}.parquet"


class RowHasher:
    """sha256 over rows as JSON, `HASH_STEP` rows at a time, however the rows are fed in: each
    step hashes as `json.dumps(step_rows, sort_keys=True, ensure_ascii=False)`, the rows
    between brackets and joined by ", "."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._in_step = 0  # rows of the current step hashed so far

    def update(self, rows: list[dict[str, Any]]) -> None:
        self.update_encoded(EncodedRows.of(rows))

    def update_encoded(self, rows: EncodedRows) -> None:
        done = 0  # rows of `rows` hashed
        while done < len(rows.ends):
            take = min(HASH_STEP - self._in_step, len(rows.ends) - done)
            start = 0 if done == 0 else rows.ends[done - 1] + 2
            self._digest.update(b", " if self._in_step else b"[")
            self._digest.update(rows.blob[start : rows.ends[done + take - 1]])
            done += take
            self._in_step += take
            if self._in_step == HASH_STEP:
                self._digest.update(b"]")
                self._in_step = 0

    def hexdigest(self) -> str:
        if self._in_step:
            self._digest.update(b"]")
            self._in_step = 0
        return self._digest.hexdigest()


def table_hash(table: pa.Table) -> str:
    """Content hash over rows as JSON: independent of chunking, encoding and file layout, so a
    table read back from the Hub hashes like the one written here."""
    hasher = RowHasher()
    for start in range(0, table.num_rows, HASH_STEP):
        hasher.update(table.slice(start, HASH_STEP).to_pylist())
    return hasher.hexdigest()


class SplitWriter:
    """Writes one split of one config into `folder` chunk by chunk (see the module doc)."""

    def __init__(
        self, folder: Path, split: str, schema: pa.Schema, shard_rows: int = SHARD_ROWS
    ) -> None:
        self.folder, self.split, self.schema = folder, split, schema
        self.rows = 0
        # The rows' in-memory Arrow size, which `datasets` records as a split's `num_bytes`.
        self.arrow_bytes = 0
        self.hasher = RowHasher()
        self.head: list[dict[str, Any]] = []  # the first HEAD_ROWS rows, as written
        self._limit = shard_rows
        self._parts: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._in_shard = 0

    def write(self, table: pa.Table, encoded: EncodedRows) -> None:
        """Append `table`, whose rows `encoded` holds as JSON for the hash."""
        if not table.num_rows:
            return
        self.hasher.update_encoded(encoded)
        if len(self.head) < HEAD_ROWS:
            self.head += table.slice(0, HEAD_ROWS - len(self.head)).to_pylist()
        offset = 0
        while offset < table.num_rows:
            if self._writer is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                part = self.folder / f".{self.split}-part-{len(self._parts):05d}.parquet"
                self._parts.append(part)
                self._writer = pq.ParquetWriter(part, self.schema, compression="zstd")
                self._in_shard = 0
            take = min(self._limit - self._in_shard, table.num_rows - offset)
            self._writer.write_table(table.slice(offset, take))
            offset += take
            self._in_shard += take
            if self._in_shard >= self._limit:
                self._close_shard()
        self.rows += table.num_rows
        self.arrow_bytes += table.nbytes

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> list[Path]:
        """Finish the split: its shards under their final names, in order."""
        self._close_shard()
        final = []
        for i, part in enumerate(self._parts):
            path = part.with_name(shard_name(self.split, i, len(self._parts)))
            part.replace(path)
            final.append(path)
        return final

    def discard(self) -> None:
        self._close_shard()
        for part in self._parts:
            part.unlink(missing_ok=True)
