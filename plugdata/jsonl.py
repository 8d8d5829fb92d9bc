"""JSON and JSON Lines files, read and written in one place.

Reading: every refusal (bad syntax, bad UTF-8, integers past Python's digit limit, nesting past
the recursion limit) is a one-line `SourceError` naming the file and line; a byte-order mark is
ignored. Writing: UTF-8 without escapes, one object per line, and whole files replaced at once so
that no reader ever sees half of one.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from plugdata.errors import SourceError


def parse_json(text: str, path: Path | str, line: int | None = None) -> Any:
    """`json.loads` whose every refusal is a one-line `SourceError` naming `path:line` (the
    decoder's line when `line` is None): bad syntax, but also what Python's decoder raises
    beyond syntax errors, integers past the int-string digit limit and nesting past the
    recursion limit."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{path}:{line or exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
        ) from None
    except RecursionError:
        raise SourceError(f"{_at(path, line)}: invalid JSON (nested too deeply)") from None
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise SourceError(
            f"{_at(path, line)}: invalid JSON ({str(exc).split(':')[0].strip()})"
        ) from None


def _at(path: Path | str, line: int | None) -> str:
    return f"{path}:{line}" if line else str(path)


def read_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of a JSON Lines file."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            text = decode_line(path, lineno, raw).strip()
            if text:
                yield lineno, parse_json(text, path, lineno)


def read_json_file(path: Path) -> Any:
    """The value held by a whole JSON file."""
    data = without_bom(path.read_bytes())
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(f"{path}:{line}: invalid UTF-8; re-encode the file as UTF-8") from None
    return parse_json(text, path)


def without_bom(data: bytes) -> bytes:
    """Windows editors start UTF-8 files with a byte-order mark; it is not part of the data."""
    return data.removeprefix(codecs.BOM_UTF8)


def decode_line(path: Path, lineno: int, raw: bytes) -> str:
    if lineno == 1:
        raw = without_bom(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}:{lineno}: invalid UTF-8 at byte {exc.start} of the line; "
            "re-encode the file as UTF-8"
        ) from None


def json_line(value: Any) -> str:
    """One JSON Lines line, newline included."""
    return json.dumps(value, ensure_ascii=False) + "\n"


def append_json_line(fh: IO[str], value: Any) -> None:
    """Append one line and flush it, so that it survives an interruption of the run."""
    fh.write(json_line(value))
    fh.flush()


def write_json_lines(path: Path, rows: Iterable[Any]) -> None:
    """Replace `path` with these rows, at once."""
    _replace(path, "".join(json_line(row) for row in rows))


def json_text(value: Any) -> str:
    """A whole JSON file's text: indented, UTF-8 without escapes, newline-terminated."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def write_json(path: Path, value: Any) -> None:
    """Replace `path` with one JSON value, at once."""
    _replace(path, json_text(value))


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def resume_json_lines(path: Path) -> list[dict[str, Any]]:
    """The objects already in an append-only output, for a run that resumes it. A line cut by
    an interruption (or any line that is not a JSON object) is dropped from the file, so its
    item runs again instead of stopping the run."""
    if not path.exists():
        return []
    rows, kept = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            rows.append(value)
            kept.append(line + "\n")
    _replace(path, "".join(kept))
    return rows
