"""A catalogue of bad input: each case is the input, the one line the user reads (exit 1, no
traceback) and what stays as it was. Corpora, recipes, answer files and the arguments that name
a dataset or a model; and where rows come from, written without local paths."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi

from plugdata.core.safe_yaml import safe_yaml_load
from plugdata.errors import RecipeError
from plugdata.remote.locations import LocationError, check_dataset
from plugdata.sources.corpus import Corpus, HubSpec
from plugdata.sources.read import corpus_label, iter_records

from .conftest import (
    corpus_rows,
    invoke,
    one_line_error,
    translate_args,
    translated,
    write_jsonl,
)
from .hub_server import HubServer, configure_endpoint
from .servers import LibreServer


def nothing_written(folder: Path) -> bool:
    """No file under `folder` (a build may have made empty folders before it failed)."""
    return not any(path.is_file() for path in folder.rglob("*"))


def build(recipe: Path, *extra):
    return invoke("build", recipe, "--out", recipe.parent / "out", "--quiet", *extra)


def append_line(path: Path, text: str) -> int:
    """Append one raw line to a corpus file; returns its line number."""
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return len(path.read_text(encoding="utf-8").splitlines())


# -- corpora: JSON that Python refuses quarantines its row; the others are built ----------------
REFUSED = [
    ("1" * 5000, "integer-too-long"),
    ("[" * 100_000 + "]" * 100_000, "nested-too-deeply"),
    ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nested-too-deeply"),
]
REFUSED_IDS = ["5000-digit-integer", "100000-deep-list", "100000-deep-object"]


@pytest.mark.parametrize(("value", "reason"), REFUSED, ids=REFUSED_IDS)
def test_build_json_line_that_python_refuses_quarantines_its_row(tiny, value, reason):
    en = tiny.parent / "en.jsonl"
    line = append_line(en, '{"id": "t999", "instruction": "x", "output": "y", "n": ' + value + "}")
    result = build(tiny, "--lang", "zh")
    assert result.exit_code == 0, result.output
    quarantine = pq.read_table(tiny.parent / "out" / "tiny" / "quarantine" / "zh.parquet")
    by_where = {row["where"].split(" | ")[0]: row["reason"] for row in quarantine.to_pylist()}
    assert by_where == {f"en.jsonl:{line}": f"{reason}:pivot_row"}
    manifest = json.loads((tiny.parent / "out" / "tiny" / "manifest.json").read_text("utf-8"))
    assert manifest["configs"]["zh"]["counts"]["kept"] == 8


@pytest.mark.parametrize(("value", "reason"), REFUSED, ids=REFUSED_IDS)
def test_json_list_item_that_python_refuses_is_a_refused_row_and_the_rest_are_read(
    tmp_path, value, reason
):
    path = tmp_path / "rows.json"
    path.write_text(
        '[{"instruction": "a", "output": "b"},\n {"instruction": "c", "n": ' + value + ", "
        '"s": "]}\\"[{"},\n {"instruction": "d", "output": "e"}]',
        encoding="utf-8",
    )
    records = list(iter_records(Corpus(path=str(path)), tmp_path))
    assert [(r.where, r.instruction, r.problems) for r in records] == [
        ("rows.json: item 0", "a", []),
        ("rows.json: item 1", "", [f"{reason}:row"]),
        ("rows.json: item 2", "d", []),
    ]


def test_aligned_row_that_python_refuses_leaves_its_pivot_row_quarantined(tiny):
    zh = tiny.parent / "zh.jsonl"
    rows = [row for row in corpus_rows("zh") if row["id"] != "t003"]
    write_jsonl(zh, rows)
    append_line(zh, '{"id": "t003", "instruction": "x", "output": "y", "n": ' + "9" * 5000 + "}")
    result = build(tiny, "--lang", "zh")
    assert result.exit_code == 0, result.output
    assert "1 target rows match no pivot row" in result.output


def test_translate_json_line_that_python_refuses_quarantines_its_row(tmp_path):
    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en")[:2])
    deep = append_line(corpus, '{"id": "x", "n": ' + "[" * 100_000 + "]" * 100_000 + "}")
    long = append_line(corpus, '{"id": "y", "output": "y", "n": ' + "7" * 5000 + "}")
    with LibreServer() as server:
        options = ["provider=libre", f"base_url={server.url}"]
        result = invoke(*translate_args(corpus, tmp_path, "deep-translator", options))
    assert result.exit_code == 0, result.output
    assert "kept 2, quarantined 2 (" in result.output
    lines = (tmp_path / "it.quarantine.jsonl").read_text("utf-8").splitlines()
    assert sorted((json.loads(x)["where"], json.loads(x)["reason"]) for x in lines) == [
        (f"en.jsonl:{deep}", "nested-too-deeply:pivot_row"),
        (f"en.jsonl:{long}", "integer-too-long:pivot_row"),
    ]


def test_whole_json_file_nested_too_deep_names_the_file(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    message = one_line_error(invoke("detect", path, "--field", "instruction"))
    assert message == f"Error: {path}:1: invalid JSON (nested too deeply) in item 0"


def test_build_lone_surrogates_quarantine_their_rows_with_the_field_named(tiny):
    """Text, id and kept column: the row goes to quarantine with U+FFFD in place of the
    surrogate (so the table can be written); the other rows are untouched."""
    rows = corpus_rows("en")
    for row in rows:
        row["category"] = "general"
    en = tiny.parent / "en.jsonl"
    write_jsonl(en, rows)
    raw = en.read_text(encoding="utf-8").splitlines()
    raw[0] = raw[0].replace("Give three", "Give \\ud800three")
    raw[1] = raw[1].replace('"t001"', '"t001\\udfff"')
    raw[2] = raw[2].replace('"general"', '"gen\\ud83d"')
    en.write_text("\n".join(raw) + "\n", encoding="utf-8")
    tiny.write_text(
        tiny.read_text().replace("path: en.jsonl", "path: en.jsonl\n  keep: [category]"), "utf-8"
    )
    result = build(tiny, "--lang", "zh")
    assert result.exit_code == 0, result.output
    quarantine = pq.read_table(tiny.parent / "out" / "tiny" / "quarantine" / "zh.parquet")
    by_where = {row["where"].split(" | ")[0]: row for row in quarantine.to_pylist()}
    assert {w: by_where[w]["reason"] for w in ("en.jsonl:1", "en.jsonl:2", "en.jsonl:3")} == {
        "en.jsonl:1": "invalid-text:pivot_instruction",
        "en.jsonl:2": "invalid-text:pivot_id",
        "en.jsonl:3": "invalid-text:pivot_category",
    }
    assert by_where["en.jsonl:1"]["pivot_instruction"].startswith("Give \ufffdthree")
    assert by_where["en.jsonl:2"]["id"] == "tiny/t001\ufffd"
    assert by_where["en.jsonl:3"]["category"] == "gen\ufffd"
    manifest = json.loads((tiny.parent / "out" / "tiny" / "manifest.json").read_text("utf-8"))
    assert manifest["configs"]["zh"]["counts"]["kept"] == 5


def test_build_empty_corpus_is_an_error_not_empty_configs(tiny):
    (tiny.parent / "zh.jsonl").write_text("\n", encoding="utf-8")
    assert one_line_error(build(tiny)) == "Error: zh.jsonl: no rows"
    assert nothing_written(tiny.parent / "out")


def test_csv_with_a_byte_order_mark_reads_its_first_column(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfinstruction,output\nSay hi.,Hi!\n")
    records = list(iter_records(Corpus(path=str(path)), tmp_path))
    assert [(r.where, r.instruction, r.response) for r in records] == [
        ("bom.csv:2", "Say hi.", "Hi!")
    ]


def test_csv_invalid_utf8_still_names_its_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"\xef\xbb\xbfinstruction,output\nSay hi.,Hi!\ncaf\xe9,x\n")
    message = one_line_error(invoke("detect", path, "--field", "instruction"))
    assert message.startswith(f"Error: {path}:3: invalid UTF-8")


def test_csv_row_with_more_values_than_the_header_names_its_line(tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text("instruction,output\nSay hi, please.,Hi!\n", encoding="utf-8")
    message = one_line_error(invoke("detect", path, "--field", "instruction"))
    assert message.startswith(f"Error: {path}:2: more values than the header's 2 columns")


# -- recipes: errors name the file and the key path, and nothing is built ------------------------
def recipe_with(tiny: Path, old: str, new: str) -> Path:
    text = tiny.read_text(encoding="utf-8")
    assert old in text
    tiny.write_text(text.replace(old, new, 1), encoding="utf-8")
    return tiny


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "splits:",
            "validation: {thresholds: {default: 1.5}}\nsplits:",
            "validation.thresholds.default: Input should be less than or equal to 1",
        ),
        (
            "splits:",
            "validation: {thresholds: {zh: -0.1}}\nsplits:",
            "validation.thresholds.zh: Input should be greater than or equal to 0",
        ),
        (
            "splits:",
            "validation: {thresholds: {zh-cn: 0.5}}\nsplits:",
            "validation.thresholds.zh-cn: unknown language code 'zh-cn'",
        ),
        (
            "splits:",
            "validation: {length_ratio: [5, 0.2]}\nsplits:",
            "validation.length_ratio: give [min, max] with 0 <= min <= max and max > 0",
        ),
        (
            "splits:",
            "validation: {max_compression: 1.5}\nsplits:",
            "validation.max_compression: Input should be less than or equal to 1",
        ),
        (
            "splits:",
            "languages: [{code: xx, name: X, response_header: '', instruction_header: 'X:'}]\n"
            "splits:",
            "languages.0.response_header: must hold words, not only spaces or a colon",
        ),
        (
            "splits:",
            "languages: [{code: xx, name: X, response_header: 'R:', instruction_header: ' : '}]\n"
            "splits:",
            "languages.0.instruction_header: must hold words, not only spaces or a colon",
        ),
        (
            "splits:",
            "languages: [{code: xx, name: '  ', response_header: 'R:', instruction_header: 'I:'}]"
            "\nsplits:",
            "languages.0.name: must not be empty",
        ),
        (
            "path: en.jsonl",
            "path: en.jsonl\n  keep: [id]",
            "source.keep: 'id' is a column plugdata writes itself",
        ),
        (
            "path: en.jsonl",
            "path: en.jsonl\n  keep: [where]",
            "source.keep: 'where' is a column plugdata writes itself",
        ),
        (
            "path: en.jsonl",
            "path: en.jsonl\n  keep: [meta]",
            "source.keep: 'meta' is a column plugdata writes itself",
        ),
        (
            "path: en.jsonl",
            "path: en.jsonl\n  keep: [topic, topic]",
            "source.keep: 'topic' is listed twice",
        ),
        ("path: en.jsonl", "path: ' '", "source.path: must not be empty"),
    ],
    ids=[
        "threshold-above-1",
        "threshold-below-0",
        "threshold-for-unknown-code",
        "length-ratio-min-above-max",
        "max-compression-above-1",
        "empty-response-header",
        "colon-only-instruction-header",
        "blank-language-name",
        "keep-id",
        "keep-where",
        "keep-meta",
        "keep-twice",
        "blank-path",
    ],
)
def test_recipe_value_out_of_range_names_file_and_key(tiny, old, new, expected):
    message = one_line_error(build(recipe_with(tiny, old, new)))
    assert message.startswith(f"Error: {tiny}: {expected}")
    assert nothing_written(tiny.parent / "out")


def laughs(levels: int = 9, indent: str = "      ") -> str:
    """A "billion laughs": each level lists the previous one ten times."""
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"{indent}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines)


def test_yaml_alias_bomb_in_translate_options_is_refused_in_the_dry_run(tiny):
    recipe = recipe_with(
        tiny,
        "  it: {align: {path: it.jsonl, join: id}}",
        "  it:\n    translate:\n      backend: deep-translator\n      glossary:\n"
        + laughs(indent="        "),
    )
    started = time.perf_counter()
    message = one_line_error(build(recipe, "--dry-run"))
    assert time.perf_counter() - started < 2
    expanded = re.match(
        rf"Error: {re.escape(str(tiny))}: YAML that expands to ([\d,]+) values", message
    )
    assert expanded and int(expanded.group(1).replace(",", "")) > 10**9
    assert message.endswith("repeated aliases (*name) multiply their anchor's content")


def test_recursive_yaml_alias_is_refused(tiny):
    recipe = recipe_with(tiny, "splits:", "extra: &loop [1, *loop]\nsplits:")
    message = one_line_error(build(recipe, "--dry-run"))
    assert message == f"Error: {tiny}: a YAML alias refers to the structure that contains it"


def test_safe_yaml_load_serves_option_values_too():
    assert safe_yaml_load("{a: &x [1, 2], b: *x}", "--option glossary") == {
        "a": [1, 2],
        "b": [1, 2],
    }
    with pytest.raises(RecipeError, match=r"^--option glossary: YAML that expands to"):
        safe_yaml_load("\n".join(["root:", laughs(indent="  ")]), "--option glossary")


def test_recipe_that_is_not_utf8_is_one_line(tiny):
    tiny.write_bytes(tiny.read_bytes().replace(b"Tiny test set", b"Tiny caf\xe9 set"))
    message = one_line_error(build(tiny))
    assert message.startswith(f"Error: {tiny}: not UTF-8 text")


# -- dataset and model arguments: a local path that is not there, an unreachable Hub ------------
def train(dataset, model, tmp_path: Path):
    args = ["--dataset", dataset, "--config", "zh-plug", "--model", model]
    return invoke("train", *args, "--output-dir", tmp_path / "run")


def generate(dataset, model, tmp_path: Path):
    args = ["--model", model, "--dataset", dataset, "--config", "zh", "--method", "plug"]
    return invoke("generate", *args, "--out", tmp_path / "answers.jsonl")


def timed(command, *args):
    started = time.perf_counter()
    result = command(*args)
    return result, time.perf_counter() - started


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A working directory holding `build/` (empty) and a model folder."""
    (tmp_path / "build").mkdir()
    (tmp_path / "model").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("dataset", "because"),
    [
        ("build/nope", " (a local path: 'build' exists here)"),
        ("./nope", ""),
        ("data/zh/plug", " (a local path: a Hub id has one '/')"),
        ("answers.jsonl", " (a local path: a Hub id does not end in .jsonl)"),
    ],
)
@pytest.mark.parametrize("command", [train, generate])
def test_missing_local_dataset_fails_at_once(workdir, command, dataset, because):
    result, seconds = timed(command, dataset, "model", workdir)
    assert one_line_error(result) == f"Error: --dataset {dataset}: no such folder{because}"
    assert seconds < 1
    assert sorted(p.name for p in workdir.iterdir()) == ["build", "model"]


