import json
import re

import click
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


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        paths.append((*prefix, name))
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


def _command(path: tuple[str, ...]) -> click.Command:
    command = cli
    for name in path:
        command = command.get_command(click.Context(command), name)
    return command


COMMANDS = _command_paths(cli)


def test_the_trainer_commands_are_found_through_the_entry_point():
    assert {"train", "generate", "judge", "cache", ("cache", "export")} <= {
        p[0] if len(p) == 1 else p for p in COMMANDS
    }


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help(path):
    result = run(*path, "--help")
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) > 3
    command = _command(path)
    assert command.help and command.help.strip()
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{' '.join(path)} {param.opts[0]} has no help"


def _models(command: str) -> list:
    """The options models a command's flags are derived from."""
    import trainer.options
    from plugdata.checks.detect_file import DetectOptions
    from plugdata.hub.publish import PublishOptions
    from plugdata.pipeline.build import BuildOptions
    from plugdata.pipeline.config import RunConfig
    from plugdata.pipeline.translate_file import TranslateOptions

    return {
        "train": [trainer.options.TrainOptions],
        "generate": [trainer.options.GenerateOptions],
        "judge": [trainer.options.JudgeOptions],
        "report": [trainer.options.ReportOptions],
        "score svamp": [trainer.options.ScoreOptions],
        "build": [BuildOptions, RunConfig],
        "translate": [TranslateOptions, RunConfig],
        "publish": [PublishOptions],
        "detect": [DetectOptions],
    }[command]


@pytest.mark.parametrize(
    "command",
    [
        "train",
        "generate",
        "judge",
        "report",
        "score svamp",
        "build",
        "translate",
        "publish",
        "detect",
    ],
)
def test_command_options_are_the_models_fields(command):
    """One declaration: each field is an option (or argument) with the model's default, and
    nothing else."""
    fields = {name: f for model in _models(command) for name, f in model.model_fields.items()}
    params = {p.name: p for p in _command(tuple(command.split())).params if p.name != "help"}
    assert set(params) == set(fields)
    for name, field in fields.items():
        if not field.is_required() and not params[name].multiple:
            assert params[name].default == field.get_default(call_default_factory=True), name
        assert params[name].required == field.is_required(), name


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--learning-rate", "-1"], "Error: --learning-rate -1.0: must be greater than 0"),
        (["--epochs", "0"], "Error: --epochs 0.0: must be greater than 0"),
        (["--max-length", "8"], "Error: --max-length 8: must be greater than or equal to 16"),
    ],
)
def test_refused_train_values_are_one_line_naming_the_option(tmp_path, args, expected):
    base = ["train", "--dataset", tmp_path, "--config", "zh-plug", "--model", tmp_path]
    line = one_line_error(run(*base, "--output-dir", tmp_path / "run", *args))
    assert line == expected
    assert not (tmp_path / "run").exists()


def test_refused_generate_method_names_the_choices(tmp_path):
    line = one_line_error(
        run(
            "generate",
            "--model",
            "m",
            "--dataset",
            "d",
            "--config",
            "zh",
            "--method",
            "plugg",
            "--out",
            tmp_path / "a.jsonl",
        )
    )
    assert line.startswith("Error: --method 'plugg': choose one of plug, plug-pro, mono")


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["judge", "--concurrency", "many"],
            "Error: Invalid value for '--concurrency': 'many' is not a valid integer.",
        ),
        (
            ["translate", "in.jsonl", "--to", "it", "--backend", "b"],
            "Error: Missing option '--out'.",
        ),
    ],
)
def test_refused_values_of_click_types_are_one_line_too(args, expected):
    result = run(*args)
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.strip()] == [expected]


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["build", "r.yaml", "--limit", "0"],
            "Error: --limit 0: must be greater than or equal to 1",
        ),
        (
            [
                "translate",
                "in.jsonl",
                "--to",
                "it",
                "--backend",
                "b",
                "--out",
                "o.jsonl",
                "--max-cost",
                "-1",
            ],
            "Error: --max-cost -1.0: must be greater than or equal to 0",
        ),
        (["build", "r.yaml", "--corpus", "zh"], "Error: --corpus: 'zh': use LANG=PATH"),
        (
            ["build", "r.yaml", "--chunk-rows", "0"],
            "Error: --chunk-rows 0: must be greater than or equal to 1",
        ),
        (
            ["translate", "in.jsonl", "--to", "xx", "--backend", "b", "--out", "o.jsonl"],
            "Error: --to 'xx': unknown language code 'xx'",
        ),
    ],
)
def test_values_the_options_models_refuse_are_one_line_naming_the_flag(args, expected):
    """Every command's flags come from its options models, which refuse values the same way."""
    assert one_line_error(run(*args)).startswith(expected)


def test_a_command_that_cannot_be_loaded_leaves_the_others_working(monkeypatch):
    """Installed metadata naming a command the code no longer (or not yet) has: the CLI still
    runs, and the broken command says why in one line."""
    import importlib.metadata

    from click.testing import CliRunner

    from plugdata import cli as cli_module

    broken = importlib.metadata.EntryPoint("gone", "trainer.cli:gone", "plugdata.commands")
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [broken])
    group = cli_module.PlugdataGroup(
        "plugdata", commands={"detect": cli_module.cli.commands["detect"]}
    )
    runner = CliRunner()
    assert "gone" in runner.invoke(group, ["--help"]).output
    assert runner.invoke(group, ["detect", "--help"]).exit_code == 0
    result = runner.invoke(group, ["gone", "--anything"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: plugdata gone: trainer.cli:gone could not be loaded (module 'trainer.cli' has no "
        "attribute 'gone'); reinstall plugdata (pip install -e .)"
    ]
