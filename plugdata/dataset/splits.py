"""Deterministic train/validation assignment from the id alone.

Because the split depends only on the id (and a salt), a row keeps its split when the corpus
grows, and the same item lands in the same split in every language and every method config.
"""

from __future__ import annotations

import hashlib


def split_of(row_id: str, validation: float, salt: str = "plugdata") -> str:
    """`validation` when the id's hash falls in the first `validation` share of the range.

    >>> split_of("demo/0001", 0.0)
    'train'
    >>> split_of("demo/0001", 0.5) == split_of("demo/0001", 0.5)
    True
    """
    digest = hashlib.sha256(f"{salt}\x00{row_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "validation" if position < validation else "train"
