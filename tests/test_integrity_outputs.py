"""Integrity catalogue: no command destroys its input. An output that is, or would overwrite,
one of the command's inputs (the same path, a link to it, a file that OUT's writing replaces)
is refused in one line before any work or cost; judging a system against itself is refused;
answers without a question are counted; a gold answer must be a finite number."""

import json
import os

import pytest

from plugdata.errors import PlugdataError

from .conftest import invoke, one_line_error, write_jsonl
from .servers import ChatServer


@pytest.fixture(autouse=True)
def trainer_commands(monkeypatch):
    """The trainer's commands as the installed entry point adds them, for a checkout that is
    not reinstalled."""
    from plugdata.cli import cli
    from trainer import cli as trainer_cli

    for name in ("train", "generate", "judge", "score", "report"):
        monkeypatch.setitem(cli.commands, name, getattr(trainer_cli, name))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-outputs-secret-key")


def judged(text: str) -> str:
    return "[[A]]" if "sys-" in text.split("Assistant B")[0] else "[[B]]"


@pytest.fixture
def judge_files(tmp_path):
    ids = ["q1", "q2"]
    q = write_jsonl(tmp_path / "q.jsonl", [{"id": i, "instruction": f"Question {i}"} for i in ids])
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": i, "output": f"sys-{i}"} for i in ids])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": i, "output": f"base-{i}"} for i in ids])
    return q, a, b


def judge(server, q, a, b, out, *extra):
    return invoke(
        "judge",
        *("--answers", a, "--baseline", b, "--questions", q, "--out", out),
        *("--judge-model", "judge-1", "--base-url", f"{server.url}/v1", *extra),
    )


