"""What an interrupt or a fault promises: Ctrl-C is one line and exit code 130 within seconds, in
every command, with no worker's traceback and no process left behind; a run killed outright
(SIGKILL) leaves temporary files that the next run of the same kind removes; a full disk is
one line, with nothing half-written.

Each test: the input, the expected line or result, and what stays unchanged."""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from plugdata.core import leftovers
from plugdata.core.jsonl import JsonLinesWriter
from plugdata.errors import PlugdataError
from plugdata.pipeline.executor.local import ForkPool

from .conftest import RECIPE, corpus_rows, generate, invoke, one_line_error, write_jsonl

# Small chunks and tasks, and at least two workers, so that a corpus of a few hundred rows
# goes through the worker processes as a big one does.
POOLED = ["--workers", "2", "--inline-rows", "1", "--chunk-rows", "40", "--task-rows", "20"]


@pytest.fixture
def wide(tmp_path) -> Path:
    """The `tiny` recipe over 240 rows (the eight test items, thirty times over)."""
    for lang in ("en", "zh", "it"):
        rows = [
            {**row, "id": f"{row['id']}-{k}", "instruction": f"{row['instruction']} {k}"}
            for k in range(30)
            for row in corpus_rows(lang)
        ]
        write_jsonl(tmp_path / f"{lang}.jsonl", rows)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE.format(join="id"), encoding="utf-8")
    return recipe


def plugdata(
    *args: object, env: dict[str, str] | None = None, file_size: int | None = None
) -> subprocess.Popen:
    """`plugdata ARGS` as a terminal runs it: its own process group, which Ctrl-C signals whole
    (the command and its workers alike). `file_size`: the largest file it may write (as
    `ulimit -f` sets it: a write past it fails with EFBIG, as on a full disk with ENOSPC)."""

    def limit() -> None:
        # As a terminal starts it: Ctrl-C as its default, even where the tests run in the
        # background (a shell starts background jobs with SIGINT ignored, and children inherit).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    command = [sys.executable, "-m", "plugdata.cli", *map(str, args)]
    return subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=limit,
    )


def wait_for(found, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not found():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def processes_naming(text: str) -> list[int]:
    """Live processes whose command line names `text` (a build's workers share its own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            except OSError:
                continue
            if text.encode() in cmdline and state != "Z":
                pids.append(int(entry.name))
    return pids


# -- Ctrl-C ---------------------------------------------------------------------------------------
def test_ctrl_c_at_random_moments_of_a_build_is_one_line_and_exit_130(tmp_path, wide):
    out = tmp_path / "out"
    lock = out / ".tiny.plugdata.lock"
    interrupted = 0
    for moment in sorted(random.Random(23).uniform(0.0, 0.5) for _ in range(3)):
        build = plugdata("build", wide, "--out", out, "--quiet", *POOLED)
        wait_for(lock.exists)  # the command is past its imports and holds the folder
        time.sleep(moment)
        if build.poll() is not None:  # a fast machine finished first: nothing to interrupt
            assert build.returncode == 0, build.communicate()
            shutil.rmtree(out)
            continue
        interrupted += 1
        os.killpg(build.pid, signal.SIGINT)
        sent = time.monotonic()
        try:
            stdout, stderr = build.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(build.pid, signal.SIGKILL)
            pytest.fail(f"Ctrl-C at {moment:.2f}s: still running 15s later")
        assert time.monotonic() - sent < 10, moment
        assert build.returncode == 130, (moment, stderr)
        lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
        assert lines == ["Interrupted: stopped by Ctrl-C; run the command again to finish"], (
            moment,
            stdout + stderr,
        )
        assert list(out.iterdir()) == [], moment  # no stage folder, no lock, no half folder
        assert processes_naming(str(wide)) == [], moment  # no worker outlives the command
    assert interrupted, "every build ended before its Ctrl-C: give them more rows"


def test_a_worker_that_dies_mid_message_fails_its_part_and_the_pool_still_closes():
    class DiesHoldingTheLock:
        validator = None

        def run(self, n: int) -> int:
            if n == 3:
                # Killed while sending its result: the pipe's lock is never released.
                frame = sys._getframe()
                while frame.f_code.co_name != "worker":
                    frame = frame.f_back
                frame.f_locals["outqueue"]._wlock.acquire()
                os.kill(os.getpid(), signal.SIGKILL)
            return n

    pool = ForkPool(DiesHoldingTheLock(), 2)
    handles = [pool.submit(n) for n in range(6)]
    started = time.monotonic()
    with pytest.raises(PlugdataError, match=r"a worker process \(pid \d+\) ended mid-run"):
        for handle in handles:
            handle.get()
    closing = threading.Thread(target=pool.close, daemon=True)
    closing.start()
    closing.join(20)
    assert not closing.is_alive(), "close() waits for ever"
    assert time.monotonic() - started < 15
    assert all(p.exitcode is not None for p in pool._workers)


# -- what a killed run leaves, the next run removes ----------------------------------------------
def test_a_killed_builds_spilled_corpus_is_removed_by_the_next_build(tmp_path, wide):
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    spilled = lambda: list(temp.glob("plugdata-align-*.sqlite"))  # noqa: E731
    build = plugdata("build", wide, "--out", tmp_path / "out", "--quiet", env=env)
    wait_for(spilled)
    os.killpg(build.pid, signal.SIGKILL)
    build.wait()
    left = spilled()
    assert left and all(f.name.startswith(f"plugdata-align-{build.pid}.") for f in left)
    # A live build's file is not touched: its owner holds it.
    live_path, live_fd = leftovers.create(temp, *("plugdata-align-", ".sqlite"))
    try:
        rerun = plugdata(
            "build", wide, "--out", tmp_path / "out", "--quiet", "--limit", "8", env=env
        )
        _, stderr = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, stderr
        assert spilled() == [live_path]
    finally:
        live_path.unlink()
        leftovers.release(live_fd)


def test_a_build_that_fails_reading_a_corpus_leaves_no_spilled_file(tmp_path, wide, monkeypatch):
    temp = tmp_path / "temp"
    temp.mkdir()
    rows = corpus_rows("zh")
    del rows[3]["id"]  # joined by id: a row without one stops the build
    write_jsonl(wide.parent / "zh.jsonl", rows)
    build = plugdata("build", wide, "--out", tmp_path / "out", "--quiet", env={"TMPDIR": str(temp)})
    _, stderr = build.communicate(timeout=120)
    assert build.returncode == 1 and stderr.startswith("Error: "), stderr
    assert list(temp.iterdir()) == []


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from plugdata.core.jsonl import JsonLinesWriter
writer = JsonLinesWriter(Path(sys.argv[1]))
writer.write([{"id": "half"}])
writer._fh.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_writers_temporary_file_is_removed_by_the_next_writer(tmp_path):
    out = tmp_path / "zh.jsonl"  # e.g. `plugdata translate --out zh.jsonl`, killed
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, out], capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    left = list(tmp_path.glob(".zh.jsonl.*.tmp"))
    assert len(left) == 1 and not out.exists()
    with JsonLinesWriter(out) as writer:  # the rerun
        assert not left[0].exists()
        writer.write([{"id": "whole"}])
        writer.commit()
    assert out.read_text("utf-8") == '{"id": "whole"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zh.jsonl"]


# -- a full disk ----------------------------------------------------------------------------------
def test_a_build_that_runs_out_of_disk_is_one_line_and_writes_nothing(tmp_path, wide):
    temp, out = tmp_path / "temp", tmp_path / "out"
    temp.mkdir()
    build = plugdata(
        "build", wide, "--out", out, "--quiet", env={"TMPDIR": str(temp)}, file_size=32 * 1024
    )
    stdout, stderr = build.communicate(timeout=120)
    assert build.returncode == 1, stderr
    lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
    assert len(lines) == 1, stdout + stderr
    assert lines[0].startswith("Error: a write failed (SQLite: disk I/O error): the disk is full")
    assert list(out.iterdir()) == [] and list(temp.iterdir()) == []


# -- damaged inputs -------------------------------------------------------------------------------
def test_a_truncated_gguf_file_is_one_line_before_any_model_loads(demo, smollm2_gguf, tmp_path):
    model = tmp_path / "cut.gguf"  # a download that stopped in the metadata
    with smollm2_gguf.open("rb") as whole:
        model.write_bytes(whole.read(100_000))
    result = generate(model, demo, tmp_path / "a.jsonl")
    error = one_line_error(result, after="Error: ")
    assert error.startswith(f"Error: --model {model}: cannot load the GGUF file (not a GGUF")
    answers = tmp_path / "a.jsonl"
    assert not answers.exists() or answers.read_text("utf-8") == ""


@pytest.mark.parametrize("rule", ["careful", "paper"])
def test_a_huge_number_in_an_answer_is_read_as_no_answer(tmp_path, monkeypatch, rule):
    from plugdata.cli import cli
    from trainer.cli import score

    monkeypatch.setitem(cli.commands, "score", score)  # as the installed entry point adds it
    questions = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"id": f"q{i}", "lang": lang, "instruction": "How many?", "answer": 7}
            for i, lang in enumerate(["en", "zh", "en", "en"])
        ],
    )
    huge = [
        "The answer is " + "9" * 100_000,  # past int()'s 4,300 digits and a float's range
        "答案是" + "九" * 100_000,
        "So 7. Or " + "9" * 5_000 + "/" + "9" * 5_000,
        "It is 3/0, so 7.",
    ]
    answers = write_jsonl(
        tmp_path / "a.jsonl",
        [{"id": f"q{i}", "output": text, "generator": "g"} for i, text in enumerate(huge)],
    )
    out = tmp_path / "out"
    args = ["--answers", answers, "--questions", questions, "--out", out, "--number-rule", rule]
    result = invoke("score", "svamp", *args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output

    def finite_only(constant: str) -> None:
        raise AssertionError(f"{constant} in a JSON file")

    lines = (out / "scores.jsonl").read_text("utf-8").splitlines()
    rows = {r["id"]: r for r in (json.loads(line, parse_constant=finite_only) for line in lines)}
    extracted = [rows[f"q{i}"]["extracted"] for i in range(4)]
    assert extracted[:2] == [None, None]
    if rule == "careful":
        assert extracted[2:] == [7.0, 7.0]


# -- a service fault mid-publish ------------------------------------------------------------------
def test_an_lfs_upload_that_fails_is_one_line_and_commits_nothing(hub, tiny, tmp_path, monkeypatch):
    from plugdata.pipeline.build import build
    from plugdata.pipeline.config import RunConfig
    from plugdata.pipeline.recipe import load_recipe

    build(load_recipe(tiny), tmp_path / "out", config=RunConfig(quiet=True))
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)  # huggingface_hub's backoff and ours
    hub.fail_next("PUT", "/lfs-upload/", 500, times=1_000)  # the storage is down
    repo = "plug-org/tiny"
    result = invoke("publish", tmp_path / "out" / "tiny", "--repo-id", repo, "--no-verify")
    line = one_line_error(result, after="Error: ")  # after huggingface_hub's upload bars
    assert "uploading data/" in line and "answered HTTP 500" in line, line
    assert waits  # retried before giving up
    assert not any(path.startswith("data/") for path in hub.files(repo))  # nothing committed
    assert not [m for m, p in hub.writes() if "/commit/" in p]


# -- a local Ray that plugdata started ------------------------------------------------------------
KILLED_DRIVER = """
import os, signal, sys
from pathlib import Path
from plugdata.core import leftovers
from plugdata.pipeline.executor.ray_cluster import LOCAL_RAY
path, fd = leftovers.create(Path(sys.argv[1]), *LOCAL_RAY)  # as `connect` records its Ray
os.write(fd, sys.argv[2].encode())
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_local_ray_of_a_killed_driver_is_ended_by_the_next_one(tmp_path):
    """Ray's start takes too long for this catalogue: its agents are stood for by processes
    that name their session on the command line, as Ray's do."""
    from plugdata.pipeline.executor.ray_cluster import LOCAL_RAY, end_ray_session

    def agent(session: str) -> subprocess.Popen:
        sleeper = "import time; time.sleep(60)"
        return subprocess.Popen([sys.executable, "-c", sleeper, f"--session-name={session}"])

    dead, live = "session_2026-12-06_10-00-00_000001_111", "session_2026-12-06_10-00-00_000002_222"
    orphan, running = agent(dead), agent(live)
    try:
        path, fd = leftovers.create(tmp_path, *LOCAL_RAY)  # a driver that lives, with its Ray
        os.write(fd, live.encode())
        script = [sys.executable, "-c", KILLED_DRIVER, tmp_path, dead]
        assert subprocess.run(script).returncode == -signal.SIGKILL
        assert leftovers.sweep(tmp_path, *LOCAL_RAY, reap=end_ray_session) == 1
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert running.poll() is None and [p.name for p in tmp_path.iterdir()] == [path.name]
    finally:
        leftovers.release(fd)
        for process in (orphan, running):
            process.kill()
            process.wait()


def test_ctrl_c_while_translate_waits_on_the_service_is_one_line_and_leaves_nothing(
    corpus, tmp_path
):
    from .conftest import translate_args
    from .servers import LibreServer

    with LibreServer(delay=5.0) as server:  # every answer takes 5 s
        options = ["provider=libre", f"base_url={server.url}"]
        args = translate_args(corpus, tmp_path, "deep-translator", options)
        run = plugdata(*args, env={"LIBRE_API_KEY": "k"})
        wait_for(lambda: server.requests or run.poll() is not None)  # a request is in flight
        assert run.poll() is None, run.communicate()
        os.killpg(run.pid, signal.SIGINT)
        sent = time.monotonic()
        stdout, stderr = run.communicate(timeout=30)
        assert time.monotonic() - sent < 3, "waited for the requests in flight"
    assert run.returncode == 130, stderr
    lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
    assert lines == ["Interrupted: stopped by Ctrl-C; run the command again to finish"], lines
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".it.jsonl")) == []
    assert not (tmp_path / "it.jsonl").exists()
