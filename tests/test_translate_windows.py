"""plugdata translate a window of rows at a time (`--window-rows`, small here): the same bytes as
one window, rows held bounded by the run's sizes, and a run that stops mid-way leaving the old
outputs, no temporary file, and every answer cached for the rerun."""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import pytest

from plugdata.pipeline import run as pipeline_run
from plugdata.translate.engine import Translation

from .conftest import corpus_rows, translate_args, write_jsonl
from .conftest import invoke as run
from .servers import LibreServer

REFUSED = "Why do leaves"  # the server refuses this row's instruction: translate-failed


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("LIBRE_API_KEY", "libre-test-key")


@pytest.fixture
def corpus(tmp_path) -> Path:
    """The eight test items, then a row whose instruction is not text (never sent)."""
    rows = [*corpus_rows("en"), {"id": "t008", "instruction": 42, "input": "", "output": "Hi."}]
    return write_jsonl(tmp_path / "en.jsonl", rows)


def args(server, corpus: Path, folder: Path, *extra) -> list:
    options = ["provider=libre", f"base_url={server.url}"]
    return translate_args(corpus, folder, "deep-translator", options, *extra)


def refusing() -> LibreServer:
    server = LibreServer()
    server.script.add(403, {"error": "no"}, when=REFUSED, times=100)
    return server


def outputs(folder: Path, name: str = "it") -> dict[str, bytes]:
    files = [f"{name}.jsonl", f"{name}.quarantine.jsonl", f"{name}.jsonl.shard.json"]
    return {f: (folder / f).read_bytes() for f in files if (folder / f).exists()}


def translated(
    corpus: Path, folder: Path, rows: int, *extra, server=refusing
) -> tuple[dict, str, int]:
    """OUT, quarantine and sidecar bytes, the summary and the requests sent, in windows of
    `rows` rows."""
    with server() as server:
        result = run(*args(server, corpus, folder, "--window-rows", rows, *extra))
    assert result.exit_code == 0, result.output
    return outputs(folder), result.output, len(server.requests)


@pytest.mark.parametrize(
    ("rows", "shard"), [(3, []), (2, ["--shard", "1/3"])], ids=["whole", "shard"]
)
def test_small_windows_write_the_bytes_of_one_window(corpus, tmp_path, rows, shard):
    one, one_summary, _ = translated(corpus, tmp_path / "one", 1000, *shard)
    three, three_summary, _ = translated(corpus, tmp_path / "three", rows, *shard)
    assert three == one
    assert len(one) == (3 if shard else 2)
    # The counts add up over the windows: the same summary but for the folder named.
    assert three_summary.replace("three", "one") == one_summary
    if not shard:
        assert "kept 7, quarantined 2 (not-a-string:pivot_instruction 1, translate-failed 1)" in (
            one_summary
        )
        quarantine = [json.loads(x) for x in one["it.quarantine.jsonl"].splitlines()]
        assert [q["id"] for q in quarantine] == ["en/t004", "en/t008"]
    else:
        assert json.loads(one["it.jsonl.shard.json"])["start"] == 3


def test_a_cached_rerun_in_windows_sends_nothing_and_writes_the_same_bytes(corpus, tmp_path):
    first, _, sent = translated(corpus, tmp_path, 1000, server=LibreServer)
    assert sent > 0
    for path in first:
        (tmp_path / path).unlink()
    again, summary, sent = translated(corpus, tmp_path, 3, server=LibreServer)
    assert again == first and sent == 0
    assert "rows 9 (8 finished in the cache)" in summary and "kept 8, quarantined 1" in summary


def test_a_dry_run_in_windows_plans_what_one_window_plans(corpus, tmp_path):
    """With the items again under other ids after them: their segments come back in later
    windows, and are planned and counted once, as in one window."""
    items = [json.loads(line) for line in corpus.read_text("utf-8").splitlines()]
    write_jsonl(corpus, items + [{**item, "id": f"again-{i}"} for i, item in enumerate(items)])
    plans = []
    for rows in (1000, 3):
        with LibreServer() as server:
            result = run(*args(server, corpus, tmp_path, "--dry-run", "--window-rows", rows))
            assert server.requests == []
        assert result.exit_code == 0, result.output
        plans.append(result.output)
    assert plans[0] == plans[1] and "rows 18 (0 finished in the cache)" in plans[0]
    assert "segments 30 (15 unique)" in plans[0], plans[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("it.", ".it."))]


