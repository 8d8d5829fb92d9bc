"""`plugdata report`: the summaries of judge and score runs in one table, one chart and one JSON
file; only what the runs wrote is read, and two runs claiming the same cell are refused."""

import json

import pytest

from plugdata.core.jsonl import write_json
from plugdata.errors import PlugdataError
from tests.conftest import invoke
from trainer.judge import stats
from trainer.results import gather


def _run(tmp_path, name, task, system, groups, **extra):
    folder = tmp_path / name
    folder.mkdir()
    write_json(folder / "summary.json", {"task": task, "system": system, "groups": groups, **extra})
    return folder


def _truthfulqa(flags_by_lang):
    groups = {}
    for lang, (truthful, informative) in flags_by_lang.items():
        both = [t and i for t, i in zip(truthful, informative, strict=True)]
        groups[f"lang={lang}"] = {
            "truthful": stats.rate(truthful),
            "informative": stats.rate(informative),
            "both": stats.rate(both),
        }
    every = [flags for flags in flags_by_lang.values()]
    truthful = [t for pair in every for t in pair[0]]
    informative = [i for pair in every for i in pair[1]]
    groups["all"] = {
        "truthful": stats.rate(truthful),
        "informative": stats.rate(informative),
        "both": stats.rate([t and i for t, i in zip(truthful, informative, strict=True)]),
    }
    return groups


@pytest.fixture
def runs(tmp_path):
    plug = {"generator": "llama-13b-zh-plug", "method": "plug"}
    mono = {"generator": "llama-13b-zh-mono", "method": "mono"}
    tq = {
        "zh": ([True] * 6 + [False] * 4, [False] + [True] * 9),
        "ko": ([True] * 3 + [False] * 7, [True] * 10),
    }
    svamp_plug = {"lang=zh": {"accuracy": stats.rate([True] * 7 + [False] * 3)}}
    svamp_plug["all"] = svamp_plug["lang=zh"]
    svamp_mono = {"lang=zh": {"accuracy": stats.rate([True] * 4 + [False] * 6)}}
    svamp_mono["all"] = svamp_mono["lang=zh"]
    outcomes = ["win"] * 5 + ["loss"] * 2 + ["tie"] * 3
    pairwise = {
        name: {"paper": {**stats.table(outcomes), "ci95": list(stats.bootstrap_ci(outcomes))}}
        for name in ("all", "lang=zh")
    }
    return [
        _run(tmp_path, "tq-plug", "truthfulqa", plug, _truthfulqa(tq)),
        _run(tmp_path, "svamp-plug", "svamp", plug, svamp_plug),
        _run(tmp_path, "svamp-mono", "svamp", mono, svamp_mono),
        _run(tmp_path, "ae-plug", "pairwise", plug, pairwise, baseline=mono),
    ]


def test_one_table_with_a_row_per_system_and_a_column_per_metric_and_language(tmp_path, runs):
    out = tmp_path / "results.md"
    result = invoke("report", *runs, "--out", out)
    assert result.exit_code == 0, result.output
    assert "2 systems, 5 metrics" in result.output
    lines = out.read_text("utf-8").splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {
        tuple(c.strip() for c in line.strip("|").split("|"))[:2]: [
            c.strip() for c in line.strip("|").split("|")
        ]
        for line in lines[2:]
        if line.startswith("| llama")
    }
    plug = dict(zip(head, rows[("llama-13b-zh-plug", "plug")], strict=True))
    mono = dict(zip(head, rows[("llama-13b-zh-mono", "mono")], strict=True))
    assert plug["TQA true zh"] == "60.0"
    assert plug["TQA true ko"] == "30.0"
    assert plug["TQA true all"] == "45.0"
    assert plug["TQA both zh"] == "50.0"
    assert plug["SVAMP acc zh"] == "70.0" and mono["SVAMP acc zh"] == "40.0"
    assert plug["AE vs mono zh"] == "+30.0"
    # Nothing measured is shown as such, never as 0.
    assert mono["TQA true zh"] == "-" and plug["SVAMP acc ko"] == "-"

    gathered = json.loads(out.with_suffix(".json").read_text("utf-8"))
    row = next(r for r in gathered["rows"] if r["method"] == "plug")
    lo, hi = row["results"]["svamp:accuracy"]["zh"]["ci95"]
    assert lo < 0.7 < hi
    assert row["runs"]["svamp:accuracy"] == "svamp-plug"
    png = out.with_suffix(".png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_two_runs_claiming_the_same_cell_are_refused(tmp_path, runs):
    again = _run(
        tmp_path, "svamp-plug-2", "svamp", {"generator": "llama-13b-zh-plug", "method": "plug"}, {}
    )
    with pytest.raises(
        PlugdataError,
        match=r"svamp-plug-2: X-SVAMP: accuracy of llama-13b-zh-plug "
        r"\(plug\) is also reported by .*svamp-plug; pass one of them",
    ):
        gather([*runs, again])


def test_a_folder_without_a_summary_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("report", tmp_path / "empty", "--out", tmp_path / "r.md")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path / 'empty'}: no summary.json (a folder written by judge or score)"
    ]


def test_a_summary_without_a_task_is_a_one_line_error_naming_the_file(tmp_path):
    outcomes = ["win", "win", "loss", "tie"]
    old = tmp_path / "old"
    old.mkdir()
    write_json(
        old / "summary.json",
        {"groups": {"all": {"paper": {**stats.table(outcomes), "ci95": [0.0, 0.5]}}}},
    )
    result = invoke("report", old, "--out", tmp_path / "r.md")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {old / 'summary.json'}: no 'task' field: not the summary of a judge or score "
        "run of this version (run the evaluation again)"
    ]
