"""JSON-list and CSV corpora are read incrementally: the rows `json.load` and `csv` give, the
errors the whole-file readers gave (now with a line), and a peak memory far below the file."""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import itertools
import json
import tracemalloc
from itertools import zip_longest
from pathlib import Path

import pytest

from plugdata.core.jsonl import read_json_items
from plugdata.errors import SourceError
from plugdata.sources.corpus import Corpus
from plugdata.sources.read import iter_records, raw_rows

# Windows (in characters) small enough that every token of the files below is cut somewhere.
WINDOWS = (7, 1000, None)
ROWS = [
    {"id": "r0", "instruction": 'Quote "this" and a back\\slash.', "input": "", "output": "ok"},
    {"id": "r1", "instruction": "Café, naïve, 東京, 한국어", "input": "ctx", "output": "é 😀 𝄞"},
    {
        "id": 2,
        "instruction": "Brackets ] } [ { and commas , inside text",
        "input": "tab\tnew\nline\r\u2028",
        "output": "x",
        "nested": {"list": [1, 2.5, -3e-7, True, False, None, [[], {}]], "s": "]}"},
    },
    {"id": "r3", "instruction": "Big n", "input": "", "output": "y", "n": 12345678901234567890},
]
BIG = [  # items over 100 KB: every window cuts them, some inside a multi-byte character
    {"id": f"b{i}", "instruction": ("é😀x" * 40_000)[i:], "output": '\\"' * 30_000 + "末"}
    for i in range(2)
]


def json_forms(rows: list[dict]) -> dict[str, str]:
    """The same rows as several JSON files would hold them."""
    items = ",\n".join(json.dumps(r) for r in rows)
    return {
        "compact-ascii": json.dumps(rows),  # \u00e9 and surrogate pairs escaped
        "indented-utf8": json.dumps(rows, indent=2, ensure_ascii=False),
        "odd-whitespace": "\r\n\t [ \r\n" + " ,\t\r\n".join(json.dumps(r) for r in rows) + " ]\n\n",
        "data-last": json.dumps({"version": "1", "meta": {"a": [1, {"b": "]"}]}, "data": rows}),
        "data-first": '{"data": [' + items + '],\n "after": {"x": [null]}, "z": 0}',
        "data-indented": json.dumps({"data": rows, "n": 4}, indent=1, ensure_ascii=False),
        "data-twice": '{"data": 5, "data": [' + items + "]}",  # json.load keeps the last
    }


def expected_items(text: str) -> list:
    value = json.loads(text)
    return value["data"] if isinstance(value, dict) else value


def write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))
    return path


def items(path: Path, window: int | None) -> list:
    kw = {} if window is None else {"window": window}
    return [item for _, item in read_json_items(path, **kw)]


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("rows", [ROWS, BIG, []], ids=["tricky", "big", "empty"])
def test_json_items_are_json_loads_items_for_every_form_and_window(tmp_path, rows, window):
    for bom, (name, text) in enumerate(json_forms(rows).items()):
        path = write(tmp_path / f"{name}.json", text, bom=bom % 2 == 1)
        assert items(path, window) == expected_items(text), name


def test_json_items_name_the_line_each_item_starts_on(tmp_path):
    path = write(tmp_path / "lines.json", "[\n" + ",\n".join(json.dumps(r) for r in ROWS) + "\n]")
    assert [line for line, _ in read_json_items(path, window=7)] == [2, 3, 4, 5]


def records_as_before(tmp_path: Path, rows: list[dict], name: str) -> list[dict]:
    """The records of the same rows read from JSON Lines (a reader this change leaves alone), with
    the `where` the whole-file reader gave."""
    reference = tmp_path / f"{name}.reference.jsonl"
    reference.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    records = iter_records(Corpus(path=reference.name), tmp_path, keep={"id": "text"})
    return [{**dataclasses.asdict(r), "where": f"{name}: item {r.index}"} for r in records]


@pytest.mark.parametrize("rows", [ROWS, BIG], ids=["tricky", "big"])
def test_json_corpus_records_are_those_of_the_whole_file_reader(tmp_path, rows):
    for name, text in json_forms(rows).items():
        path = write(tmp_path / f"{name}.json", text, bom=name.startswith("data"))
        got = iter_records(Corpus(path=path.name), tmp_path, keep={"id": "text"})
        expected = records_as_before(tmp_path, expected_items(text), path.name)
        assert [dataclasses.asdict(r) for r in got] == expected, name


