"""JSON and JSON Lines files, read and written in one place.

Reading: every refusal (bad syntax, bad UTF-8, integers past Python's digit limit, nesting past
the recursion limit) is a one-line `SourceError` naming the file and line; a byte-order mark is
ignored. A corpus reader may ask instead for a `Refused` in place of a row that is valid JSON but
that Python's decoder refuses (a huge integer, deep nesting), so that the row is quarantined and
the others are read. A JSON list (a corpus) is read item by item, a JSON Lines file line by line.
Writing: UTF-8 without escapes, one object per line, and whole files replaced at once so that no
reader ever sees half of one.
"""

from __future__ import annotations

import codecs
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from plugdata.core import leftovers
from plugdata.errors import SourceError


@dataclass(frozen=True)
class Refused:
    """Stands for a value that is valid JSON but that Python's decoder refuses; `reason` is a
    quarantine reason code (`integer-too-long`, `nested-too-deeply`)."""

    reason: str


class RefusedJson(SourceError):
    """`parse_json` refused a value beyond its syntax (see `Refused`)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_json(text: str, path: Path | str, line: int | None = None) -> Any:
    """`json.loads` whose every refusal is a one-line `SourceError` naming `path:line` (the
    decoder's line when `line` is None): bad syntax, but also what Python's decoder raises
    beyond syntax errors, integers past the int-string digit limit and nesting past the
    recursion limit."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid_json(path, line or exc.lineno, f"{exc.msg} at column {exc.colno}") from None
    except (RecursionError, ValueError) as exc:
        raise _refused(path, line, exc) from None


def _refusal(exc: RecursionError | ValueError) -> str:
    """What Python's decoder refused beyond syntax, in a few words."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(":")[0].strip()  # "Exceeds the limit (4300 digits) for integer ..."


def _refusal_reason(exc: RecursionError | ValueError) -> str:
    if isinstance(exc, RecursionError):
        return "nested-too-deeply"
    return "integer-too-long" if "digits" in str(exc) else "unreadable-json"


def _refused(path: Path | str, line: int | None, exc: Exception, suffix: str = "") -> RefusedJson:
    detail = _refusal(exc)
    return RefusedJson(f"{_at(path, line)}: invalid JSON ({detail}){suffix}", _refusal_reason(exc))


def _invalid_json(path: Path | str, line: int | None, detail: str, suffix: str = "") -> SourceError:
    return SourceError(f"{_at(path, line)}: invalid JSON ({detail}){suffix}")


def _invalid_utf8(path: Path | str, line: int) -> SourceError:
    return SourceError(f"{path}:{line}: invalid UTF-8; re-encode the file as UTF-8")


def _at(path: Path | str, line: int | None) -> str:
    return f"{path}:{line}" if line else str(path)


def read_json_lines(path: Path, *, refused: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of a JSON Lines file; with `refused`, a
    `Refused` for a line Python's decoder refuses beyond syntax instead of an error."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            text = decode_line(path, lineno, raw).strip()
            if not text:
                continue
            try:
                value = parse_json(text, path, lineno)
            except RefusedJson as exc:
                if not refused:
                    raise
                value = Refused(exc.reason)
            yield lineno, value


def read_json_file(path: Path) -> Any:
    """The value held by a whole JSON file."""
    data = without_bom(path.read_bytes())
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid_utf8(path, data[: exc.start].count(b"\n") + 1) from None
    return parse_json(text, path)


# -- a JSON list read item by item -------------------------------------------------------------
# A corpus held as one JSON list can be gigabytes: these read it holding one item and a window of
# the file's text, the C decoder parsing each item (`raw_decode`) and the window growing only
# while an item is cut off at its end.
_WINDOW = 1 << 16  # bytes read at a time, at least
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# A decoder error this close to the window's end may be due to the end (`-Infinit`, `\ud83d\ude0`).
_CUT_MARGIN = 32
# The key under which an object holds the rows, as Hub datasets and SQuAD-style files do.
_ROWS_KEY = "data"


class _Window:
    """A file's text seen through a window that slides forward: `pos` is the next character."""

    def __init__(self, path: Path, fh: IO[bytes], size: int) -> None:
        self.path, self.fh, self.size = path, fh, size
        self.text, self.pos, self.eof = "", 0, False
        self._undecoded = b""  # the start of a character cut at the end of the last read
        self._started = False  # a byte-order mark is looked for once, at the start
        self._line, self._line_pos = 1, 0  # the line at text[_line_pos]
        self._column = 0  # characters between the last newline dropped and text[0]
        self._decoder = json.JSONDecoder()

    def _fill(self) -> None:
        """Drop what was read, then read more: as much again as the window holds, so that an item
        longer than the window is decoded a few times, not once per window."""
        dropped = self.text[: self.pos]
        self._line += dropped.count("\n", self._line_pos)
        self._line_pos = 0
        newline = dropped.rfind("\n")
        self._column = self.pos - newline - 1 if newline >= 0 else self._column + self.pos
        self.text, self.pos = self.text[self.pos :], 0
        data = self.fh.read(max(self.size, len(self.text)))
        self.eof = not data
        data = self._undecoded + data
        if not self._started:
            data, self._started = without_bom(data), True
        try:
            text, used = codecs.utf_8_decode(data, "strict", self.eof)
        except UnicodeDecodeError as exc:
            line = self._line + self.text.count("\n") + data[: exc.start].count(b"\n")
            raise _invalid_utf8(self.path, line) from None
        self.text += text
        self._undecoded = data[used:]

    def line(self, pos: int | None = None) -> int:
        """The line of `text[pos]` (of the next character by default); positions only advance."""
        pos = self.pos if pos is None else pos
        self._line += self.text.count("\n", self._line_pos, pos)
        self._line_pos = pos
        return self._line

    def error(self, detail: str, pos: int | None = None, suffix: str = "") -> SourceError:
        """Invalid JSON at `text[pos]`, named by line and column as `json.loads` names them."""
        pos = self.pos if pos is None else pos
        newline = self.text.rfind("\n", 0, pos)
        column = pos - newline if newline >= 0 else self._column + pos + 1
        return _invalid_json(self.path, self.line(pos), f"{detail} at column {column}", suffix)

    def skip(self) -> None:
        """Move past the next value without decoding it: strings, brackets and braces are
        followed by a loop, not by recursion, so a value too deep or too long for the decoder is
        passed over all the same. Its syntax is checked when it is read, not here."""
        depth, quoted, i = 0, False, self.pos
        while True:
            if i + 1 >= len(self.text) and not self.eof:  # an escape needs its next character
                i -= self.pos
                self._fill()
                continue
            if i >= len(self.text):
                raise self.error("Unterminated value", i)
            char = self.text[i]
            if quoted:
                if char == "\\":
                    i += 1
                elif char == '"':
                    quoted = False
            elif char == '"':
                quoted = True
            elif char in "[{":
                depth += 1
            elif char in "]}" or (depth == 0 and char in ", \t\n\r"):
                if depth == 0:
                    break
                depth -= 1
                if depth == 0:
                    i += 1
                    break
            i += 1
        self.pos = i

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end of the file), not taken."""
        while True:
            self.pos = _WHITESPACE.match(self.text, self.pos).end()
            if self.pos < len(self.text) or self.eof:
                return self.text[self.pos : self.pos + 1]
            self._fill()

    def take(self, expected: str, detail: str) -> str:
        """The next character, which must be one of `expected`."""
        char = self.peek()
        if not char or char not in expected:
            raise self.error(detail)
        self.pos += 1
        return char

    def value(self, suffix: str = "", *, refused: bool = False) -> Any:
        """The next JSON value, read whole; with `refused`, a `Refused` in place of one that
        Python's decoder refuses beyond syntax, which is then skipped."""
        self.peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated") or exc.pos >= len(self.text) - _CUT_MARGIN
                if cut and not self.eof:
                    self._fill()
                    continue
                raise self.error(exc.msg, exc.pos, suffix) from None
            except (RecursionError, ValueError) as exc:  # more text would not help
                if not refused:
                    raise _refused(self.path, self.line(), exc, suffix) from None
                self.skip()
                return Refused(_refusal_reason(exc))
            if end == len(self.text) and not self.eof:  # a number may go on: "12" of "123"
                self._fill()
                continue
            self.pos = end
            return value