@pytest.mark.parametrize("command", [train, generate])
def test_missing_local_model_fails_at_once(workdir, command):
    result, seconds = timed(command, "build", "build/tiny-llama", workdir)
    message = one_line_error(result)
    assert (
        message
        == "Error: --model build/tiny-llama: no such directory (a local path: 'build' exists here)"
    )
    assert seconds < 1


def test_judge_missing_questions_and_missing_local_judge_model(workdir):
    answers = write_jsonl(workdir / "a.jsonl", [{"id": "q1", "output": "Hi."}])
    baseline = write_jsonl(workdir / "b.jsonl", [{"id": "q1", "output": "Hello."}])
    common = ["judge", "--answers", answers, "--baseline", baseline, "--out", workdir / "judged"]
    missing = one_line_error(
        invoke(*common, "--questions", "q.jsonl", "--judge-model", "judge-1", "--dry-run")
    )
    assert missing == (
        "Error: --questions q.jsonl: no such file or folder (a local path: a Hub id does not "
        "end in .jsonl)"
    )
    questions = write_jsonl(workdir / "q.jsonl", [{"id": "q1", "instruction": "Say hi."}])
    local = ["--judge-backend", "transformers", "--judge-model", "./judge", "--dry-run"]
    no_model = one_line_error(invoke(*common, "--questions", questions, *local))
    assert no_model == "Error: --judge-model ./judge: no such directory"
    assert not (workdir / "judged").exists()


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on: bound, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("command", [train, generate])
def test_unreachable_hub_fails_at_once_and_suggests_offline_mode(workdir, monkeypatch, command):
    url = closed_port_url()
    configure_endpoint(url, monkeypatch)
    result, seconds = timed(command, "org/plug-data", "model", workdir)
    message = one_line_error(result)
    assert message.startswith(f"Error: --dataset org/plug-data: cannot reach the Hub at {url} (")
    assert message.endswith("); set HF_HUB_OFFLINE=1 to use the local cache")
    assert seconds < 2


