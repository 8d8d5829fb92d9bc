"""`plugdata translate --executor ray` and the Ray executor, on one local Ray started for this file
(two CPUs), against the LibreTranslate-compatible server on 127.0.0.1 and deep-translator, and
with the seq2seq backend on a tiny model."""

import re
import threading
import time

import pytest
import ray

from .conftest import ITEMS, corpus_rows, one_line_error, translate_args, write_jsonl
from .conftest import invoke as run
from .servers import LibreServer, phrase_book, translator

pytestmark = pytest.mark.usefixtures("local_ray")


def libre(server, corpus, folder, *extra):
    options = ["provider=libre", f"base_url={server.url}"]
    return translate_args(corpus, folder, "deep-translator", options, *extra)


def ray_libre(server, corpus, folder, *extra):
    return libre(server, corpus, folder, "--executor", "ray", "--concurrency", "2", *extra)


OUTPUTS = ("it.jsonl", "it.quarantine.jsonl")


def sent_texts(server) -> list[str]:
    return [r["q"] for r in server.requests]


def test_ray_executor_writes_the_bytes_of_the_local_one_and_resumes_from_the_cache(
    corpus, tmp_path
):
    """With a row the service refuses: its quarantine entry is the same too."""
    local, distributed = tmp_path / "local", tmp_path / "ray"
    with LibreServer() as server:
        server.script.add(403, {"error": "refused"}, when="Why do leaves", times=5)
        first = run(*libre(server, corpus, local))
        assert first.exit_code == 0, first.output
        by_local = sorted(sent_texts(server))
        server.requests.clear()
        server.script.add(403, {"error": "refused"}, when="Why do leaves", times=5)
        result = run(*ray_libre(server, corpus, distributed))
        assert result.exit_code == 0, result.output
        by_ray = sorted(sent_texts(server))
        written = {name: (distributed / name).read_bytes() for name in OUTPUTS}
        server.script.items.clear()
        rerun = run(*ray_libre(server, corpus, distributed))  # the rest from the cache
        assert rerun.exit_code == 0, rerun.output
        resent = sent_texts(server)[len(by_ray) :]
    assert written == {name: (local / name).read_bytes() for name in OUTPUTS}
    assert by_ray == by_local  # the same units, each sent once
    assert "quarantined 1 (translate-failed 1)" in result.output
    assert f"sent {len(by_ray)} requests (0 retries)" in result.output
    assert resent and all("Why do leaves" in q for q in resent), resent
    assert f"kept {len(ITEMS)}, quarantined 0" in rerun.output
    assert not [a for a in ray.util.list_named_actors() if a.startswith("plugdata-translate")]


def test_ray_executor_checks_the_translations_on_its_actors(corpus, tmp_path, monkeypatch):
    """A row the service sends back untranslated fails the content checks on Ray's actors as it
    does here: the same bytes, its quarantine entry included."""
    from plugdata.pipeline.executor.ray import _RayPool

    book = translator(phrase_book())
    tasks = []
    submit = _RayPool.submit
    monkeypatch.setattr(_RayPool, "submit", lambda *a: tasks.append(a) or submit(*a))
    with LibreServer(translate=lambda q: q if "Why do leaves" in q else book(q)) as server:
        local = run(*libre(server, corpus, tmp_path / "local"))
        distributed = run(*ray_libre(server, corpus, tmp_path / "ray"))
    assert local.exit_code == 0 and distributed.exit_code == 0, distributed.output
    for name in OUTPUTS:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert tasks  # the rows were checked by Ray's actors
    assert "quarantined 1 (untranslated:target_instruction 1)" in distributed.output


def test_ray_executor_keeps_one_cost_cap_and_one_rate_limit_for_all_actors(corpus, tmp_path):
    """A cap worth a third of the characters and a rate for the whole cluster: two actors
    with a budget and a limiter each would send more, and two at a time."""
    price, rate = 1000.0, 80.0  # USD per million characters, requests per second
    book, arrivals = translator(phrase_book()), []

    def stamp(text: str) -> str:
        arrivals.append(time.monotonic())
        return book(text)

    with LibreServer(translate=stamp) as server:
        plan = run(*libre(server, corpus, tmp_path, "--dry-run"))
        chars = int(re.search(r"\(([\d,]+) characters", plan.output)[1].replace(",", ""))
        cap = chars * price / 1e6 / 3
        options = [f"price_per_million_chars={price:g}", f"requests_per_second={rate:g}"]
        extra = [x for option in options for x in ("--option", option)]
        result = run(*ray_libre(server, corpus, tmp_path, *extra, "--max-cost", f"{cap:.6f}"))
        sent = sum(len(q) for q in sent_texts(server))
    assert result.exit_code == 1
    assert "--max-cost" in result.output and "segments not sent" in result.output
    assert 0 < sent * price / 1e6 <= cap
    assert not (tmp_path / "it.jsonl").exists()
    assert len(arrivals) > 3
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1) / rate * 0.85