def test_json_lines_in_a_json_file_are_still_read_as_lines(tmp_path):
    path = write(tmp_path / "lines.json", "".join(json.dumps(r) + "\n" for r in ROWS))
    wheres = [where for where, _ in raw_rows(Corpus(path=path.name), tmp_path)]
    assert wheres == [f"lines.json:{i}" for i in range(1, len(ROWS) + 1)]


# -- JSON errors: one line, naming the file and the line (and the item) ------------------------
def json_error(text: str, suffix: str = "") -> str:
    """The message for `text`, with the line, column and words Python's json module gives."""
    with pytest.raises(json.JSONDecodeError) as err:
        json.loads(text)
    e = err.value
    return f"{{path}}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno}){suffix}"


PREFIX = "[\n" + ",\n".join(json.dumps(r) for r in ROWS * 30) + ",\n"  # errors past the window
INVALID = {
    "truncated-in-item": (PREFIX + '{"instruction": "a", "output": "b', f" in item {4 * 30}"),
    "truncated-after-comma": (PREFIX, f" in item {4 * 30}"),
    "truncated-before-comma": (PREFIX[:-2], ""),
    "trailing-comma": (PREFIX + "]", f" in item {4 * 30}"),
    "missing-comma": (PREFIX[:-2] + '\n{"a": 1}]', ""),
    "trailing-garbage": (PREFIX[:-2] + "]\n  x", ""),
    "control-character": (PREFIX + '{"instruction": "a\nb"}]', f" in item {4 * 30}"),
    "bad-escape": (PREFIX + '{"instruction": "\\x41"}]', f" in item {4 * 30}"),
    "one-line-late": (json.dumps(ROWS * 30)[:-1] + ' {"a": 1}]', ""),
    "data-without-colon": ('{"meta": 1, "data" [' + PREFIX[1:], ""),
    "empty-file": ("", ""),
}


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("case", INVALID)
def test_invalid_json_names_line_and_column_as_json_loads_does(tmp_path, case, window):
    text, suffix = INVALID[case]
    path = write(tmp_path / "bad.json", text)
    with pytest.raises(SourceError) as err:
        items(path, window)
    assert str(err.value) == json_error(text, suffix).format(path=path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"a": 1},\n 7]', "{path}:2: item 1: expected a JSON object, got int"),
        ('{"data": [\n["x"]]}', "{path}:2: item 0: expected a JSON object, got list"),
        ('{\n"rows": [{"a": 1}]}', "{path}: expected a JSON list of objects (or JSON Lines)"),
        ('{\n"data": {"a": 1}}', "{path}: expected a JSON list of objects (or JSON Lines)"),
        ('"just text"', "{path}: expected a JSON list of objects (or JSON Lines)"),
        ('{"data": [{"a": 1}],\n"data": []}', "{path}:2: a second 'data' list"),
        ('[{"a": 1},\n{"a": ' + "9" * 5000 + "}]", "{path}:2: invalid JSON (Exceeds the limit "),
        ("[\n" + "[" * 100_000 + "]" * 100_000 + "]", "{path}:2: invalid JSON (nested too deeply)"),
    ],
    ids=[
        "scalar-item",
        "list-item",
        "no-data",
        "data-object",
        "scalar",
        "data-twice",
        "digits",
        "deep",
    ],
)
def test_json_corpus_refusals_are_one_line_naming_file_and_line(tmp_path, text, message):
    path = write(tmp_path / "bad.json", text)
    with pytest.raises(SourceError) as err:
        list(raw_rows(Corpus(path=path.name), tmp_path))
    assert str(err.value).startswith(message.format(path=path))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("window", WINDOWS)
def test_json_invalid_utf8_names_its_line(tmp_path, window):
    path = tmp_path / "latin1.json"
    path.write_bytes(PREFIX.encode() + b'{"instruction": "caf\xe9"}]')
    line = PREFIX.count("\n") + 1
    with pytest.raises(SourceError) as err:
        items(path, window)
    assert str(err.value) == f"{path}:{line}: invalid UTF-8; re-encode the file as UTF-8"


# -- CSV: the rows and `where` of csv.reader over the whole file ---------------------------------
def csv_text(rows: list[list], newline: str = "\n") -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows(rows)
    return out.getvalue()


