"""A command's outputs never overwrite its inputs: a file that a command would write is refused,
before any work, when the same command reads it or writes it in another role."""

from __future__ import annotations

from pathlib import Path

from plugdata.errors import PlugdataError

Role = tuple[str, Path]  # what a file is to a command, and its path


def refuse_overwrite(reads: list[Role], writes: list[Role]) -> None:
    """One line, before any work, when a file to be written is also read or written in
    another role: `--out x.jsonl` for input `x.jsonl` would destroy the source rows."""
    roles: dict[Path, str] = {}
    for what, path in reads:
        roles.setdefault(path.resolve(), what)
    for what, path in writes:
        resolved = path.resolve()
        if resolved in roles:
            raise PlugdataError(
                f"{path}: used as both {roles[resolved]} and {what}; give another path"
            )
        roles[resolved] = what
