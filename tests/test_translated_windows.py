"""A recipe target made by machine translation is translated `--window-rows` pivot rows at a
time: the build writes the same bytes whatever the window, and what held for the whole run
(one cost cap, one failure monitor per backend, one sender, one bar) still does, against
LibreTranslate- and OpenAI-compatible servers on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from plugdata.checks.validate import Validator
from plugdata.pipeline import run as pipeline_run
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.executor import make_executor
from plugdata.pipeline.executor.local import LocalExecutor
from plugdata.pipeline.recipe import load_recipe
from plugdata.pipeline.run import PivotChecker, Run, pivot_rows
from plugdata.pipeline.targets import TranslatedSide
from plugdata.translate import engine as translate_engine

from .conftest import ITEMS, invoke, one_line_error, write_jsonl
from .servers import ChatServer, LibreServer, phrase_book, translator

VARIANTS = 36  # rows made from the eight test items, each with its own instruction


def variants() -> list[tuple[str, ...]]:
    """The test items, each again and again with a numbered instruction, so that every row
    (and its translation) is a distinct pair."""
    out = []
    for k in range(VARIANTS):
        en_i, en_r, zh_i, zh_r, it_i, it_r = ITEMS[k % len(ITEMS)]
        out.append((f"{en_i} Version {k}.", en_r, zh_i, zh_r, f"{it_i} Versione {k}.", it_r))
    return out


BOOK = phrase_book(variants())


def write_corpus(folder: Path) -> Path:
    """The variants, then rows that go to quarantine whatever the window: a duplicate pair and
    a response that is not a string (neither is sent), and a text the servers' book lacks
    (sent back untranslated, so it fails the language check)."""
    rows = [
        {"id": f"v{k:03d}", "instruction": en_i, "input": "", "output": en_r}
        for k, (en_i, en_r, *_) in enumerate(variants())
    ]
    rows.insert(9, dict(rows[3], id="again"))
    rows.insert(
        20,
        {"id": "listed", "instruction": "Count the vowels of banana.", "input": "", "output": [1]},
    )
    rows.append(
        {
            "id": "unknown",
            "instruction": "Name two rivers that flow through Germany.",
            "input": "",
            "output": "The Rhine and the Danube both flow through Germany.",
        }
    )
    return write_jsonl(folder / "en.jsonl", rows)


def recipe_at(folder: Path, backend: dict, *fallbacks: dict, **extra) -> Path:
    """A recipe translating the corpus in `folder` to Italian with `backend` (and fallbacks),
    its segment cache beside it."""
    spec = {**backend, "cache": "cache.sqlite", "concurrency": 1, **extra}
    if fallbacks:
        spec["fallback"] = list(fallbacks)
    recipe = {
        "name": "win",
        "pivot": "en",
        "source": {"name": "win", "path": "en.jsonl"},
        "targets": {"it": {"translate": spec}},
        "splits": {"validation": 0.25},
        "card": {"pretty_name": "Windows", "license": "cc-by-4.0"},
    }
    path = folder / "win.yaml"
    path.write_text(json.dumps(recipe), "utf-8")  # JSON is YAML
    return path


def libre(server) -> dict:
    return {"backend": "deep-translator", "provider": "libre", "base_url": server.url}


def chat(server) -> dict:
    return {"backend": "openai-chat", "model": "fallback-model", "base_url": server.url + "/v1"}


WINDOW: dict[str, int] = {}  # the window of the builds that follow (`window`)


def build(recipe: Path, out: Path):
    window = ["--window-rows", WINDOW["rows"]] if WINDOW else []
    return invoke("build", recipe, "--out", out, "--quiet", *window)


def written(out: Path) -> dict:
    """What must not depend on the window: every config's files, content hashes, producers and
    counts, and the quarantine's files (their hashes, and their bytes)."""
    root = out / "win"
    manifest = json.loads((root / "manifest.json").read_text("utf-8"))
    configs = {
        name: (entry["files"], entry["sha256"], entry.get("made_by"), entry.get("counts"))
        for name, entry in manifest["configs"].items()
    }
    quarantine = {p.name: p.read_bytes() for p in sorted((root / "quarantine").iterdir())}
    return {"configs": configs, "quarantine": manifest["quarantine"], "files": quarantine}


def quarantined(out: Path) -> list[dict]:
    return pq.read_table(out / "win" / "quarantine" / "it.parquet").to_pylist()


@pytest.fixture
def window():
    """Sets `--window-rows` for the builds that follow."""
    yield lambda rows: WINDOW.update(rows=rows)
    WINDOW.clear()