def test_ray_worker_killed_mid_run_loses_only_its_units_in_flight(corpus, tmp_path):
    book = translator(phrase_book())
    killed = threading.Event()
    calls = []

    def kill_one_worker_at_the_sixth_request(text: str) -> str:
        calls.append(text)
        if len(calls) == 6 and not killed.is_set():
            name = next(a for a in ray.util.list_named_actors() if "-worker-" in a)
            ray.kill(ray.get_actor(name))
            killed.set()
        return book(text)

    cache = tmp_path / "cache.sqlite"
    with LibreServer(translate=kill_one_worker_at_the_sixth_request) as server:
        result = run(*ray_libre(server, corpus, tmp_path))
        first_sent = set(sent_texts(server))
    assert killed.is_set()
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "a Ray worker stopped mid-run" in lines[0], result.output
    assert "run again to send the rest" in lines[0]
    cached = _cached_sources(cache)
    assert cached and cached <= first_sent  # the answers that came back are kept

    with LibreServer() as server:
        result = run(*ray_libre(server, corpus, tmp_path))
        again = sent_texts(server)
    assert result.exit_code == 0, result.output
    assert again and not set(again) & cached  # nothing paid twice
    assert len(again) == len(set(again))
    assert set(again) | cached == _cached_sources(cache)  # and all of it is cached now
    assert f"kept {len(ITEMS)}, quarantined 0" in result.output


def _cached_sources(cache) -> set[str]:
    import sqlite3

    with sqlite3.connect(cache) as db:
        return {row[0] for row in db.execute("SELECT source FROM segments")}


def test_ray_actors_make_the_rows_this_process_makes(tmp_path):
    """A chunk's rows made, checked and routed by an actor with its own validator: the tables
    and quarantine of the same job run here (wrong-language rows included)."""
    from plugdata.checks.validate import Validator
    from plugdata.pipeline.config import RunConfig
    from plugdata.pipeline.executor.ray import RayExecutor
    from plugdata.pipeline.layout import Layout
    from plugdata.pipeline.recipe import load_recipe
    from plugdata.pipeline.stages import ChunkJob
    from plugdata.pipeline.triples import TargetRow
    from plugdata.sources.read import Record

    from .conftest import DEMO_RECIPE

    recipe = load_recipe(DEMO_RECIPE)
    job = ChunkJob(recipe, Layout.of(recipe, "zh"), Validator())
    chunk = [
        TargetRow(
            Record(i, f"en.jsonl:{i}", None, item[0], item[1]),
            f"t{i}-{col}",
            [],
            Record(i, f"zh.jsonl:{i}", None, item[col], item[col + 1]),
            "aligned:zh.jsonl",
            [],
            [],
        )
        for i, item in enumerate(ITEMS)
        for col in (2, 4)  # the second: Italian in the Chinese fields
    ]
    early = [[] for _ in chunk]
    here = job.run(chunk, early)
    with RayExecutor(RunConfig(executor="ray")) as executor:
        there = executor.pool(job).submit(chunk, early).get()
    assert there.quarantine.num_rows == here.quarantine.num_rows == len(ITEMS)
    assert there.quarantine.to_pylist() == here.quarantine.to_pylist()
    assert {c: {s: e.table for s, e in p.items()} for c, p in there.rows.items()} == {
        c: {s: e.table for s, e in p.items()} for c, p in here.rows.items()
    }


def test_ray_executor_without_ray_installed_names_the_extra(corpus, tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a)
    )
    with LibreServer() as server:
        result = run(*ray_libre(server, corpus, tmp_path))
        assert server.requests == []
    assert one_line_error(result) == (
        "Error: this feature needs 'ray': pip install 'plugdata[ray]'"
    )


def test_ray_address_without_the_ray_executor_is_refused(corpus, tmp_path):
    with LibreServer() as server:
        result = run(*libre(server, corpus, tmp_path, "--ray-address", "auto"))
        assert server.requests == []
    assert one_line_error(result) == "Error: --ray-address: only with --executor ray"


def test_ray_executor_runs_the_seq2seq_backend_on_a_machine_without_gpus(tiny_marian, tmp_path):
    """One actor per GPU; with none in the cluster, one on the CPU (num_gpus=0)."""
    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en"))
    options = [f"model={tiny_marian}", "max_new_tokens=6"]
    local = run(*translate_args(corpus, tmp_path / "local", "seq2seq", options))
    assert local.exit_code == 0, local.output
    result = run(*translate_args(corpus, tmp_path / "ray", "seq2seq", options, "--executor", "ray"))
    assert result.exit_code == 0, result.output
    assert "sent 0 requests" not in result.output
    written = {name: (tmp_path / "ray" / name).read_bytes() for name in OUTPUTS}
    assert written == {name: (tmp_path / "local" / name).read_bytes() for name in OUTPUTS}


def test_ray_address_where_nothing_listens_is_one_line_at_once(tmp_path):
    """In a fresh process (this one has joined its Ray): Ray alone would retry for minutes."""
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        f"from plugdata.pipeline.executor.ray_cluster import connect; connect('127.0.0.1:{port}')"
    )
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        f"plugdata.errors.PlugdataError: --ray-address 127.0.0.1:{port}: no Ray cluster there "
        "(Connection refused)"
    )
    assert time.monotonic() - started < 10
