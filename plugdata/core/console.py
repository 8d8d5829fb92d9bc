"""Saying something aloud while a command works: one line on stderr, above any progress bar,
which survives it (long waits, for example)."""

from __future__ import annotations

import sys


def say(line: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)