@pytest.fixture
def bars(monkeypatch) -> list:
    """Every progress bar the translation engine opens."""
    made: list = []
    real = translate_engine.tqdm

    def counting(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(translate_engine, "tqdm", counting)
    return made


@pytest.fixture
def senders(monkeypatch) -> list:
    """Every sender the build makes (Ray's would start its actors)."""
    made: list = []
    real = LocalExecutor.sender

    def counting(*args):
        made.append(real(*args))
        return made[-1]

    monkeypatch.setattr(LocalExecutor, "sender", counting)
    return made


def test_windows_of_seven_rows_write_the_bytes_of_one_window(tmp_path, window, bars, senders):
    write_corpus(tmp_path)
    results, sent = {}, {}
    for rows in (7, 1_000):
        window(rows)
        (tmp_path / "cache.sqlite").unlink(missing_ok=True)  # each build pays for itself
        with LibreServer(translate=translator(BOOK)) as server:
            result = build(recipe_at(tmp_path, libre(server)), tmp_path / f"out{rows}")
            assert result.exit_code == 0, result.output
        results[rows] = written(tmp_path / f"out{rows}")
        sent[rows] = sorted(r["q"] for r in server.requests)
    assert results[7] == results[1_000]
    assert sent[7] == sent[1_000] and len(set(sent[7])) == len(sent[7])  # each unit once
    assert not any("banana" in text for text in sent[7])  # a row quarantined anyway
    reasons = sorted(q["reason"] for q in quarantined(tmp_path / "out7"))
    assert reasons[:2] == ["duplicate", "not-a-string:pivot_response"] and len(reasons) == 3
    assert results[7]["configs"]["it"][3]["kept"] == VARIANTS
    assert len(senders) == 2 and len(bars) == 2  # one sender and one bar per build


def test_a_rerun_in_windows_sends_nothing(tmp_path, window):
    write_corpus(tmp_path)
    window(5)
    with LibreServer(translate=translator(BOOK)) as server:
        recipe = recipe_at(tmp_path, libre(server))
        assert build(recipe, tmp_path / "first").exit_code == 0
        paid = len(server.requests)
        result = build(recipe, tmp_path / "again")
        assert result.exit_code == 0, result.output
        assert len(server.requests) == paid > 0
    assert written(tmp_path / "again") == written(tmp_path / "first")


PRICE = 20_000.0  # USD per million characters: a few cents per row


def test_max_cost_caps_the_whole_target_not_each_window(tmp_path, window):
    """Half of what the target costs as the cap, windows of four rows: the run stops once the
    target has spent its cap, writes nothing, and a rerun pays only for the rest."""
    write_corpus(tmp_path)
    with LibreServer(translate=translator(BOOK)) as server:  # what the target costs in all
        assert build(recipe_at(tmp_path, libre(server)), tmp_path / "priced").exit_code == 0
        whole = sum(len(r["q"]) for r in server.requests) * PRICE / 1e6
    (tmp_path / "cache.sqlite").unlink()
    window(4)
    cap = whole / 2  # more than any window costs: a cap per window would never stop
    with LibreServer(translate=translator(BOOK)) as server:
        options = {**libre(server), "price_per_million_chars": PRICE}
        result = build(recipe_at(tmp_path, options, max_cost=round(cap, 6)), tmp_path / "out")
        spent = sum(len(r["q"]) for r in server.requests) * PRICE / 1e6
    assert one_line_error(result).startswith(f"Error: --max-cost {round(cap, 6):g} USD reached")
    assert "segments not sent" in result.output
    assert 0 < spent <= cap
    assert not (tmp_path / "out" / "win").exists()
    with LibreServer(translate=translator(BOOK)) as server:  # the rest, with a cap that fits
        options = {**libre(server), "price_per_million_chars": PRICE}
        result = build(recipe_at(tmp_path, options, max_cost=whole), tmp_path / "out")
        assert result.exit_code == 0, result.output
        rest = sum(len(r["q"]) for r in server.requests) * PRICE / 1e6
    assert spent + rest == pytest.approx(whole)  # nothing paid for twice
    assert written(tmp_path / "out") == written(tmp_path / "priced")


def test_a_cap_below_one_request_sends_nothing(tmp_path, window):
    """Each request's cost is reserved from the target's one budget before it goes: when not
    even the first fits, nothing leaves, and the build stops with one line."""
    write_corpus(tmp_path)
    window(3)
    with LibreServer(translate=translator(BOOK)) as server:
        options = {**libre(server), "price_per_million_chars": PRICE}
        result = build(recipe_at(tmp_path, options, max_cost=0.0001), tmp_path / "out")
        assert server.requests == []
    assert one_line_error(result).startswith("Error: --max-cost 0.0001 USD reached")
    assert not (tmp_path / "out" / "win").exists()


def test_rows_the_backend_fails_fall_back_alike_across_windows(tmp_path, window):
    """The backend refuses every text about studying (a row's problem, once it has proven
    itself); the fallback translates them, except one it refuses too: quarantined with the
    fallback's last error, in any window."""
    write_corpus(tmp_path)
    results = {}
    for rows in (6, 1_000):
        window(rows)
        (tmp_path / "cache.sqlite").unlink(missing_ok=True)
        with (
            LibreServer(translate=translator(BOOK)) as first,
            ChatServer(translate=translator(BOOK)) as second,
        ):
            first.script.add(400, {"error": "no"}, when="studying", times=1_000)
            second.script.add(400, {"error": {"message": "no"}}, when="Version 16.", times=100)
            recipe = recipe_at(tmp_path, libre(first), {**chat(second), "max_retries": 0})
            result = build(recipe, tmp_path / f"out{rows}")
            assert result.exit_code == 0, result.output
            texts = [r["messages"][-1]["content"] for r in second.requests]
        # Only the rows about studying reached the fallback, in any window.
        assert texts and all(
            "studying" in text or all(line in ITEMS[0][1] for line in text.split("\n"))
            for text in texts
        )
        results[rows] = written(tmp_path / f"out{rows}")
        failed = [q for q in quarantined(tmp_path / f"out{rows}") if "Version 16." in str(q)]
        assert [q["reason"] for q in failed] == ["translate-failed"]
        assert failed[0]["meta"]["flags"] == ["last-error: openai-chat: HTTP 400"]
        manifest = json.loads((tmp_path / f"out{rows}" / "win" / "manifest.json").read_text())
        assert "openai-chat:fallback-model" in json.dumps(manifest["configs"]["it"])
    assert results[6] == results[1_000]


def test_a_backend_failing_in_every_window_stops_as_it_would_in_one(tmp_path, window, waits):
    """Failures count across windows: with one row per window no window holds the five
    failures in a row that prove the backend wrong (each row is two units, the response the
    same in all), yet the run stops as a single pass would."""
    rows = [
        {"id": f"m{k}", "instruction": f"{ITEMS[2][0]} Version {k}.", "input": "", "output": "144"}
        for k in range(2, VARIANTS, len(ITEMS))
    ]
    write_jsonl(tmp_path / "en.jsonl", rows)
    errors = {}
    with LibreServer() as first, ChatServer(translate=translator(BOOK)) as second:
        first.script.add(400, {"error": "no"}, times=1_000)
        recipe = recipe_at(tmp_path, libre(first), chat(second))
        for rows in (1, 1_000):
            window(rows)
            errors[rows] = one_line_error(build(recipe, tmp_path / "out"))
            assert len(second.requests) <= 2 * 2  # the fallback's first windows, at most
    assert errors[1] == errors[1_000]
    assert "the first 5 requests all failed (HTTP 400)" in errors[1]
    assert not (tmp_path / "out" / "win").exists()


def test_rows_held_at_once_are_bounded_by_the_window(tmp_path, monkeypatch):
    """No more than one window of pivot rows (and the batch read with its last row) is alive
    ahead of the rows handed on, whatever the corpus's size."""
    import weakref

    write_corpus(tmp_path)
    alive: set[int] = set()
    real = pipeline_run.iter_records

    def counted(*args, **kwargs):
        for record in real(*args, **kwargs):
            alive.add(id(record))
            weakref.finalize(record, alive.discard, id(record))
            yield record

    monkeypatch.setattr(pipeline_run, "iter_records", counted)
    config = RunConfig(quiet=True, window_rows=5, read_rows=2)
    most, handed = 0, 0
    with LibreServer(translate=translator(BOOK)) as server, make_executor(config) as executor:
        recipe = load_recipe(recipe_at(tmp_path, libre(server)))
        run = Run(config, executor, Validator())
        side = TranslatedSide(recipe, "it", run)
        try:
            for row in side.rows(pivot_rows(recipe, run, PivotChecker(recipe))):
                handed += 1
                del row
                most = max(most, len(alive))
        finally:
            side.close()
    assert handed == len(corpus_lines(tmp_path))
    assert 5 <= most <= 5 + 2 < handed


def corpus_lines(folder: Path) -> list[str]:
    return (folder / "en.jsonl").read_text("utf-8").splitlines()