def read_json_items(
    path: Path, *, window: int = _WINDOW, refused: bool = False
) -> Iterator[tuple[int, Any]]:
    """(line, item) for each item of the JSON list a file holds, or of the `data` list of the
    object it holds (its other keys are parsed and skipped), in `json.load`'s order, holding
    one item at a time. Errors are `read_json_file`'s, each naming its line (and item); with
    `refused`, an item Python's decoder refuses beyond syntax is a `Refused`."""
    with path.open("rb") as fh:
        text = _Window(path, fh, window)
        found = False
        if text.peek() == "[":
            yield from _items(text, refused)
            found = True
        elif text.peek() == "{":
            for name in _members(text):
                if name != _ROWS_KEY or text.peek() != "[":
                    text.value()
                elif found:  # json.load would keep the last list, whose rows are not yet read
                    raise SourceError(f"{path}:{text.line()}: a second {_ROWS_KEY!r} list")
                else:
                    yield from _items(text, refused)
                    found = True
        else:
            text.value()
        if text.peek():
            raise text.error("Extra data")
    if not found:
        raise SourceError(f"{path}: expected a JSON list of objects (or JSON Lines)")


def _items(text: _Window, refused: bool = False) -> Iterator[tuple[int, Any]]:
    text.take("[", "Expecting value")
    if text.peek() == "]":
        text.pos += 1
        return
    for index in itertools.count():
        text.peek()
        yield text.line(), text.value(f" in item {index}", refused=refused)
        if text.take(",]", "Expecting ',' delimiter") == "]":
            return


