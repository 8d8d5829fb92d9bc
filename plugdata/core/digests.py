"""Duplicate checks of a streaming build in bounded memory: rows stand for themselves as 8-byte
digests (blake2b), kept in one sorted NumPy array per check, 8 bytes a row however long the
texts (a Python set of 16-byte digests took about 100 bytes a row, and so grew a 1M-row build by
hundreds of MB). Two different texts share a digest with odds of about 3 in 100 million among a
million rows; such a row would be quarantined as a duplicate, in plain sight, not lost."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def digest(*texts: str) -> bytes:
    """blake2b (8 bytes) of `texts`, each length-prefixed so that ("ab", "c") and ("a", "bc")
    differ.

    >>> digest("a", "bc") != digest("ab", "c") and len(digest("x")) == 8
    True
    """
    if len(texts) == 1:  # the common case, without the join
        return digest_bytes(texts[0].encode("utf-8", "surrogatepass"))
    parts = []
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        parts.append(len(data).to_bytes(8, "little"))
        parts.append(data)
    return hashlib.blake2b(b"".join(parts), digest_size=8).digest()


def digest_bytes(data: bytes) -> bytes:
    """`digest(text)` from the text's UTF-8 bytes, for a caller that has encoded it already."""
    return hashlib.blake2b(data, digest_size=8).digest()


class DigestSet:
    """The digests seen so far. `seen` takes a batch of rows' digests, in order, and says for
    each whether it came before: in an earlier batch or earlier in this one.

    Held as a few sorted runs, each at least twice the size of the next: a batch becomes a run
    of its own, and the smaller runs are merged into the bigger while that rule is broken. One
    sorted array re-sorted with every batch made a build quadratic in its rows (4.5 s a set at
    1M rows in batches of 1,000, 450 s at 10M); this way each digest is merged about log2(N)
    times and a look-up searches log2(N / batch) runs."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []  # sorted, disjoint, sizes decreasing geometrically

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    def seen(self, digests: list[bytes]) -> list[bool]:
        if not digests:
            return []
        keys = np.frombuffer(b"".join(digests), dtype=np.uint64)
        before = np.zeros(len(keys), dtype=bool)
        for run in self._runs:
            at = np.searchsorted(run, keys)
            inside = at < len(run)
            before[inside] |= run[at[inside]] == keys[inside]
        new, first = np.unique(keys, return_index=True)
        earlier = np.ones(len(keys), dtype=bool)
        earlier[first] = False
        fresh = new[~np.isin(new, keys[before])]
        if len(fresh):
            self._runs.append(fresh)
            while len(self._runs) > 1 and len(self._runs[-2]) < 2 * len(self._runs[-1]):
                last = self._runs.pop()
                # Both sorted: a stable sort of the two runs is a merge, linear in their size.
                merged = np.sort(np.concatenate([self._runs[-1], last]), kind="stable")
                self._runs[-1] = merged
        return (before | earlier).tolist()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
