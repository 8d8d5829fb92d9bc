"""Temporary files that a killed run cannot remove, and the next run does.

A run's temporary file is named after its process (`<prefix><pid>.<token><suffix>`) and held
under an exclusive `flock` for as long as it is open: the kernel drops the lock when the holder
dies, however it dies (SIGKILL, out of memory, power loss). The next run to make a file of the
same kind in the same folder removes every one whose lock it can take: its owner is gone. That is
how a build's stage folders are swept too (under the folder's build lock, see
`plugdata.dataset.staging`); the lock, not the process id, is the proof (a pid can be reused,
and another container's processes share a /tmp but not their pids).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # no advisory locks on this platform: nothing proves an owner dead
    fcntl = None  # type: ignore[assignment]


def create(
    folder: Path, prefix: str, suffix: str, reap: Callable[[Path], None] | None = None
) -> tuple[Path, int]:
    """A new empty file in `folder` owned (locked) by this process, and its descriptor: keep it
    open while the file is in use, `release` it when the file is gone. Leftovers of dead runs
    with the same prefix and suffix are removed first (`reap`: see `sweep`)."""
    sweep(folder, prefix, suffix, reap)
    while True:
        path = folder / f"{prefix}{os.getpid()}.{secrets.token_hex(4)}{suffix}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current != os.fstat(fd).st_ino:  # another run swept it before it was locked
                os.close(fd)
                continue
        return path, fd


def release(fd: int) -> None:
    """Close an owned file's descriptor (remove the file first: it is unguarded after this)."""
    with contextlib.suppress(OSError):
        os.close(fd)


def sweep(
    folder: Path, prefix: str, suffix: str, reap: Callable[[Path], None] | None = None
) -> int:
    """Remove the files in `folder` named `<prefix><pid>.*<suffix>` whose owner is dead;
    returns how many. A file whose lock is held (its run is alive) is left alone. `reap`, if
    given, is called with each dead owner's file first (to end what the file records)."""
    if fcntl is None:
        return 0
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        owner = name[len(prefix) :].partition(".")[0]
        if not owner.isdigit() or name[len(prefix) + len(owner) :] == suffix:
            continue  # not a name this module makes
        path = folder / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its owner lives
        try:
            if reap is not None:
                reap(path)
            path.unlink()
            removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed
