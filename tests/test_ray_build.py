"""`plugdata build --executor ray` on one local Ray for this file (two CPUs): the demo, a
generated 20K-row aligned corpus and a recipe that translates (against the
LibreTranslate-compatible server on 127.0.0.1) give the folder of the local executor."""

import json
from pathlib import Path

import pytest

from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.executor.ray import _RayPool
from plugdata.pipeline.executor.ray_send import RaySender

from .conftest import DEMO_RECIPE, corpus_rows, invoke, one_line_error, write_garden, write_jsonl
from .servers import LibreServer

pytestmark = pytest.mark.usefixtures("local_ray")


@pytest.fixture
def calls(monkeypatch) -> dict[str, int]:
    """How often the build handed work to Ray: slices of chunks to actors, and units to
    translate."""
    counted = {"tasks": 0, "sends": 0}

    def counting(name: str, method):
        def wrapper(*args, **kwargs):
            counted[name] += 1
            return method(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(_RayPool, "submit", counting("tasks", _RayPool.submit))
    monkeypatch.setattr(RaySender, "__call__", counting("sends", RaySender.__call__))
    return counted


def build_both(recipe: Path, out: Path, *extra, between=lambda: None) -> tuple[dict, dict]:
    """The manifests of `recipe` built by the local executor and by Ray."""
    manifests = []
    for executor in ("local", "ray"):
        between()
        result = invoke(
            "build", recipe, "--out", out / executor, "--executor", executor, "--quiet", *extra
        )
        assert result.exit_code == 0, result.output
        name = next((out / executor).iterdir())
        manifests.append(json.loads((name / "manifest.json").read_text("utf-8")))
    return manifests[0], manifests[1]


def content(manifest: dict) -> dict:
    """What both executors must agree on: every config's rows and content hashes per split, and
    every quarantine's rows and file."""
    configs = {
        name: (entry["splits"], entry["sha256"], entry["files"])
        for name, entry in manifest["configs"].items()
    }
    return {"configs": configs, "quarantine": manifest["quarantine"]}


def test_ray_build_of_the_demo_writes_the_configs_and_hashes_of_the_local_build(tmp_path, calls):
    local, distributed = build_both(DEMO_RECIPE, tmp_path)
    assert len(local["configs"]) == 24
    assert content(distributed) == content(local)
    assert calls["tasks"] >= 4  # every language's rows went to Ray's actors


def test_ray_build_of_20k_generated_rows_gives_the_hashes_of_the_local_build(tmp_path, calls):
    local, distributed = build_both(write_garden(tmp_path, 20_000), tmp_path / "out")
    assert content(distributed) == content(local)
    splits = local["configs"]["zh"]["splits"]
    rejected = local["quarantine"]["zh"]["rows"]
    assert splits["validation"] > 0 and rejected >= 1 + 1 + 20_000 // 997
    assert splits["train"] + splits["validation"] + rejected == 20_000
    # every slice of every chunk went to the actors
    assert calls["tasks"] >= 20_000 // RunConfig().task_rows


def translating_recipe(folder: Path, server: LibreServer) -> Path:
    """A recipe that translates the eight test items to Italian with `server`, its cache
    beside it."""
    write_jsonl(folder / "en.jsonl", corpus_rows("en"))
    recipe = folder / "mt.yaml"
    recipe.write_text(
        "name: mt\nsource: {name: mt, path: en.jsonl}\ntargets:\n  it:\n    translate:\n"
        f"      {{backend: deep-translator, provider: libre, base_url: '{server.url}',\n"
        "       cache: cache.sqlite, concurrency: 2}\ncard: {pretty_name: MT, license: cc-by-4.0}\n",
        "utf-8",
    )
    return recipe


def test_ray_build_translates_a_recipe_target_on_ray_actors(tmp_path, calls):
    cache = tmp_path / "cache.sqlite"
    with LibreServer() as server:
        recipe = translating_recipe(tmp_path, server)
        sent: list[list[str]] = []

        def fresh_cache():
            """Each executor pays for its own translations: nothing comes from the cache."""
            if server.requests:
                sent.append(sorted(r["q"] for r in server.requests))
                server.requests.clear()
            cache.unlink(missing_ok=True)

        local, distributed = build_both(recipe, tmp_path / "out", between=fresh_cache)
        sent.append(sorted(r["q"] for r in server.requests))
    assert content(distributed) == content(local)
    assert sum(local["configs"]["it"]["splits"].values()) == len(corpus_rows("en"))
    assert sent[0] and sent[1] == sent[0]  # the same texts sent, by Ray's actors the second time
    assert calls["sends"] >= 1


def test_ray_build_in_windows_starts_its_translating_actors_once(tmp_path, calls, monkeypatch):
    """Three rows a window, two a chunk: the actors that translate start with the first window
    and serve the others while the check actors run beside them (the translating ones hold no
    CPU, or neither could start), and the folder is the local executor's."""
    from plugdata.pipeline.executor.ray_send import _Group

    started: list[str] = []
    start = _Group.start
    monkeypatch.setattr(_Group, "start", lambda *args: started.append(args[0]) or start(*args))
    cache = tmp_path / "cache.sqlite"
    with LibreServer() as server:
        recipe = translating_recipe(tmp_path, server)
        local, distributed = build_both(
            recipe,
            tmp_path / "out",
            *("--window-rows", 3, "--chunk-rows", 2),
            between=lambda: cache.unlink(missing_ok=True),
        )
    assert content(distributed) == content(local)
    assert len(started) == 1 and calls["sends"] >= 3  # one group of actors, three windows


def test_ray_address_without_the_ray_executor_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    result = invoke("build", DEMO_RECIPE, "--out", out, "--ray-address", "auto", "--quiet")
    assert one_line_error(result) == "Error: --ray-address: only with --executor ray"
    assert not out.exists()


def test_ray_build_whose_actor_is_killed_stops_in_one_line_and_writes_nothing(
    tmp_path, monkeypatch
):
    import ray

    original = _RayPool.submit

    def kill_first(pool, *part):
        """The actor the first task goes to is killed before the task reaches it."""
        ray.kill(pool._actors[0])
        return original(pool, *part)

    monkeypatch.setattr(_RayPool, "submit", kill_first)
    out = tmp_path / "out"
    result = invoke("build", DEMO_RECIPE, "--out", out, "--executor", "ray", "--quiet")
    line = one_line_error(result)
    assert "a Ray worker processing rows stopped mid-run" in line, line
    assert not (out / "plug-demo").exists()


# -- reading while Ray starts ---------------------------------------------------------------------
def test_what_is_read_while_ray_starts_comes_back_and_so_does_its_error():
    from plugdata.pipeline.executor.ray import RayExecutor

    executor = RayExecutor(RunConfig(executor="ray"))  # this process has joined Ray already
    assert executor.meanwhile(lambda: ["the index"]) == ["the index"]

    def unreadable():
        raise ValueError("zh.jsonl, row 3: not JSON")

    with pytest.raises(ValueError, match="row 3: not JSON"):
        executor.meanwhile(unreadable)


def test_what_was_read_for_a_ray_that_cannot_start_is_closed(tmp_path):
    """In a fresh process (this one has joined its Ray): the start fails, the index built
    meanwhile is closed, and the error is Ray's one line."""
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"""
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.executor.ray import RayExecutor

class Index:
    closed = False
    def close(self):
        Index.closed = True

config = RunConfig(executor="ray", ray_address="127.0.0.1:{port}")
try:
    RayExecutor(config).meanwhile(Index)
except Exception as exc:
    print(Index.closed, exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.startswith(f"True --ray-address 127.0.0.1:{port}: no Ray cluster there")


def test_an_actor_works_with_the_collector_off_and_its_model_frozen_as_a_forked_worker_does():
    import gc

    from plugdata.checks.validate import Validator
    from plugdata.pipeline.executor.ray import _Worker

    was_enabled = gc.isenabled()
    try:
        _Worker(*Validator().spec())  # what a Ray actor runs first, here in this process
        assert not gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