def old_outputs(folder: Path) -> dict[str, bytes]:
    """Outputs of an earlier run, which a failed run must leave as they are."""
    for name in ("it.jsonl", "it.quarantine.jsonl"):
        (folder / name).write_text(f"{name} of an earlier run\n", encoding="utf-8")
    return outputs(folder)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_ctrl_c_in_the_second_window_keeps_the_old_outputs_and_the_answers(
    corpus, tmp_path, monkeypatch
):
    old = old_outputs(tmp_path)
    real, calls = Translation.translate, []

    def interrupted(self, records, skip=None):
        calls.append(len(records))
        answer = real(self, records, skip)
        if len(calls) == 2:  # the second window is answered, then the user presses Ctrl-C
            raise KeyboardInterrupt
        return answer

    monkeypatch.setattr(Translation, "translate", interrupted)
    with LibreServer() as server:
        result = run(*args(server, corpus, tmp_path, "--window-rows", 3))
        assert result.exit_code == 130 and "Interrupted" in result.output
        assert outputs(tmp_path) == old and leftovers(tmp_path) == []
        monkeypatch.setattr(Translation, "translate", real)
        first = [r["q"] for r in server.requests]
        assert run(*args(server, corpus, tmp_path, "--window-rows", 3)).exit_code == 0
        again = [r["q"] for r in server.requests[len(first) :]]
    assert calls == [3, 3] and first and again
    assert not set(first) & set(again), "a segment answered before Ctrl-C was sent again"
    assert outputs(tmp_path) != old and leftovers(tmp_path) == []


def test_max_cost_caps_the_run_not_each_window(corpus, tmp_path, monkeypatch):
    old = old_outputs(tmp_path)
    real, windows = Translation.translate, []
    monkeypatch.setattr(
        Translation, "translate", lambda *a, **kw: windows.append(1) or real(*a, **kw)
    )
    price = ["--option", "price_per_million_chars=10000", "--concurrency", "1"]
    price += ["--window-rows", "3"]
    with LibreServer() as server:
        plan = run(*args(server, corpus, tmp_path, "--dry-run", *price))
        cost = float(plan.output.split("estimated cost ")[1].split()[0])
        # No window costs 90% of the whole; the windows together do.
        result = run(*args(server, corpus, tmp_path, "--max-cost", str(cost * 0.9), *price))
        assert result.exit_code == 1 and "reached" in result.output, result.output
        assert len(windows) == 3 + 3  # the plan's windows, then the run's: the last stopped it
        assert outputs(tmp_path) == old and leftovers(tmp_path) == []
        sent = len(server.requests)
        assert sent > 0
        assert run(*args(server, corpus, tmp_path, *price)).exit_code == 0
    texts = [r["q"] for r in server.requests]
    assert len(texts) == len(set(texts)) > sent, "a finished segment was requested again"


def test_offline_in_windows_names_what_is_missing_and_writes_nothing(corpus, tmp_path):
    with LibreServer() as server:  # the first window only, into the cache
        first = write_jsonl(tmp_path / "first.jsonl", corpus_rows("en")[:3])
        assert run(*args(server, first, tmp_path, "--out", tmp_path / "a.jsonl")).exit_code == 0
        result = run(*args(server, corpus, tmp_path, "--offline", "--window-rows", 3))
        assert result.exit_code == 1 and "--offline:" in result.output, result.output
        assert not (tmp_path / "it.jsonl").exists() and leftovers(tmp_path) == []
        assert len({r["q"] for r in server.requests}) == len(server.requests)


def test_rows_held_at_once_are_bounded_by_the_run_s_sizes(corpus, tmp_path, monkeypatch):
    """Every record read from the input is counted until it is freed: no more than a read
    batch, the window being translated and the chunk being checked are alive at once, whatever
    the input's size."""
    rows = [dict(r, id=f"{r['id']}-{n}") for n in range(6) for r in corpus_rows("en")]
    big = write_jsonl(tmp_path / "big.jsonl", rows)  # 48 rows
    sizes = {"--window-rows": 4, "--chunk-rows": 4, "--read-rows": 2}
    alive, most = set(), [0]
    real = pipeline_run.iter_records

    def counted(*a, **kw):
        for record in real(*a, **kw):
            alive.add(id(record))
            weakref.finalize(record, alive.discard, id(record))
            most[0] = max(most[0], len(alive))
            yield record

    monkeypatch.setattr(pipeline_run, "iter_records", counted)
    with LibreServer() as server:
        result = run(*args(server, big, tmp_path, *(x for kv in sizes.items() for x in kv)))
    assert result.exit_code == 0, result.output
    assert "kept 48" in result.output
    assert 4 <= most[0] <= sum(sizes.values()) < len(rows)
