"""Integrity catalogue: reports and summaries say the truth (issue 23).

`plugdata report` reads each summary.json through its task's typed record and refuses, in one
line naming the file and the field, a number that is not one or could not be (a string, NaN, a
share of 5, a rate that is no count out of its N); every name it writes into a table is escaped,
so that data cannot add a row or markup; a rate of nothing is `n/a` (null in JSON), in judge's,
score's and the report's outputs alike; the chart's labels sit at their bars; summary lines
read sensibly when a count is 0 or 1; and errors name the flags of the command that runs."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from matplotlib.container import BarContainer

from plugdata.core.jsonl import write_json
from tests.conftest import invoke, one_line_error, write_jsonl
from tests.servers import ChatServer
from trainer.judge import stats
from trainer.results import figure, gather

PLUG = {"generator": "llama-zh", "method": "plug"}


def _summary(folder, task="svamp", system=PLUG, groups=None, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    if groups is None:
        groups = {"all": {"accuracy": stats.rate([True, False, True])}}
    write_json(folder / "summary.json", {"task": task, "system": system, "groups": groups, **extra})
    return folder


def _rows(table: str) -> list[list[str]]:
    """The cells of each row of a markdown table, split only at unescaped pipes."""
    rows = []
    for line in table.splitlines():
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
            rows.append([c.strip() for c in cells])
    return rows


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# -- a summary that does not fit is one line naming file and field -------------------------------
def _rate(**changes):
    return {**stats.rate([True, False, True, True]), **changes}


def _table(**changes):
    outcomes = ["win", "win", "loss", "tie"]
    return {**stats.table(outcomes), "ci95": list(stats.bootstrap_ci(outcomes)), **changes}


@pytest.mark.parametrize(
    "block, field, message",
    [
        (_rate(rate="0.75"), "rate", "must be a valid number"),
        (_rate(rate="high"), "rate", "must be a valid number"),
        (_rate(rate=True), "rate", "must be a valid number"),
        (_rate(rate=float("nan")), "rate", "must be a finite number"),
        (_rate(rate=float("inf")), "rate", "must be a finite number"),
        (_rate(rate=5.0), "rate", "must be less than or equal to 1"),
        (_rate(rate=-0.25), "rate", "must be greater than or equal to 0"),
        (_rate(rate=0.6), "", "rate 0.6 is not a count out of n = 4"),
        (_rate(ci95=[0.9, 0.2]), "", "ci95 [0.9, 0.2] runs backwards"),
        (_rate(ci95=[0.5, 1.5]), "ci95.1", "must be less than or equal to 1"),
        (_rate(n="4"), "n", "must be a valid integer"),
        (_rate(n=-4), "n", "must be greater than or equal to 0"),
        (_rate(n=0), "", "n = 0 but rate and ci95 are not null"),
        (_rate(rate=None), "", "n = 4 but rate or ci95 is null"),
        ([0.5, 0.1, 0.9], "", "must be a valid dictionary"),
    ],
)
def test_report_impossible_rate_is_one_line_naming_file_and_field(tmp_path, block, field, message):
    run = _summary(tmp_path / "run", groups={"all": {"accuracy": block}})
    result = invoke("report", run, "--out", tmp_path / "r.md")
    where = "groups.all.accuracy" + (f".{field}" if field else "")
    assert one_line_error(result) == f"Error: {run / 'summary.json'}: {where}: {message}"
    assert not (tmp_path / "r.md").exists()


@pytest.mark.parametrize(
    "block, field, message",
    [
        (_table(diff="0.25"), "diff", "must be a valid number"),
        (_table(diff=1.5), "diff", "must be less than or equal to 1"),
        (_table(diff=0.5), "", "diff 0.5 is not (win - loss) / n"),
        (_table(n=7), "", "n = 7 is not win + tie + loss + error"),
        (_table(win=-1, n=2), "win", "must be greater than or equal to 0"),
        (_table(ci95=[float("nan"), 0.5]), "ci95.0", "must be a finite number"),
    ],
)
def test_report_impossible_table_is_one_line_naming_file_and_field(tmp_path, block, field, message):
    run = _summary(
        tmp_path / "run",
        "pairwise",
        groups={"all": {"paper": block}},
        baseline={"generator": "b", "method": "mono"},
    )
    result = invoke("report", run, "--out", tmp_path / "r.md")
    where = "groups.all.paper" + (f".{field}" if field else "")
    assert one_line_error(result) == f"Error: {run / 'summary.json'}: {where}: {message}"


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"task": "pairwise", "system": PLUG, "groups": {}},
            "baseline: Field required",
        ),
        ({"task": ["svamp"], "system": PLUG, "groups": {}}, "task: \"['svamp']\" is not one of"),
        (
            {"task": "truthfulqa", "system": PLUG, "groups": {"all": {"truthful": _rate()}}},
            "groups.all.informative: Field required",
        ),
        # A group's name is data: an error about it stays on one line.
        (
            {"task": "svamp", "system": PLUG, "groups": {"lang=z\nh": {"accuracy": "x"}}},
            "groups.'lang=z\\nh'.accuracy: must be a valid dictionary",
        ),
    ],
)
def test_report_summary_that_is_not_its_tasks_record_is_one_line(tmp_path, data, message):
    run = tmp_path / "run"
    run.mkdir()
    write_json(run / "summary.json", data)
    line = one_line_error(invoke("report", run, "--out", tmp_path / "r.md"))
    assert line.startswith(f"Error: {run / 'summary.json'}: ") and message in line, line


# -- names are data: escaped as cells ------------------------------------------------------------
def test_report_names_with_newlines_pipes_and_markup_stay_in_their_cells(tmp_path):
    evil = {"generator": "evil\n| injected | row |\r\n<b>x</b>", "method": "a|b *c* [l](u)"}
    runs = [
        _summary(
            tmp_path / "evil",
            system=evil,
            groups={"lang=z|h": {"accuracy": stats.rate([True, False])}},
        ),
        _summary(tmp_path / "plain"),
        _summary(
            tmp_path / "ae",
            "pairwise",
            groups={"all": {"paper": _table()}},
            baseline={"generator": "b", "method": "mono|x\ny"},
        ),
    ]
    out = tmp_path / "r.md"
    result = invoke("report", *runs, "--out", out)
    assert result.exit_code == 0, result.output
    assert "2 systems, 2 metrics" in result.output
    text = out.read_text("utf-8")
    table, footnote = text.split("\n\n")
    rows = _rows(table)
    # A header, the separator and one row per system: no row was added.
    assert len(table.splitlines()) == 4 and all(len(r) == len(rows[0]) for r in rows)
    assert "<b>" not in text and "*c*" not in text and "[l](u)" not in text
    by_model = {_unescape(r[0]): r for r in rows[2:]}
    row = by_model["evil | injected | row | <b>x</b>"]
    assert _unescape(row[1]) == "a|b *c* [l](u)"
    assert [_unescape(c) for c in rows[0]][2:] == [
        "AE vs mono|x y z|h",
        "AE vs mono|x y all",
        "SVAMP acc z|h",
        "SVAMP acc all",
    ]
    assert dict(zip(rows[0], row, strict=True))["SVAMP acc z\\|h"] == "50.0"
    assert "\n" not in footnote.strip() and "mono\\|x y" in footnote
    # The JSON keeps every name as it was written.
    gathered = json.loads(out.with_suffix(".json").read_text("utf-8"))
    assert {r["model"] for r in gathered["rows"]} == {evil["generator"], PLUG["generator"]}


def test_report_chart_shows_names_with_dollar_signs_as_written(tmp_path):
    """matplotlib reads `$...$` as mathtext, and stops at one it cannot parse."""
    odd = "$\\oops{$"
    run = _summary(
        tmp_path / "run",
        system={"generator": f"a {odd}", "method": "m"},
        groups={f"lang={odd}": {"accuracy": stats.rate([True, False])}},
    )
    assert invoke("report", run, "--out", tmp_path / "r.md").exit_code == 0
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_score_summary_escapes_names_and_languages(tmp_path):
    q = write_jsonl(
        tmp_path / "q.jsonl",
        [{"id": "e1", "lang": "z|h\n| x", "instruction": "3 + 4?", "answer": 7}],
    )
    a = write_jsonl(
        tmp_path / "a.jsonl",
        [{"id": "e1", "output": "7", "generator": "g\n| 99% |", "method": "m|"}],
    )
    result = invoke("score", "svamp", "--answers", a, "--questions", q, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "o" / "summary.md").read_text("utf-8")
    assert text.splitlines()[0] == "X-SVAMP accuracy of g \\| 99% \\| (m\\|), extractor rules"
    rows = _rows(text)
    assert [r[0] for r in rows] == ["group", "---", "all", "lang=z\\|h \\| x"]
    assert all(len(r) == 4 for r in rows)


# -- a rate of nothing is n/a, null in JSON ------------------------------------------------------
def test_stats_of_nothing_are_none():
    assert stats.rate([]) == {"rate": None, "ci95": None, "n": 0}
    assert stats.table([None, None])["diff"] is None and stats.bootstrap_ci([]) is None


def test_score_rate_of_no_item_is_na_in_summary_md_and_null_in_json():
    from trainer.score.svamp import _groups, markdown
    from trainer.summary import SvampSummary

    summary = SvampSummary(
        system=PLUG, extractor="rules", tolerance={}, items=0, unanswered=0, extracted_by={},
        invalid=0, errors={}, answers_without_question=0, answer_ids_without_question=[],
        groups=_groups([]),
    )  # fmt: skip
    written = summary.model_dump(mode="json")["groups"]["all"]
    assert written["accuracy"] == written["extracted"] == {"rate": None, "ci95": None, "n": 0}
    assert "| all | n/a | n/a | 0 |" in markdown(summary).splitlines()
    assert markdown(summary).endswith("no number read from any answer")


def _half_judge(text):
    """A verdict for every item and order, but none for q2 with the system second."""
    item = re.search(r"Question (q\d)", text).group(1)
    system_first = text.index("sys-") < text.index("base-")
    return "[[A]]" if system_first else ("I cannot decide." if item == "q2" else "[[B]]")


def test_judge_strict_rule_of_no_item_is_na_in_summary_md_and_null_in_json(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    langs = {"q1": "zh", "q2": "ko", "q3": "zh"}
    q = write_jsonl(
        tmp_path / "q.jsonl",
        [
            # A source dataset's name is data too: its group's row stays one row.
            {"id": i, "instruction": f"Question {i}", "lang": lang, "dataset": "ko|ala\n| x"}
            for i, lang in langs.items()
        ],
    )
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": i, "output": f"sys-{i}"} for i in langs])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": i, "output": f"base-{i}"} for i in langs])
    out = tmp_path / "out"
    with ChatServer(translate=_half_judge) as server:
        result = invoke(
            "judge", "--answers", a, "--baseline", b, "--questions", q, "--judge-model", "j",
            "--base-url", f"{server.url}/v1", "--out", out, "--concurrency", 1, "--quiet",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    strict = summary["groups"]["lang=ko"]["strict"]
    assert strict["n"] == 0 and strict["diff"] is None and strict["ci95"] is None
    assert summary["groups"]["lang=ko"]["paper"]["n"] == 1  # the paper's rule keeps the error
    md = (out / "summary.md").read_text("utf-8")
    assert "| lang=ko | strict | 0 | 0 | 0 | 0 | 0 | n/a | n/a |" in md
    assert "+0.000 [+0.000, +0.000]" not in md and "| lang=ko | strict" in result.output
    rows = _rows(md)
    assert all(len(r) == 9 for r in rows) and len(rows) == 2 + 2 * 4
    assert ["dataset=ko\\|ala \\| x", "paper"] in [r[:2] for r in rows]
    # The report reads what judge wrote.
    report = invoke("report", out, "--out", tmp_path / "r.md")
    assert report.exit_code == 0, report.output


def test_report_shows_a_rate_of_nothing_as_na_and_null(tmp_path):
    empty = stats.rate([])
    old = {"rate": 0.0, "ci95": [0.0, 0.0], "n": 0}  # how earlier versions wrote nothing
    runs = [
        _summary(
            tmp_path / "new",
            groups={"all": {"accuracy": empty}, "lang=zh": {"accuracy": stats.rate([True])}},
        ),
        _summary(
            tmp_path / "old",
            system={"generator": "old", "method": "mono"},
            groups={"all": {"accuracy": old}},
        ),
    ]
    out = tmp_path / "r.md"
    assert invoke("report", *runs, "--out", out).exit_code == 0
    rows = {r[0]: r for r in _rows(out.read_text("utf-8"))}
    assert rows["model"][2:] == ["SVAMP acc zh", "SVAMP acc all"]
    assert rows["llama-zh"][2:] == ["100.0", "n/a"]
    assert rows["old"][2:] == ["-", "n/a"]  # not measured, and measured over nothing
    gathered = json.loads(out.with_suffix(".json").read_text("utf-8"))
    for row in gathered["rows"]:
        assert row["results"]["svamp:accuracy"]["all"] == {"value": None, "ci95": None, "n": 0}
    # The chart writes n/a where the bar would stand.
    fig = figure(gather(runs))
    (ax,) = fig.axes
    texts = [t for t in ax.texts if t.get_text() == "n/a"]
    assert len(texts) == 2 and all(abs(t.get_position()[0] - 1) < 0.5 for t in texts)


# -- the chart: every label at its bars ----------------------------------------------------------
def _grid(tmp_path, n_rows: int, langs: list[str]):
    """`n_rows` systems over `langs` in two tasks, some cells missing and one of nothing; each
    value tells its system and language apart (so a bar can be told by its height)."""
    runs = []
    for r in range(n_rows):
        system = {"generator": f"model-{r:02d}", "method": "plug" if r % 2 else "mono"}
        for task in ("svamp", "truthfulqa"):
            groups = {}
            for g, lang in enumerate(langs):
                if (r + g) % 3 == 2 and g:  # missing here: the other bars close up
                    continue
                hits = r * len(langs) + g + 1
                flags = [True] * hits + [False] * (100 - hits)
                if task == "svamp":
                    groups[f"lang={lang}"] = {"accuracy": stats.rate(flags)}
                else:
                    groups[f"lang={lang}"] = {
                        m: stats.rate(flags) for m in ("truthful", "informative", "both")
                    }
            runs.append(_summary(tmp_path / f"{task}-{r}", task, system, groups))
    return gather(runs)


@pytest.mark.parametrize(
    "n_rows, langs", [(2, ["ko", "zh"]), (5, ["es", "it", "ko", "zh"]), (12, ["es", "it", "zh"])]
)
def test_chart_labels_sit_at_their_bars_and_systems_keep_their_colour(tmp_path, n_rows, langs):
    results = _grid(tmp_path, n_rows, langs)
    fig = figure(results)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = {t.get_text(): h.get_facecolor() for t, h in zip(
        fig.legends[0].get_texts(), fig.legends[0].legend_handles, strict=True)}  # fmt: skip
    assert len(legend) == n_rows
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels == langs
        bars = {}  # language -> [(left, right) on the canvas]
        for container in ax.containers:
            if not isinstance(container, BarContainer):  # the intervals' lines
                continue
            for bar in container.patches:
                # The height says which system and language this bar is (see _grid).
                hits = round(bar.get_height())
                g = (hits - 1) % len(langs)
                bars.setdefault(langs[g], []).append(bar.get_window_extent(renderer))
                assert legend[container.get_label()] == bar.get_facecolor()
        for tick in ax.get_xticklabels():
            spans = bars[tick.get_text()]
            left, right = min(s.x0 for s in spans), max(s.x1 for s in spans)
            middle = (tick.get_window_extent(renderer).x0 + tick.get_window_extent(renderer).x1) / 2
            assert abs(middle - (left + right) / 2) < 1.0, (tick.get_text(), middle, left, right)
        # The groups' bars never reach into a neighbour's.
        edges = sorted((min(s.x0 for s in v), max(s.x1 for s in v)) for v in bars.values())
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(edges))


# -- summary lines read sensibly with counts of 0 and 1 ------------------------------------------
def test_score_summary_with_no_number_and_one_item_reads_sensibly(tmp_path):
    q = write_jsonl(tmp_path / "q.jsonl", [{"id": "e1", "instruction": "3 + 4?", "answer": 7}])
    a = write_jsonl(
        tmp_path / "a.jsonl",
        [{"id": "e1", "output": "I do not know."}, {"id": "zz", "output": "8"}],
    )
    result = invoke("score", "svamp", "--answers", a, "--questions", q, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    last = (tmp_path / "o" / "summary.md").read_text("utf-8").splitlines()[-1]
    assert last == (
        "1 item: 0 unanswered (counted as incorrect), 1 answered without a number; no number "
        "read from any answer; 1 answer without a question, not scored"
    )
    assert "extracted by nothing" not in result.output


def test_report_line_counts_in_the_singular(tmp_path):
    out = tmp_path / "r.md"
    result = invoke("report", _summary(tmp_path / "run"), "--out", out)
    assert result.output.strip() == f"1 system, 1 metric -> {out}"


# -- errors name the flags of the command that runs ----------------------------------------------
@pytest.fixture
def eval_folder(tmp_path):
    """A local dataset folder with one config (`default`), as `datasets` reads it."""
    row = {"id": "e1", "pivot_lang": "en", "target_lang": "zh", "pivot_instruction": "3 + 4?"}
    return write_jsonl(
        tmp_path / "eval" / "test.jsonl", [{**row, "target_instruction": "3 + 4?", "answer": 7}]
    ).parent


def test_score_questions_with_an_unknown_config_names_questions(tmp_path, eval_folder):
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": "e1", "output": "7"}])
    result = invoke(
        "score", "svamp", "--answers", a, "--questions", eval_folder, "--config", "zh-nope",
        "--out", tmp_path / "o",
    )  # fmt: skip
    line = one_line_error(result)
    assert line.startswith(f"Error: --questions {eval_folder} --config zh-nope: ")
    assert "--dataset" not in line


def test_judge_questions_with_an_unknown_config_names_questions(tmp_path, eval_folder, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": "e1", "output": "7"}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": "e1", "output": "8"}])
    with ChatServer(translate=lambda text: "[[A]]") as server:
        result = invoke(
            "judge", "--answers", a, "--baseline", b, "--questions", eval_folder,
            "--config", "zh-nope", "--judge-model", "j", "--base-url", f"{server.url}/v1",
            "--out", tmp_path / "o",
        )  # fmt: skip
    line = one_line_error(result)
    assert line.startswith(f"Error: --questions {eval_folder} --config zh-nope: ")
    assert not server.requests


def test_score_with_one_item_and_one_request_counts_in_the_singular(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    q = write_jsonl(tmp_path / "q.jsonl", [{"id": "e1", "instruction": "3 + 4?", "answer": 7}])
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": "e1", "output": "seven"}])
    with ChatServer(translate=lambda text: "7") as server:
        args = [
            "score", "svamp", "--answers", a, "--questions", q, "--extractor", "llm",
            "--judge-model", "j", "--base-url", f"{server.url}/v1", "--quiet",
        ]  # fmt: skip
        plan = invoke(*args, "--out", tmp_path / "plan", "--dry-run")
        result = invoke(*args, "--out", tmp_path / "o")
    assert plan.output.startswith("Plan (dry run, nothing sent): 1 item, 1 request, 0 cached")
    assert result.exit_code == 0, result.output
    assert "1 request (0 retries, 0 from the cache)" in result.output
    assert (
        "1 item: 0 unanswered (counted as incorrect), 0 answered without a number; a number "
        "read from 1 (llm 1)"
    ) in result.output
