"""Reading instruction corpora: local json/jsonl/csv/parquet files or Hub datasets.

Every row becomes a `Record` with its logical fields (instruction, response, id, extras) as
strings and a list of problems (`not-a-string:response`, `invalid-text:id`, ...) that validation
turns into quarantine reasons. Unreadable files raise `SourceError` naming the file and the line.
A record's `where` names the file as the recipe gives it (`zh.jsonl:12`, `builtin:demo/zh.jsonl:3`,
`hub org/ds: row 7`), never an absolute local path, because it is written to the quarantine table.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from itertools import zip_longest
from pathlib import Path
from typing import Any

from plugdata.core.digests import sha256_file
from plugdata.core.jsonl import (
    Refused,
    decode_line,
    holds_json_lines,
    read_json_items,
    read_json_lines,
)
from plugdata.core.redact import public_path
from plugdata.core.textproc import LONE_SURROGATE, has_lone_surrogate
from plugdata.errors import SourceError
from plugdata.sources.corpus import BUILTIN_PREFIX, Columns, Corpus, builtin_name_ok, keep_kind

# Common column names, in order of preference, for each role when a recipe does not say.
_GUESSES = {
    "instruction": ("instruction", "prompt", "question"),
    "input": ("input", "context"),
    "response": ("output", "response", "answer", "completion"),
    "id": ("id",),
}


# JSON may escape half of a surrogate pair ("\ud800"); Python decodes it into a string that
# no UTF-8 encoder, and so no parquet or JSON Lines writer, accepts.
@dataclass
class Record:
    index: int  # position in the corpus, 0-based
    where: str  # "file:line" as the recipe names the file: written to the quarantine table
    raw_id: str | None
    instruction: str
    response: str | None
    extras: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def reasons(self, side: str) -> list[str]:
        """The problems as quarantine reasons about one side of a triple.

        >>> Record(0, "x:1", None, "", None, problems=["not-a-string:response"]).reasons("pivot")
        ['not-a-string:pivot_response']
        """
        return [p.replace(":", f":{side}_", 1) for p in self.problems]


def join_instruction(instruction: str, context: str) -> str:
    """The one way plugdata joins Alpaca's `instruction` and `input`.

    >>> join_instruction("Summarise the text.", "  Cats sleep a lot. ")
    'Summarise the text.\\n\\nCats sleep a lot.'
    >>> join_instruction("Name a colour.", "")
    'Name a colour.'
    """
    instruction, context = instruction.strip(), context.strip()
    return f"{instruction}\n\n{context}" if context else instruction


def resolve_path(spec_path: str, base_dir: Path) -> Path:
    if spec_path.startswith(BUILTIN_PREFIX):
        name = spec_path[len(BUILTIN_PREFIX) :]
        try:
            builtin_name_ok(name)
        except ValueError as exc:
            raise SourceError(str(exc)) from None
        packaged = Path(str(files("plugdata") / "sources" / "corpora")).resolve()
        path = packaged / name
        # A link inside the package may still point out of it.
        if path.exists() and not path.resolve().is_relative_to(packaged):
            raise SourceError(f"{spec_path}: leads out of plugdata's packaged corpora")
        return path
    path = Path(spec_path)
    return path if path.is_absolute() else base_dir / path


def corpus_label(corpus: Corpus, base_dir: Path) -> str:
    """How written output names a corpus: its path as the recipe gives it (an absolute one
    relative to the recipe folder, or its bare name when outside), `builtin:NAME` or `hub ORG/NAME`.

    >>> corpus_label(Corpus(path="/home/alice/recipes/data/zh.jsonl"), Path("/home/alice/recipes"))
    'data/zh.jsonl'
    >>> corpus_label(Corpus(path="/tmp/zh.jsonl"), Path("/home/alice/recipes"))
    'zh.jsonl'
    """
    if corpus.hub is not None:
        return f"hub {corpus.hub.repo}"
    if corpus.path.startswith(BUILTIN_PREFIX):
        return corpus.path
    return public_path(corpus.path, base_dir)


def describe_corpus(corpus: Corpus, base_dir: Path) -> dict[str, Any]:
    """Provenance for the manifest: file hash, or Hub repo and revision."""
    if corpus.hub is not None:
        return {
            "hub": corpus.hub.repo,
            "revision": corpus.hub.revision,
            "split": corpus.hub.split,
            "data_files": corpus.hub.data_files,
        }
    path = resolve_path(corpus.path, base_dir)
    digest = sha256_file(path) if path.exists() else None  # by blocks: corpora can be big
    return {"file": corpus_label(corpus, base_dir), "sha256": digest}


def lone_surrogate_free(value: str, name: str, problems: list[str]) -> str:
    """`value` with every lone surrogate replaced by U+FFFD, so the row can still be written
    (to quarantine); `invalid-text:<name>` is added to `problems` when one was found."""
    if not has_lone_surrogate(value):
        return value
    if f"invalid-text:{name}" not in problems:
        problems.append(f"invalid-text:{name}")
    return LONE_SURROGATE.sub("\ufffd", value)


# -- raw rows: (where, row) ------------------------------------------------------------------
# A row that is valid JSON but that Python's decoder refuses (a huge integer, deep nesting) comes
# as a `Refused`: it becomes a record of that problem alone, quarantined like any bad value.
def _jsonl_rows(
    path: Path, label: str, refused: bool = False
) -> Iterator[tuple[str, dict | Refused]]:
    for lineno, row in read_json_lines(path, refused=refused):
        if not isinstance(row, (dict, Refused)):
            raise SourceError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        yield f"{label}:{lineno}", row


def _json_rows(
    path: Path, label: str, refused: bool = False
) -> Iterator[tuple[str, dict | Refused]]:
    for i, (lineno, row) in enumerate(read_json_items(path, refused=refused)):
        if not isinstance(row, (dict, Refused)):
            raise SourceError(
                f"{path}:{lineno}: item {i}: expected a JSON object, got {type(row).__name__}"
            )
        yield f"{label}: item {i}", row


def _csv_rows(path: Path, label: str, refused: bool = False) -> Iterator[tuple[str, dict]]:
    with path.open("rb") as fh:  # line by line: a bad byte names its line, a big file streams
        reader = csv.reader(decode_line(path, i, raw) for i, raw in enumerate(fh, 1))
        try:
            header = next(reader, [])
            for values in reader:
                if not values:  # a blank line
                    continue
                if len(values) > len(header):
                    raise SourceError(
                        f"{path}:{reader.line_num}: more values than the header's {len(header)} "
                        "columns; quote values that hold commas"
                    )
                # Missing trailing values read as None, as with csv.DictReader.
                yield f"{label}:{reader.line_num}", dict(zip_longest(header, values))
        except csv.Error as exc:  # e.g. a field longer than csv.field_size_limit()
            raise SourceError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None


def _parquet_rows(path: Path, label: str, refused: bool = False) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq

    i = 0
    try:  # batch by batch: a big corpus is never in memory whole
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                yield f"{label}: row {i}", row
                i += 1
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise SourceError(f"{path}: not a readable parquet file ({exc})") from None


def _hub_rows(corpus: Corpus) -> Iterator[tuple[str, dict]]:
    import datasets

    hub = corpus.hub
    try:
        ds = datasets.load_dataset(
            hub.repo, hub.config, revision=hub.revision, split=hub.split, data_files=hub.data_files
        )
    except Exception as exc:  # network, auth and missing-repo errors all land here
        raise SourceError(
            f"hub dataset {hub.repo}@{hub.revision}: cannot load ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); give a local file with --corpus"
        ) from None
    for i, row in enumerate(ds):
        yield f"hub {hub.repo}: row {i}", row


_READERS = {
    ".jsonl": _jsonl_rows,
    ".json": _json_rows,
    ".csv": _csv_rows,
    ".parquet": _parquet_rows,
}


def raw_rows(
    corpus: Corpus, base_dir: Path, *, refused: bool = False
) -> Iterator[tuple[str, dict | Refused]]:
    """The rows of a corpus; with `refused`, a JSON row that Python's decoder refuses beyond
    syntax comes as a `Refused` (else it is an error)."""
    if corpus.hub is not None:
        return _hub_rows(corpus)
    path = resolve_path(corpus.path, base_dir)
    if not path.is_file():
        raise SourceError(f"{path}: corpus file not found")
    fmt = corpus.format if corpus.format != "auto" else path.suffix.lower().lstrip(".")
    reader = _READERS.get(f".{fmt}")
    if reader is None:
        raise SourceError(
            f"{path}: unknown format {fmt!r}; use json, jsonl, csv or parquet "
            "(or set `format:` in the recipe)"
        )
    if fmt == "json" and holds_json_lines(path):
        reader = _jsonl_rows
    return reader(path, corpus_label(corpus, base_dir), refused)


# -- records ---------------------------------------------------------------------------------
def _resolve_columns(
    columns: Columns, available: list[str], where: str, *, need_response: bool
) -> dict[str, str | None]:
    chosen: dict[str, str | None] = {}
    for role, guesses in _GUESSES.items():
        explicit = getattr(columns, role)
        if explicit is not None:
            if explicit not in available:
                raise SourceError(
                    f"{where}: column {explicit!r} (for {role}) not found; "
                    f"available: {', '.join(available)}"
                )
            chosen[role] = explicit
        elif role == "response" and not need_response:
            # An eval set carries no responses: its `answer` column is a gold answer to keep,
            # not a response to read (and fail on when it is a number).
            chosen[role] = None
        else:
            chosen[role] = next((g for g in guesses if g in available), None)
    required = ["instruction"] + (["response"] if need_response else [])
    for role in required:
        if chosen[role] is None:
            raise SourceError(
                f"{where}: no {role} column (looked for {', '.join(_GUESSES[role])}); "
                f"available: {', '.join(available)}; map one with `columns: {{{role}: NAME}}`"
            )
    return chosen


def _text(value: Any, role: str, problems: list[str]) -> str:
    if type(value) is str and value.isascii():  # most values: no surrogate can be in it
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, str):
        return lone_surrogate_free(value.strip(), role, problems)
    problems.append(f"not-a-string:{role}")
    return lone_surrogate_free(json.dumps(value, ensure_ascii=False, default=str), role, problems)


def _extra(value: Any, column: str, kind: str, problems: list[str]) -> Any:
    """A `keep` column's value as its kind (`plugdata.core.schema.KEEP_TYPES`); one that is not of
    that kind is a problem of the row, never a value written as something else. An optional
    column's missing value (`text?`) is null."""
    kind, optional = keep_kind(kind)
    if optional and value is None:
        return None
    if kind == "text":  # any value, as text: what a `keep:` list always did
        return lone_surrogate_free(value, column, problems) if isinstance(value, str) else value
    if kind == "number":
        # A gold answer is data, not prose: "12" and 12.0 are numbers, "1,234" (or "3,5") is
        # not guessed at, and neither is a NaN.
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value.strip())
        if number is None or not math.isfinite(number):
            problems.append(f"not-a-number:{column}")
            return None
        return float(number)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [lone_surrogate_free(v, column, problems) for v in value]
    problems.append(f"not-a-list-of-texts:{column}")
    return None


