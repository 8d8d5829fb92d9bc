"""JSON and JSON Lines files: one reader, one writer, every refusal one line."""

import pytest

from plugdata.core.jsonl import read_json_lines, resume_json_lines, write_json, write_json_lines
from plugdata.errors import SourceError


def test_written_lines_read_back_with_their_numbers(tmp_path):
    path = tmp_path / "out" / "rows.jsonl"
    write_json_lines(path, [{"id": "a", "text": "中文"}, {"id": "b"}])
    assert "中文" in path.read_text("utf-8")  # no \\u escapes
    assert list(read_json_lines(path)) == [(1, {"id": "a", "text": "中文"}), (2, {"id": "b"})]
    assert [p.name for p in path.parent.iterdir()] == ["rows.jsonl"]  # no temporary left


def test_a_bad_line_is_one_error_naming_file_and_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a"}\n{"id": \n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"rows.jsonl:2: invalid JSON"):
        list(read_json_lines(path))


def test_resuming_drops_a_line_cut_by_an_interruption(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"id": "a"}\n[1]\n{"id": "b"}\n{"id": "c", "out', encoding="utf-8")
    assert [row["id"] for row in resume_json_lines(path)] == ["a", "b"]
    assert path.read_text("utf-8") == '{"id": "a"}\n{"id": "b"}\n'
    assert resume_json_lines(tmp_path / "missing.jsonl") == []


def test_a_json_file_is_replaced_whole(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"a": 1})
    write_json(path, {"b": "ü"})
    assert path.read_text("utf-8") == '{\n  "b": "ü"\n}\n'