@pytest.mark.parametrize(
    ("variable", "dataset", "model", "expected"),
    [
        (
            "HF_HUB_OFFLINE",
            "org/plug-data",
            "model",
            "--dataset org/plug-data: not a local folder, and no copy of the Hub dataset is cached",
        ),
        (
            "HF_DATASETS_OFFLINE",
            "org/plug-data",
            "model",
            "--dataset org/plug-data: not a local folder, and no copy of the Hub dataset is cached",
        ),
        (
            "HF_HUB_OFFLINE",
            "build",
            "org/llm",
            "--model org/llm: not a local directory, and no copy of the Hub model is cached",
        ),
    ],
)
def test_offline_without_a_cached_copy_fails_at_once(
    workdir, monkeypatch, variable, dataset, model, expected
):
    monkeypatch.setenv(variable, "1")
    configure_endpoint(closed_port_url(), monkeypatch)  # were it asked, it would not answer
    result, seconds = timed(train, dataset, model, workdir)
    assert one_line_error(result).startswith(f"Error: {expected}; offline mode (")
    assert seconds < 2


def test_offline_with_a_cached_copy_and_a_hub_that_answers_are_let_through(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (Path(tmp_path / "hf-datasets") / "org___plug_data").mkdir(parents=True)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    check_dataset("org/plug-data")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with HubServer() as hub:
        configure_endpoint(hub.url, monkeypatch)
        HfApi().create_repo("test-user/plug-data", repo_type="dataset", token="hf_test")
        check_dataset("test-user/plug-data")
        with pytest.raises(LocationError) as err:
            check_dataset("test-user/other")
    assert str(err.value) == (
        "--dataset test-user/other: no such local folder or Hub dataset (a private one needs "
        "`hf auth login` or HF_TOKEN)"
    )


# -- plugdata detect -----------------------------------------------------------------------------
def test_detect_never_passes_empty_text(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [{"t": ""}, {"t": "   \n"}, {"t": "The weather is lovely today, so we walk to the park."}],
    )
    result = invoke("detect", path, "--field", "t", "--expect", "en", "--detector", "langdetect")
    assert result.exit_code == 0, result.output
    assert "labels: (empty) 2, en 1" in result.output
    assert "expected en: 1/3 pass" in result.output


def test_detect_reads_text_with_a_lone_surrogate(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"t": "The weather is \\ud800 lovely today, so we walk."}\n', "utf-8")
    result = invoke("detect", path, "--field", "t", "--expect", "en", "--detector", "langdetect")
    assert result.exit_code == 0, result.output
    assert "1 rows hold invalid text (lone surrogates, read as U+FFFD; first: t.jsonl:1)" in (
        result.output
    )


# -- judge answer files --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"id": "q2", "output": ' + "9" * 5000 + "}", "2: invalid JSON (Exceeds the limit"),
        (
            '{"id": "q2", "output": ' + "[" * 200_000 + "]" * 200_000 + "}",
            "2: invalid JSON (nested",
        ),
        ('{"id": "q2", "output": "Hi \\ud800"}', "2: field 'output' holds a lone surrogate"),
    ],
    ids=["5000-digit-integer", "200000-deep-nesting", "lone-surrogate"],
)
def test_judge_answer_file_problems_name_file_and_line(tmp_path, line, expected):
    questions = write_jsonl(
        tmp_path / "q.jsonl", [{"id": f"q{i}", "instruction": "Say hi."} for i in (1, 2)]
    )
    baseline = write_jsonl(tmp_path / "b.jsonl", [{"id": f"q{i}", "output": "Hi."} for i in (1, 2)])
    answers = write_jsonl(tmp_path / "a.jsonl", [{"id": "q1", "output": "Hello."}])
    append_line(answers, line)
    args = ["--answers", answers, "--baseline", baseline, "--questions", questions]
    result = invoke(
        "judge", *args, "--judge-model", "judge-1", "--out", tmp_path / "o", "--dry-run"
    )
    assert one_line_error(result).startswith(f"Error: {answers}:{expected}")
    assert not (tmp_path / "o").exists()