def _members(text: _Window) -> Iterator[str]:
    """The keys of an object, each left for the caller to read its value."""
    text.take("{", "Expecting value")
    if text.peek() == "}":
        text.pos += 1
        return
    while True:
        if text.peek() != '"':
            raise text.error("Expecting property name enclosed in double quotes")
        name = text.value()
        text.take(":", "Expecting ':' delimiter")
        yield name
        if text.take(",}", "Expecting ',' delimiter") == "}":
            return


def holds_json_lines(path: Path) -> bool:
    """Whether a `.json` file is JSON Lines in disguise (common on the Hub): its first line is
    a whole JSON object, and not one holding the rows as a `data` list. Read no further than the
    first object's `data` key, or its end."""
    with path.open("rb") as fh:
        text = _Window(path, fh, _WINDOW)
        try:
            if text.peek() != "{":
                return False
            for name in _members(text):
                if name == _ROWS_KEY and text.peek() == "[":
                    return False
                text.value()
        except SourceError:  # the JSON reader says what is wrong
            return False
        return text.line(text.pos - 1) == 1


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
    tmp, fd = _temporary(path)
    try:
        with open(fd, "w", encoding="utf-8", closefd=False) as fh:
            fh.write(text)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        leftovers.release(fd)


def _temporary(path: Path) -> tuple[Path, int]:
    """The file (and its open descriptor) written before it replaces `path`, beside it (same
    disk), named and held as `leftovers` does: the next writer of `path` removes one a killed
    run left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return leftovers.create(path.parent, f".{path.name}.", ".tmp")


class JsonLinesWriter:
    """A JSON Lines file written a part at a time that replaces `path` only at `commit()`, for a
    run too big to hold: until then its rows are in a temporary file beside `path`, which
    `close()` removes, so a run that fails leaves `path` as it was."""

    def __init__(self, path: Path) -> None:
        self.path, (self._tmp, fd) = path, _temporary(path)
        self._fh: IO[str] | None = open(fd, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, rows: Iterable[Any]) -> None:
        self._fh.writelines(json_line(row) for row in rows)

    def commit(self) -> None:
        """Replace `path` with every row written."""
        self._fh.flush()
        self._tmp.replace(self.path)  # before the lock goes with the descriptor
        self._fh.close()
        self._fh = None

    def close(self) -> None:
        """Without a commit, drop what was written; after one, nothing to do."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
