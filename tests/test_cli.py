import json
import re

import pytest
from click.testing import CliRunner

from plugdata.cli import cli

from .conftest import corpus_rows, one_line_error, write_jsonl


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


def test_build_prints_summary_and_writes_layout(tiny, tmp_path):
    result = run("build", tiny, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    assert re.search(r"^zh\s+8\s+8\s+0\s+-$", result.output, re.M)
    assert "12 configs" in result.output
    root = tmp_path / "out" / "tiny"
    assert (root / "README.md").exists() and (root / "manifest.json").exists()
    assert sorted(p.name for p in (root / "quarantine").iterdir()) == ["it.parquet", "zh.parquet"]
    assert (root / "data" / "zh-plug" / "train-00000-of-00001.parquet").exists()


def test_build_dry_run_writes_nothing(tiny, tmp_path):
    result = run("build", tiny, "--out", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0
    assert "Plan (dry run, nothing written)" in result.output
    assert "zh: align zh.jsonl by id -> configs zh, zh-plug" in result.output
    assert not (tmp_path / "out").exists()


def test_build_lang_and_limit(tiny, tmp_path):
    result = run(
        "build", tiny, "--out", tmp_path / "out", "--lang", "it", "--limit", "2", "--quiet"
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"^it\s+2\s+2\s+0", result.output, re.M)
    assert not re.search(r"^zh\s", result.output, re.M)


def test_build_corpus_override_replaces_a_file(tiny, tmp_path):
    other = write_jsonl(tmp_path / "other" / "zh.jsonl", corpus_rows("zh")[:5])
    result = run("build", tiny, "--out", tmp_path / "out", "--corpus", f"zh={other}", "--quiet")
    assert result.exit_code == 0, result.output
    assert re.search(r"^zh\s+8\s+5\s+3\s+missing-target 3", result.output, re.M)


def test_malformed_jsonl_is_one_line_error_with_file_and_line(tiny):
    (tiny.parent / "zh.jsonl").write_text('{"id": "t000", "instruction": "x"\n', "utf-8")
    line = one_line_error(run("build", tiny, "--out", tiny.parent / "out"))
    assert line.startswith("Error: ") and "zh.jsonl:1: invalid JSON" in line


def test_invalid_utf8_is_one_line_error(tiny):
    (tiny.parent / "it.jsonl").write_bytes(
        b'{"id": "t000", "instruction": "\xff", "output": "x"}\n'
    )
    assert "it.jsonl:1: invalid UTF-8" in one_line_error(run("build", tiny, "--out", tiny.parent))


def test_missing_column_names_column_and_available(tiny):
    rows = [
        {"id": r["id"], "prompt_text": r["instruction"], "output": r["output"]}
        for r in corpus_rows("zh")
    ]
    write_jsonl(tiny.parent / "zh.jsonl", rows)
    line = one_line_error(run("build", tiny, "--out", tiny.parent / "out"))
    assert "no instruction column" in line and "available: id, prompt_text, output" in line


def test_recipe_typo_is_one_line_error(tiny):
    tiny.write_text(tiny.read_text("utf-8").replace("pivot: en", "pivto: en"), "utf-8")
    line = one_line_error(run("build", tiny))
    assert line == f"Error: {tiny}: pivto: unknown key (did you mean 'pivot'?)"


def test_unknown_language_is_one_line_error(tiny):
    tiny.write_text(tiny.read_text("utf-8").replace("pivot: en", "pivot: eng"), "utf-8")
    line = one_line_error(run("build", tiny))
    assert "unknown language code 'eng'; known: de, en, es" in line


def test_index_join_length_mismatch_is_one_line_error(tiny):
    tiny.write_text(tiny.read_text("utf-8").replace("join: id", "join: index"), "utf-8")
    write_jsonl(tiny.parent / "zh.jsonl", corpus_rows("zh")[:3])
    line = one_line_error(run("build", tiny, "--out", tiny.parent / "out"))
    assert "cannot join by index: the pivot corpus has 8 rows and this one 3" in line


def test_missing_recipe_file(tmp_path):
    assert "recipe file not found" in one_line_error(run("build", tmp_path / "none.yaml"))


def test_bad_corpus_option_is_usage_error(tiny):
    result = run("build", tiny, "--corpus", "zh")
    assert result.exit_code == 2 and "use LANG=PATH" in result.output


def test_detect_reports_accuracy_and_rows(tmp_path):
    rows = [
        *corpus_rows("it"),
        {
            "instruction": "x",
            "output": "Este texto está escrito en español y no en italiano, como debería.",
        },
    ]
    path = write_jsonl(tmp_path / "it.jsonl", rows)
    report = tmp_path / "report.jsonl"
    result = run("detect", path, "--field", "output", "--expect", "it", "--report", report)
    assert result.exit_code == 0, result.output
    assert "8/9 pass (accuracy 88.89%)" in result.output
    lines = [json.loads(x) for x in report.read_text("utf-8").splitlines()]
    assert len(lines) == 9 and lines[-1]["pass"] is False and lines[-1]["label"] == "es"
    assert lines[0]["pass"] is True and lines[0]["label"] == "it"


def test_detect_with_langdetect_and_no_expectation(tmp_path):
    path = write_jsonl(tmp_path / "zh.jsonl", corpus_rows("zh"))
    result = run("detect", path, "--field", "instruction", "--detector", "langdetect")
    assert result.exit_code == 0, result.output
    assert "8 rows" in result.output and "accuracy" not in result.output


def test_detect_unknown_field_lists_columns(tmp_path):
    path = write_jsonl(tmp_path / "zh.jsonl", corpus_rows("zh"))
    line = one_line_error(run("detect", path, "--field", "text"))
    assert "no column 'text'; available: id, instruction, input, output" in line


def test_languages_lists_the_table():
    result = run("languages")
    assert result.exit_code == 0
    assert "中文回复：" in result.output and "Respuesta en español:" in result.output


@pytest.mark.parametrize("command", ["build", "detect", "languages"])
def test_every_command_has_help(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert len(result.output.splitlines()) > 3