def iter_records(
    corpus: Corpus,
    base_dir: Path,
    *,
    need_response: bool = True,
    keep: dict[str, str] | None = None,
    limit: int | None = None,
) -> Iterator[Record]:
    """A corpus's records, one at a time (a run holds a chunk, not the corpus); column
    problems raise, value problems are recorded. `keep`: extra columns to carry and their kinds
    (a recipe's `keep:`); `limit`: the first rows only."""
    count = 0
    chosen: dict[str, str | None] | None = None
    for index, (where, row) in enumerate(raw_rows(corpus, base_dir, refused=True)):
        if limit is not None and index >= limit:
            break
        if isinstance(row, Refused):
            count += 1
            response = "" if need_response else None
            extras = dict.fromkeys(keep or {})
            yield Record(index, where, None, "", response, extras, [f"{row.reason}:row"])
            continue
        if chosen is None:
            chosen = _resolve_columns(corpus.columns, list(row), where, need_response=need_response)
            for extra, kind in (keep or {}).items():
                if extra not in row and not keep_kind(kind)[1]:
                    raise SourceError(
                        f"{where}: column {extra!r} (in `keep`) not found; "
                        f"available: {', '.join(row)}"
                    )
            # Settled once: the loop below runs for every row of every corpus.
            needed = [c for c in chosen.values() if c is not None]
            kept = [(k, kind, keep_kind(kind)[1]) for k, kind in (keep or {}).items()]
            instruction_at, input_at = chosen["instruction"], chosen["input"]
            response_at, id_at = chosen["response"], chosen["id"]
        for column in needed:
            if column not in row:
                raise SourceError(
                    f"{where}: column {column!r} missing in this row; available: {', '.join(row)}"
                )
        problems: list[str] = []
        instruction = _text(row[instruction_at], "instruction", problems)
        if input_at is not None:
            instruction = join_instruction(
                instruction, _text(row[input_at], "instruction", problems)
            )
        response = None if response_at is None else _text(row[response_at], "response", problems)
        raw_id = None
        if id_at is not None and row[id_at] is not None:
            raw_id = lone_surrogate_free(str(row[id_at]).strip(), "id", problems)
        extras = {
            k: _extra(row.get(k) if optional else row[k], k, kind, problems)
            for k, kind, optional in kept
        }
        count += 1
        yield Record(index, where, raw_id, instruction, response, extras, problems)
    if not count:  # every config built from it would be empty
        raise SourceError(f"{corpus_label(corpus, base_dir)}: no rows")