# -- where rows come from: never an absolute local path ------------------------------------------
def test_corpus_override_is_read_but_written_without_its_local_path(tiny, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("home") / "alice" / "corpora"
    rows = corpus_rows("zh")
    rows[2]["output"] = ""  # one row to quarantine
    override = write_jsonl(elsewhere / "zh-fixed.jsonl", rows)
    result = build(tiny, "--lang", "zh", "--corpus", f"zh={override}")
    assert result.exit_code == 0, result.output
    out = tiny.parent / "out" / "tiny"
    quarantine = pq.read_table(out / "quarantine" / "zh.parquet").to_pylist()
    assert [row["where"] for row in quarantine] == ["en.jsonl:3 | zh-fixed.jsonl:3"]
    manifest = (out / "manifest.json").read_text(encoding="utf-8")
    assert str(elsewhere) not in manifest
    assert json.loads(manifest)["configs"]["zh"]["target_source"]["file"] == "zh-fixed.jsonl"
    triples = pq.read_table(out / "data" / "zh").to_pylist()
    assert {t["meta"]["made_by"]["target_response"] for t in triples} == {"aligned:zh-fixed.jsonl"}


def test_corpus_labels_are_as_the_recipe_names_them(tmp_path):
    assert corpus_label(Corpus(path="data/zh.jsonl"), tmp_path) == "data/zh.jsonl"
    assert corpus_label(Corpus(path=str(tmp_path / "sub" / "zh.jsonl")), tmp_path) == "sub/zh.jsonl"
    assert corpus_label(Corpus(path="/srv/other/zh.jsonl"), tmp_path) == "zh.jsonl"
    assert corpus_label(Corpus(hub=HubSpec(repo="org/ds")), tmp_path) == "hub org/ds"
    builtin = list(iter_records(Corpus(path="builtin:demo/zh.jsonl"), tmp_path, limit=3))
    assert [r.where for r in builtin] == [f"builtin:demo/zh.jsonl:{i}" for i in (1, 2, 3)]


def test_translate_quarantine_names_the_input_without_its_local_path(tmp_path, monkeypatch):
    corpus = write_jsonl(tmp_path / "in" / "en.jsonl", corpus_rows("en")[:3])
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("LIBRE_API_KEY", "libre-test-key")
    with LibreServer(translate=lambda text: text) as server:  # untranslated: quarantined
        options = ["provider=libre", f"base_url={server.url}"]
        result = invoke(*translate_args(corpus, tmp_path, "deep-translator", options))
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "it.quarantine.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["where"] for line in lines] == [f"en.jsonl:{i}" for i in (1, 2, 3)]


# -- unusable source rows are quarantined, never paid for ----------------------------------------
def test_translate_quarantines_unusable_rows_without_sending_them(tmp_path):
    rows = corpus_rows("en")[:3]
    rows[1]["output"] = 7  # not a string
    corpus = write_jsonl(tmp_path / "en.jsonl", rows)
    with LibreServer() as server:
        options = ["provider=libre", f"base_url={server.url}"]
        result = invoke(*translate_args(corpus, tmp_path, "deep-translator", options))
        sent = [r["q"] for r in server.requests]
    assert result.exit_code == 0, result.output
    assert "quarantined 1 (not-a-string:pivot_response 1)" in result.output
    assert not any("`len()`" in text for text in sent)  # row 2 never left the machine
    assert "rows 3 (0 finished in the cache)" in result.output


def test_build_never_sends_rows_it_quarantines_for_their_source(tiny, tmp_path):
    rows = corpus_rows("en")
    rows.append(dict(rows[2], id="dup"))  # the same pair again: quarantined as a duplicate
    rows[4]["output"] = ["a", "list"]
    write_jsonl(tiny.parent / "en.jsonl", rows)
    with LibreServer() as server:
        options = {"backend": "deep-translator", "provider": "libre", "base_url": server.url}
        result = build(translated(tiny, "it", tmp_path / "c.sqlite", **options))
        sent = [r["q"] for r in server.requests]
    assert result.exit_code == 0, result.output
    assert sum("12 multiplied" in t for t in sent) == 1  # the duplicate was not sent again
    assert not any("leaves change colour" in t for t in sent)
    quarantine = pq.read_table(tiny.parent / "out" / "tiny" / "quarantine" / "it.parquet")
    assert sorted(quarantine["reason"].to_pylist()) == ["duplicate", "not-a-string:pivot_response"]


def test_an_alias_bomb_in_an_option_value_is_one_line(tmp_path):
    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en")[:1])
    levels = ["&a0 [1,1,1,1,1,1,1,1,1,1]"]
    levels += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    bomb = "x=[" + ",".join(levels) + "]"  # 10^8 values from a few hundred characters
    options = [bomb, "provider=libre"]
    result = invoke(*translate_args(corpus, tmp_path, "deep-translator", options))
    assert "--option x: YAML that expands to" in one_line_error(result)


@pytest.mark.parametrize(
    ("part", "sidecar", "expected"),
    [
        (
            '{"id": 1}\n{broken\n',
            '{"shard": 0, "of": 1, "input_sha256": "x"}',
            "p.jsonl:2: invalid",
        ),
        ('{"id": 1}\n', '{"shard": "zero"}', "p.jsonl.shard.json: not a shard record"),
        ('{"id": 1}\n', "{oops", "p.jsonl.shard.json:1: invalid JSON"),
    ],
)
def test_merge_of_a_damaged_part_is_one_line(tmp_path, part, sidecar, expected):
    (tmp_path / "p.jsonl").write_text(part, encoding="utf-8")
    (tmp_path / "p.jsonl.shard.json").write_text(sidecar, encoding="utf-8")
    result = invoke("merge", tmp_path / "p.jsonl", "--out", tmp_path / "all.jsonl")
    assert expected in one_line_error(result)
    assert not (tmp_path / "all.jsonl").exists()
