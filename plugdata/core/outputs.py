"""A command's outputs never overwrite its inputs: a file that a command would write is refused,
before any work, when the same command reads it or writes it in another role.

Each command declares on its options model which options it reads and which it writes, in the
field's `json_schema_extra` (`"io"`), and `plugdata.core.options.refuse_overwrite_of` checks
the declaration in one place, when the options are parsed (`parse_options`):

- `"io": "read"`: a file or folder the command reads (a string option, such as a Hub id or a
  local folder, counts only when it names a local path); with `"files"`, a folder given is read
  through those files in it (`report RUN` reads `RUN/summary.json`);
- `"io": "write"`: a file the command replaces; with `"files"`, a folder in which it replaces
  those files (`judge --out RUN` writes `RUN/judgments.jsonl`, ...); with `"beside"`, suffixes of
  the files it writes beside (`report --out t.md` writes `t.png` and `t.json`);
- `"io": "update"`: a file both read and written (a cache): no other role may share it;
- `"io": "own"`: a folder the command fills as it likes (train's output dir: checkpoints come
  and go), so no input may lie in it.

Messages name each file by its `"role"` where the field gives one (`the input`), else by its
flag.

The same file is the same path after links are resolved, or the same inode (a hard link).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from plugdata.errors import PlugdataError

Role = tuple[str, Path]  # what a file is to a command, and its path


def refuse_overwrite(
    reads: list[Role], writes: list[Role], owned: list[Role] | None = None
) -> None:
    """One line, before any work, when a file to be written is also read or written in
    another role (`--out x.jsonl` for input `x.jsonl` would destroy the source rows), or when
    an input lies inside a folder the command owns."""
    seen: list[Role] = list(reads)
    for role in writes:
        what, path = role
        for earlier in seen:
            # A file both read and written (a cache) is one entry in each list: not a clash.
            if earlier is not role and _same(path, earlier[1]):
                raise PlugdataError(
                    f"{path}: used as both {earlier[0]} and {what}; give another path"
                )
        seen.append(role)
    for what, folder in owned or []:
        for other, path in seen:
            if _inside(path, folder):
                raise PlugdataError(
                    f"{path}: {other} lies in {what} {folder}, where the command writes what "
                    "it needs; give another folder"
                )


def local_path(value: Any) -> Path | None:
    """A path option's value as a path; a string only when it names something local (a Hub
    id is not a file)."""
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value:
        path = Path(value)
        return path if path.exists() else None
    return None


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet: not the same file
        return False


def _inside(path: Path, folder: Path) -> bool:
    """`path` is `folder` or lies in it (links resolved)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents or _same(path, folder)