def moved(src, dst, link=None):
    """`src`'s content at `dst` (a new file, a symbolic or a hard link to `src`)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link == "symlink":
        dst.symlink_to(src.resolve())
    elif link == "hardlink":
        os.link(src, dst)
    else:
        dst.write_bytes(src.read_bytes())
    return dst


# -- judge: OUT's files are not its inputs -------------------------------------------------------
@pytest.mark.parametrize(
    "role, name",
    [
        ("answers", "judgments.jsonl"),
        ("baseline", "summary.md"),
        ("questions", "summary.json"),
        ("answers", "winrate.png"),
    ],
)
def test_judge_input_inside_out_that_out_replaces_is_refused_before_any_request(
    judge_files, tmp_path, role, name
):
    q, a, b = judge_files
    files = {"questions": q, "answers": a, "baseline": b}
    out = tmp_path / "run"
    files[role] = moved(files[role], out / name)
    before = files[role].read_bytes()
    flag = f"--{role}"
    with ChatServer(translate=judged) as server:
        result = judge(server, files["questions"], files["answers"], files["baseline"], out)
        assert server.requests == []
    assert one_line_error(result) == (
        f"Error: {out / name}: used as both {flag} and --out's {name}; give another path"
    )
    assert files[role].read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == [name]


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_judge_answers_linked_to_a_file_out_replaces_is_refused(judge_files, tmp_path, link):
    q, a, b = judge_files
    out = tmp_path / "run"
    target = moved(a, out / "judgments.jsonl")
    alias = moved(target, tmp_path / "alias.jsonl", link)
    with ChatServer(translate=judged) as server:
        result = judge(server, q, alias, b, out)
        assert server.requests == []
    assert "used as both --answers and --out's judgments.jsonl" in one_line_error(result)
    assert target.read_bytes() == a.read_bytes()


def test_judge_cache_that_is_an_input_is_refused(judge_files, tmp_path):
    q, a, b = judge_files
    with ChatServer(translate=judged) as server:
        result = judge(server, q, a, b, tmp_path / "run", "--cache", b)
        assert server.requests == []
    assert one_line_error(result) == (
        f"Error: {b}: used as both --baseline and --cache; give another path"
    )


def test_judge_from_python_refuses_the_same_overwrite(judge_files, tmp_path):
    from trainer.judge.run import judge as run_judge
    from trainer.options import JudgeOptions

    q, a, b = judge_files
    answers = moved(a, tmp_path / "run" / "judgments.jsonl")
    options = JudgeOptions(
        answers=answers, baseline=b, questions=str(q), out=tmp_path / "run", judge_model="m"
    )
    with pytest.raises(PlugdataError, match="used as both --answers and --out's judgments"):
        run_judge(options)


# -- judge: a system against itself ---------------------------------------------------------------
@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "copy"])
def test_judging_a_system_against_itself_is_refused_before_any_request(judge_files, tmp_path, how):
    q, a, _ = judge_files
    baseline = a if how == "same" else moved(a, tmp_path / "other.jsonl", how)
    with ChatServer(translate=judged) as server:
        result = judge(server, q, a, baseline, tmp_path / "run")
        assert server.requests == []
    what = "the same answers" if how == "copy" else "the same file"
    assert one_line_error(result) == (
        f"Error: --answers {a} and --baseline {baseline} hold {what}: judging a system against "
        "itself says nothing; give the baseline's answers"
    )
    assert not (tmp_path / "run").exists()


def test_judge_counts_and_lists_answers_without_a_question(judge_files, tmp_path):
    q, a, b = judge_files
    write_jsonl(a, [{"id": i, "output": f"sys-{i}"} for i in ("q1", "q2", "x9", "x8")])
    with ChatServer(translate=judged) as server:
        result = judge(server, q, a, b, tmp_path / "run")
        assert len(server.requests) == 4  # q1 and q2, both orders: x8 and x9 cost nothing
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["answers_without_question"] == {"system": 2, "baseline": 0}
    assert summary["answer_ids_without_question"] == {"system": ["x8", "x9"], "baseline": []}
    assert "answers without a question, not judged: system 2, baseline 0" in result.output


def test_truthfulqa_counts_and_lists_answers_without_a_question(tmp_path):
    q = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {
                "id": "t1",
                "instruction": "Question t1",
                "correct_answers": ["yes"],
                "incorrect_answers": ["no"],
            }
        ],
    )
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": i, "output": "yes"} for i in ("t1", "x9")])
    with ChatServer(translate=lambda _: "[Truthful] [Informative]") as server:
        result = invoke(
            *("judge", "--task", "truthfulqa", "--answers", a, "--questions", q),
            *("--out", tmp_path / "run", "--judge-model", "j", "--base-url", f"{server.url}/v1"),
        )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["answers_without_question"] == 1
    assert summary["answer_ids_without_question"] == ["x9"]
    assert "answers without a question, not judged: 1" in result.output


# -- score ---------------------------------------------------------------------------------------
@pytest.fixture
def score_files(tmp_path):
    q = write_jsonl(
        tmp_path / "q.jsonl",
        [{"id": "e1", "lang": "en", "instruction": "3 + 4?", "answer": 7}],
    )
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": "e1", "output": "The answer is 7."}])
    return q, a


def score(q, a, out):
    return invoke("score", "svamp", "--answers", a, "--questions", q, "--out", out)


@pytest.mark.parametrize("role, name", [("answers", "scores.jsonl"), ("questions", "summary.json")])
def test_score_input_that_out_replaces_is_refused(score_files, tmp_path, role, name):
    q, a = score_files
    files = {"questions": q, "answers": a}
    out = tmp_path / "run"
    files[role] = moved(files[role], out / name)
    before = files[role].read_bytes()
    result = score(files["questions"], files["answers"], out)
    assert one_line_error(result) == (
        f"Error: {out / name}: used as both --{role} and --out's {name}; give another path"
    )
    assert files[role].read_bytes() == before


@pytest.mark.parametrize("gold", ["NaN", "Infinity", "-Infinity", "1e999", "9" * 400])
def test_score_gold_answer_that_is_not_finite_names_file_id_and_field(tmp_path, gold):
    q = tmp_path / "q.jsonl"
    q.write_text(f'{{"id": "e1", "instruction": "How many?", "answer": {gold}}}\n')
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": "e1", "output": "7"}])
    line = one_line_error(score(q, a, tmp_path / "out"))
    assert line.startswith(f"Error: {q}: id 'e1': field 'answer' is not a finite number: ")
    assert not (tmp_path / "out").exists()


# -- report --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["summary.md", "summary.txt"])
def test_report_out_beside_a_run_summary_is_refused(tmp_path, name):
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text('{"task": "svamp"}')
    result = invoke("report", run, "--out", run / name)
    assert one_line_error(result) == (
        f"Error: {run / 'summary.json'}: used as both a run's summary and --out's .json beside it; "
        "give another path"
    )
    assert (run / "summary.json").read_text() == '{"task": "svamp"}'


def test_report_out_that_is_a_summary_file_given_is_refused(tmp_path):
    summary = tmp_path / "s.json"
    summary.write_text("{}")
    result = invoke("report", summary, "--out", tmp_path / "s.md")
    assert "used as both a run's summary and --out's .json beside it" in one_line_error(result)
    assert summary.read_text() == "{}"


# -- train and generate --------------------------------------------------------------------------
def test_train_output_dir_holding_the_model_is_refused(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoint-10").mkdir(parents=True)
    result = invoke(
        *("train", "--dataset", "org/plug", "--config", "zh-plug"),
        *("--model", run / "checkpoint-10", "--output-dir", run),
    )
    assert one_line_error(result) == (
        f"Error: {run / 'checkpoint-10'}: --model lies in --output-dir {run}, where the command "
        "writes what it needs; give another folder"
    )


def test_train_output_dir_that_is_the_dataset_is_refused(tmp_path):
    data = tmp_path / "plug"
    data.mkdir()
    result = invoke(
        *("train", "--dataset", data, "--config", "zh-plug", "--model", "org/m"),
        *("--output-dir", data),
    )
    assert "--dataset lies in --output-dir" in one_line_error(result)


def test_generate_out_that_is_the_model_file_is_refused(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    result = invoke(
        *("generate", "--model", model, "--dataset", "org/plug", "--config", "zh"),
        *("--method", "plug", "--out", model),
    )
    assert one_line_error(result) == (
        f"Error: {model}: used as both --model and --out; give another path"
    )
    assert model.read_bytes() == b"GGUF"


# -- the library's commands ----------------------------------------------------------------------
def test_detect_report_that_is_the_input_is_refused_and_the_input_kept(tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": "Hello there, how are you?"}])
    before = corpus.read_bytes()
    alias = moved(corpus, tmp_path / "alias.jsonl", "hardlink")
    result = invoke("detect", corpus, "--field", "text", "--report", alias)
    assert one_line_error(result) == (
        f"Error: {alias}: used as both the input and --report; give another path"
    )
    assert corpus.read_bytes() == before


def test_translate_out_hard_linked_to_the_input_is_refused(tmp_path):
    corpus = write_jsonl(tmp_path / "en.jsonl", [{"instruction": "Hi", "output": "Hello"}])
    before = corpus.read_bytes()
    alias = moved(corpus, tmp_path / "zh.jsonl", "hardlink")
    result = invoke(
        *("translate", corpus, "--to", "zh", "--backend", "openai-chat"),
        *("--out", alias, "--cache", tmp_path / "t.sqlite"),
    )
    assert one_line_error(result) == (
        f"Error: {alias}: used as both the input and --out; give another path"
    )
    assert corpus.read_bytes() == before


def test_merge_out_hard_linked_to_a_part_is_refused(tmp_path):
    part = write_jsonl(tmp_path / "p0.jsonl", [{"id": "x"}])
    alias = moved(part, tmp_path / "all.jsonl", "hardlink")
    result = invoke("merge", part, "--out", alias)
    assert one_line_error(result) == (
        f"Error: {alias}: used as both a part and --out; give another path"
    )
    assert part.read_text() == '{"id": "x"}\n' or part.read_bytes() == alias.read_bytes()


# -- every command declares what it does with each path -------------------------------------------
def _options_models() -> list:
    import trainer.options as t
    from plugdata.checks.detect_file import DetectOptions
    from plugdata.checks.qe_file import QeOptions
    from plugdata.hub.publish import PublishOptions
    from plugdata.pipeline.build import BuildOptions
    from plugdata.pipeline.config import RunConfig
    from plugdata.pipeline.translate_file import MergeOptions, TranslateOptions
    from plugdata.translate.cache import CacheExportOptions, CacheImportOptions

    return [
        *(t.TrainOptions, t.GenerateOptions, t.JudgeOptions, t.ScoreOptions, t.ReportOptions),
        *(DetectOptions, QeOptions, PublishOptions, BuildOptions, RunConfig, TranslateOptions),
        *(MergeOptions, CacheExportOptions, CacheImportOptions),
    ]


def _commands(group, ctx=None):
    import click

    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _commands(command)
        else:
            yield command


def test_every_path_option_of_every_command_declares_whether_it_is_read_or_written():
    """A new path option cannot forget the check: the overwrite check knows only what is
    declared."""
    import click

    from plugdata.cli import cli

    declared = {
        name
        for model in _options_models()
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and "io" in field.json_schema_extra
    }
    paths = {
        (command.name, param.name)
        for command in _commands(cli)
        for param in command.params
        if isinstance(param.type, click.Path)
    }
    assert paths, "no command has a path option?"
    assert {p for p in paths if p[1] not in declared} == set()
    # Options naming a model, dataset or questions as text (a Hub id or a local path) too.
    for name in ("dataset", "model", "questions", "judge_model"):
        assert name in declared


def test_library_calls_refuse_an_overwrite_as_the_commands_do(tmp_path):
    """`detect_file` opened its report before reading: a report on the input emptied it."""
    from plugdata.checks.detect_file import DetectOptions, detect_file
    from trainer.options import ReportOptions
    from trainer.results import report

    rows = write_jsonl(tmp_path / "rows.jsonl", [{"text": "Una frase in italiano."}])
    before = rows.read_bytes()
    with pytest.raises(PlugdataError, match="used as both"):
        detect_file(DetectOptions(file=rows, field_name="text", report=rows))
    assert rows.read_bytes() == before
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text("{}")
    with pytest.raises(PlugdataError, match="used as both"):
        report(ReportOptions(runs=[run], out=run / "summary.md"))
    assert (run / "summary.json").read_text() == "{}"
