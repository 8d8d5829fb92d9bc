import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from plugdata.errors import SourceError
from plugdata.sources.corpus import Columns, Corpus
from plugdata.sources.read import iter_records, join_instruction

from .conftest import corpus_rows, write_jsonl


def read(path, **kw):
    return list(iter_records(Corpus(path=str(path), **kw), path.parent))


def test_alpaca_instruction_and_input_are_joined_one_way(tmp_path):
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"instruction": "Summarise.", "input": "Cats sleep.", "output": "They nap."},
            {"instruction": "Name a colour.", "input": "", "output": "Blue."},
        ],
    )
    records = read(path)
    assert records[0].instruction == join_instruction("Summarise.", "Cats sleep.")
    assert records[0].instruction == "Summarise.\n\nCats sleep."
    assert records[1].instruction == "Name a colour."
    assert records[0].raw_id is None and records[1].index == 1


def test_instruction_response_schema_and_column_mapping(tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", [{"q": "Why?", "a": "Because.", "key": 7}])
    records = read(path, columns=Columns(instruction="q", response="a", id="key"))
    assert (records[0].instruction, records[0].response, records[0].raw_id) == (
        "Why?",
        "Because.",
        "7",
    )


@pytest.mark.parametrize("suffix", ["json", "csv", "parquet"])
def test_every_file_format_reads_the_same_records(tmp_path, suffix):
    rows = corpus_rows("en")
    path = tmp_path / f"c.{suffix}"
    if suffix == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif suffix == "csv":
        import csv

        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    expected = read(write_jsonl(tmp_path / "c.jsonl", rows))
    got = read(path)
    assert [(r.raw_id, r.instruction, r.response) for r in got] == [
        (r.raw_id, r.instruction, r.response) for r in expected
    ]


def test_json_file_holding_json_lines_is_read(tmp_path):
    path = tmp_path / "lines.json"
    write_jsonl(path, corpus_rows("en")[:2])
    assert len(read(path)) == 2


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": \n', encoding="utf-8"
    )
    with pytest.raises(SourceError, match=r"bad\.jsonl:2: invalid JSON"):
        read(path)


def test_malformed_json_array_names_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[\n{"instruction": "a", "output": "b"},\n{"instruction": }\n]', "utf-8")
    with pytest.raises(SourceError, match=r"bad\.json:3: invalid JSON"):
        read(path)


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        b'{"instruction": "a", "output": "b"}\n{"instruction": "caf\xe9", "output": "x"}\n'
    )
    with pytest.raises(SourceError, match=r"latin1\.jsonl:2: invalid UTF-8"):
        read(path)


def test_missing_column_lists_available_columns(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"prompt_text": "a", "answer_text": "b"}])
    with pytest.raises(SourceError) as err:
        read(path)
    assert "no instruction column" in str(err.value)
    assert "available: prompt_text, answer_text" in str(err.value)


def test_misnamed_mapped_column_names_it(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"instruction": "a", "output": "b"}])
    with pytest.raises(
        SourceError,
        match="column 'outptu' \\(for response\\) not found; available: instruction, output",
    ):
        read(path, columns=Columns(response="outptu"))


def test_non_string_values_are_recorded_as_problems_not_coerced_silently(tmp_path):
    path = write_jsonl(
        tmp_path / "n.jsonl",
        [{"instruction": "Sum?", "output": 42}, {"instruction": ["a"], "output": "b"}],
    )
    records = read(path)
    assert records[0].problems == ["not-a-string:response"]
    assert records[1].problems == ["not-a-string:instruction"]


def test_unknown_extension_suggests_format(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(SourceError, match="unknown format 'txt'"):
        read(path)