CSV_ROWS = [
    ["id", "instruction", "input", "output"],
    ["r0", 'He said "hi", then left.', "", "ok"],
    ["r1", "Spans\nthree\nlines", "café 😀", "東京"],
    ["r2", "Missing values"],
    [],
    ["r3", "x" * 100_000, "é" * 50_000, "after a 100 KB field"],
]
CSV_FORMS = {
    "lf": csv_text(CSV_ROWS),
    "crlf": csv_text(CSV_ROWS, "\r\n"),
    "no-final-newline": csv_text(CSV_ROWS).rstrip("\n"),
}


def csv_rows_as_before(path: Path) -> list[tuple[str, dict]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return [
            (f"{path.name}:{reader.line_num}", dict(zip_longest(header, values)))
            for values in reader
            if values
        ]


@pytest.mark.parametrize("form", CSV_FORMS)
@pytest.mark.parametrize("bom", [False, True])
def test_csv_rows_are_csv_readers_rows_with_its_line_numbers(tmp_path, form, bom):
    path = write(tmp_path / "c.csv", CSV_FORMS[form], bom=bom)
    assert list(raw_rows(Corpus(path=path.name), tmp_path)) == csv_rows_as_before(path)


def test_csv_refusals_name_the_line_csv_stops_at(tmp_path):
    text = csv_text([["instruction", "output"], ["a", "b"], ["x" * 200_000, "c"]])
    path = write(tmp_path / "big-field.csv", text)
    with pytest.raises(csv.Error) as limit, path.open(newline="") as fh:
        reader = csv.reader(fh)
        list(reader)
    with pytest.raises(SourceError) as err:
        list(raw_rows(Corpus(path=path.name), tmp_path))
    assert str(err.value) == f"{path}:{reader.line_num}: unreadable CSV ({limit.value})"

    path = write(tmp_path / "extra.csv", 'instruction,output\n"a\nb",c\nSay hi, please.,Hi!\n')
    with pytest.raises(SourceError) as err:
        list(raw_rows(Corpus(path=path.name), tmp_path))
    assert str(err.value).startswith(f"{path}:4: more values than the header's 2 columns")

    path = tmp_path / "latin1.csv"
    path.write_bytes(b'instruction,output\n"a\nb",c\ncaf\xe9,x\n')
    with pytest.raises(SourceError) as err:
        list(raw_rows(Corpus(path=path.name), tmp_path))
    assert str(err.value).startswith(f"{path}:4: invalid UTF-8")


# -- memory: a chunk, not the corpus -----------------------------------------------------------
MB = 1 << 20


@pytest.fixture(scope="module")
def big_corpora(tmp_path_factory) -> tuple[Path, Path, int]:
    """A ~40 MB JSON list (one line, as `json.dump` writes it) and a ~40 MB CSV of the same
    rows; and how many rows."""
    folder = tmp_path_factory.mktemp("big")
    row = {"id": "", "instruction": "Translate: " + "héllo wörld " * 500, "output": "ok " * 11_000}
    count = 40 * MB // len(json.dumps(row))
    rows = ({**row, "id": f"r{i}"} for i in range(count))
    with (
        (folder / "big.json").open("w", encoding="utf-8") as fj,
        (folder / "big.csv").open("w", newline="", encoding="utf-8") as fc,
    ):
        out = csv.writer(fc)
        out.writerow(list(row))
        fj.write("[")
        for i, r in enumerate(rows):
            fj.write(("," if i else "") + json.dumps(r))
            out.writerow(list(r.values()))
        fj.write("]")
    return folder / "big.json", folder / "big.csv", count


def peak_bytes(records) -> tuple[int, int]:
    """(records seen, peak traced memory) while reading them, holding none."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        seen = sum(1 for _ in records)
        return seen, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("suffix", ["json", "csv"])
def test_big_corpus_is_read_in_bounded_memory(big_corpora, suffix):
    json_path, csv_path, count = big_corpora
    path = json_path if suffix == "json" else csv_path
    assert path.stat().st_size > 35 * MB
    corpus = Corpus(path=path.name)
    first = itertools.islice(iter_records(corpus, path.parent), 10)
    seen, peak = peak_bytes(first)
    assert seen == 10 and peak < 4 * MB, peak  # the first rows come before the file is read
    seen, peak = peak_bytes(iter_records(corpus, path.parent))
    assert seen == count and peak < 4 * MB, peak
