"""Failure modes of waiting: a server that asks for a long pause, a cache another process holds
locked, a cache file gone bad, and moving a cache in and out.

Each test gives the input, the one line (and exit code) it must end in, and what must stay as it
was. Waits are injected or held to fractions of a second; locks are real SQLite locks held by
another connection or process.
"""

import multiprocessing
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from plugdata.remote.retrying import wait_before_retry

from .conftest import invoke as run
from .conftest import one_line_error, translate_args
from .servers import ChatServer
from .test_integrity_backends import judge, judge_files, nothing_written


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-never-shown")
    monkeypatch.delenv("PLUGDATA_MAX_RETRY_AFTER", raising=False)
    monkeypatch.delenv("PLUGDATA_CACHE_BUSY_TIMEOUT", raising=False)


def chat(server, corpus, folder, *extra):
    options = [f"base_url={server.url}/v1", "model=m"]
    return translate_args(corpus, folder, "openai-chat", options, *extra)


def host(server) -> str:
    return server.url.removeprefix("http://")


# -- Retry-After ---------------------------------------------------------------------------------
def test_translate_retry_after_over_the_cap_is_one_line(corpus, tmp_path):
    with ChatServer() as server:
        server.script.add(429, {"error": {"message": "later"}}, headers={"Retry-After": "3600"})
        started = time.monotonic()
        result = run(*chat(server, corpus, tmp_path))
    line = one_line_error(result)
    assert line == (
        f"Error: openai-chat (m) at {host(server)}: the server asks to wait 3600 s; try again "
        "later (plugdata waits up to 120 s: $PLUGDATA_MAX_RETRY_AFTER)"
    )
    assert time.monotonic() - started < 2 and len(server.requests) == 1
    assert nothing_written(tmp_path)


def test_judge_retry_after_over_the_cap_is_one_line(tmp_path):
    files = judge_files(tmp_path)
    with ChatServer() as server:
        server.script.add(429, {"error": {"message": "later"}}, headers={"Retry-After": "3600"})
        started = time.monotonic()
        result = judge(server.url, files, tmp_path / "out")
    line = one_line_error(result)
    assert line.startswith(
        f"Error: judge (judge-1) at {host(server)}: the server asks to wait 3600"
    )
    assert time.monotonic() - started < 2 and len(server.requests) == 1
    assert not (tmp_path / "out" / "summary.json").exists()


def test_the_retry_after_cap_comes_from_the_environment(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGDATA_MAX_RETRY_AFTER", "5")
    with ChatServer() as server:
        server.script.add(429, {"error": {"message": "later"}}, headers={"Retry-After": "10"})
        line = one_line_error(run(*chat(server, corpus, tmp_path)))
    assert line.endswith(
        "asks to wait 10 s; try again later (plugdata waits up to 5 s: $PLUGDATA_MAX_RETRY_AFTER)"
    )
    monkeypatch.setenv("PLUGDATA_MAX_RETRY_AFTER", "soon")
    with ChatServer() as server:
        server.script.add(429, {"error": {"message": "later"}}, headers={"Retry-After": "1"})
        line = one_line_error(run(*chat(server, corpus, tmp_path)))
    assert line == "Error: $PLUGDATA_MAX_RETRY_AFTER='soon': give a number of seconds"


def test_only_waits_over_five_seconds_are_announced():
    slept, said = [], []
    for retry_after in (1.0, 5.0, 7.0):
        wait_before_retry("svc at h:1", 1, retry_after, sleep=slept.append, say=said.append)
    assert slept == [1.0, 5.0, 7.0]
    assert said == ["svc at h:1: waiting 7 s before try 2: the server asked (Retry-After)"]
    wait_before_retry("svc at h:1", 8, None, sleep=slept.append, say=said.append, backoff_cap=20)
    assert slept[-1] > 5 and said[-1].endswith("before try 9: backing off")
    with pytest.raises(Exception, match="asks to wait 11 s"):
        wait_before_retry("svc", 1, 11.0, sleep=slept.append, say=said.append, cap=10)
    assert len(slept) == 4, "a demand over the cap is never slept"


def test_translator_says_who_asks_for_a_long_wait(tmp_path, capsys, waits):
    from plugdata.translate.backends.chat import ChatBackend, ChatOptions
    from plugdata.translate.cache import SegmentCache
    from plugdata.translate.runner import Runner

    with ChatServer() as server:
        server.script.add(429, {"error": {"message": "slow"}}, headers={"Retry-After": "7"})
        backend = ChatBackend(ChatOptions(base_url=f"{server.url}/v1", model="m"))
        cache = SegmentCache(tmp_path / "cache.sqlite")
        runner = Runner(backend, cache, ("en", "it"), concurrency=4)
        text = "Why do leaves change colour in autumn?"
        runner.run({runner.key(text): text})
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [
        f"openai-chat (m) at {host(server)}: waiting 7 s before try 2: the server asked (Retry-After)"
    ]
    assert waits == [7.0] and len(server.requests) == 2
    assert list(cache.get_many([runner.key(text)])) == [runner.key(text)]


def test_judge_says_who_asks_for_a_long_wait(tmp_path, capsys, waits):
    from trainer.judge.backends import ApiJudge, Counters, Request
    from trainer.judge.run import JudgeOptions

    with ChatServer(translate=lambda text: "[[A]]") as server:
        server.script.add(503, {"error": {"message": "busy"}}, headers={"Retry-After": "30"})
        options = JudgeOptions(
            answers=tmp_path / "a",
            baseline=tmp_path / "b",
            questions="q",
            judge_model="j",
            base_url=f"{server.url}/v1",
            out=tmp_path / "out",
        )
        client = ApiJudge(options)
        request = Request("q1", "AB", [{"role": "user", "content": "Which?"}], "key")
        answer = client.ask(request, Counters())
    assert answer == ("[[A]]", None) and waits == [30.0]
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [
        f"judge (j) at {host(server)}: waiting 30 s before try 2: the server asked (Retry-After)"
    ]


# -- a cache another process holds ---------------------------------------------------------------
def make_cache(path):
    from plugdata.translate.cache import Segment, SegmentCache

    cache = SegmentCache(path)
    cache.put(Segment("k0", "b", "m", "en", "it", "1", "Hello.", "Ciao."))
    cache.close()
    return path


def segments(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT key, translation FROM segments ORDER BY key").fetchall()


def test_a_cache_locked_for_a_moment_is_waited_for(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGDATA_CACHE_BUSY_TIMEOUT", "10")
    cache = make_cache(tmp_path / "cache.sqlite")
    holder = sqlite3.connect(cache, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.4, holder.execute, ("ROLLBACK",))
    release.start()
    started = time.monotonic()
    with ChatServer() as server:
        result = run(*chat(server, corpus, tmp_path))
    release.join()
    holder.close()
    assert result.exit_code == 0, result.output
    assert "kept 8" in result.output and time.monotonic() - started >= 0.4
    assert ("k0", "Ciao.") in segments(cache)


def test_a_cache_locked_too_long_is_one_line_before_any_request(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGDATA_CACHE_BUSY_TIMEOUT", "0.3")
    cache = make_cache(tmp_path / "cache.sqlite")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(60)",
            str(cache),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        with ChatServer() as server:
            line = one_line_error(run(*chat(server, corpus, tmp_path)))
    finally:
        holder.kill()
        holder.wait()
    assert line == (
        f"Error: {cache}: locked by another process for more than 0.3 s "
        "($PLUGDATA_CACHE_BUSY_TIMEOUT); finished answers stay in it: run again when the other "
        "process is done"
    )
    assert server.requests == [] and nothing_written(tmp_path)
    assert segments(cache) == [("k0", "Ciao.")]


def test_a_judge_cache_locked_too_long_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGDATA_CACHE_BUSY_TIMEOUT", "0.2")
    files = judge_files(tmp_path)
    with ChatServer(translate=lambda text: "[[A]]") as server:
        assert judge(server.url, files, tmp_path / "out").exit_code == 0
        from trainer.judge.run import default_cache_path

        cache = default_cache_path()  # in the test's own PLUGDATA_CACHE_DIR
        holder = sqlite3.connect(cache, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            line = one_line_error(judge(server.url, files, tmp_path / "out"))
        finally:
            holder.close()
        assert line.startswith(f"Error: {cache}: locked by another process for more than 0.2 s")
        assert len(server.requests) == 4  # the first run's, none after


def test_the_default_busy_timeout_is_a_minute():
    from plugdata.core.store import busy_timeout

    assert busy_timeout() == 60.0


def open_new_caches_at_once(folder, barrier, errors, files: int) -> None:
    from plugdata.core.store import CacheError, Store

    for n in range(files):
        barrier.wait()  # every process opens file n at the same moment
        try:
            Store(folder / f"new-{n}.sqlite", "CREATE TABLE IF NOT EXISTS t (k INTEGER)").close()
        except CacheError as exc:
            errors.put(str(exc))


def test_processes_that_create_one_cache_at_the_same_moment_all_open_it(tmp_path):
    # Seen in CI: a build's two workers opened a new alignment cache together, and SQLite
    # answered one of them "locked" at once (the switch to WAL does not wait for a lock).
    fork = multiprocessing.get_context("fork")
    barrier, errors = fork.Barrier(4), fork.Queue()
    openers = [
        fork.Process(target=open_new_caches_at_once, args=(tmp_path, barrier, errors, 40))
        for _ in range(4)
    ]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join(timeout=60)
    assert [opener.exitcode for opener in openers] == [0] * 4
    assert errors.empty()


# -- a cache gone bad ----------------------------------------------------------------------------
def translated_once(server, corpus, folder) -> tuple[bytes, int]:
    """Translate the corpus into `folder` (cache included): the output and the requests sent."""
    assert run(*chat(server, corpus, folder)).exit_code == 0
    return (folder / "it.jsonl").read_bytes(), len(server.requests)


def test_a_cache_with_damaged_pages_is_one_line_naming_it(corpus, tmp_path):
    cache = tmp_path / "cache.sqlite"
    with ChatServer() as server:
        output, sent = translated_once(server, corpus, tmp_path)
        size = cache.stat().st_size
        assert size > 8192
        with cache.open("r+b") as fh:  # keep the header page, scramble the rest
            fh.seek(4096)
            fh.write(bytes((i * 131 + 7) % 256 for i in range(size - 4096)))
        line = one_line_error(run(*chat(server, corpus, tmp_path)))
        assert len(server.requests) == sent
    assert line == f"Error: {cache}: not a usable plugdata cache (database disk image is malformed)"
    assert (tmp_path / "it.jsonl").read_bytes() == output


# -- moving a cache ------------------------------------------------------------------------------
def test_cache_export_to_a_missing_folder_is_one_line(tmp_path):
    cache = make_cache(tmp_path / "cache.sqlite")
    line = one_line_error(run("cache", "export", tmp_path / "nope" / "c.parquet", "--cache", cache))
    assert line == f"Error: {tmp_path / 'nope'}: no such folder"
    assert not (tmp_path / "nope").exists()


def test_cache_export_onto_the_cache_itself_is_refused(tmp_path):
    cache = make_cache(tmp_path / "cache.sqlite")
    before = cache.read_bytes()
    line = one_line_error(run("cache", "export", cache, "--cache", cache))
    assert line == f"Error: {cache}: used as both the cache and the export; give another path"
    assert cache.read_bytes() == before


def test_cache_export_of_a_cache_that_does_not_exist_is_one_line(tmp_path):
    missing = tmp_path / "none.sqlite"
    line = one_line_error(run("cache", "export", tmp_path / "c.parquet", "--cache", missing))
    assert line == f"Error: {missing}: no cache there (give --cache)"
    assert not missing.exists() and not (tmp_path / "c.parquet").exists()


def export_with_nulls(tmp_path, nulls: int):
    """An export of three segments, the first `nulls` of them without a translation."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from plugdata.translate.cache import Segment, SegmentCache

    source = SegmentCache(tmp_path / "source.sqlite")
    for i in range(3):
        source.put(Segment(f"k{i}", "b", "m", "en", "it", "1", f"Text {i}.", f"Testo {i}."))
    source.export(tmp_path / "all.parquet")
    source.close()
    table = pq.read_table(tmp_path / "all.parquet")
    column = table.column_names.index("translation")
    values = [None] * nulls + table["translation"].to_pylist()[nulls:]
    table = table.set_column(column, "translation", pa.array(values, pa.string()))
    pq.write_table(table, tmp_path / "export.parquet")
    return tmp_path / "export.parquet"


def test_cache_import_skips_rows_with_nulls_and_counts_them(tmp_path):
    file = export_with_nulls(tmp_path, nulls=1)
    cache = tmp_path / "cache.sqlite"
    result = run("cache", "import", file, "--cache", cache)
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"imported 2 segments (1 rows skipped: null or non-text values) -> {cache}\n"
    )
    assert segments(cache) == [("k1", "Testo 1."), ("k2", "Testo 2.")]


def test_cache_import_of_a_file_without_one_usable_row_is_one_line(tmp_path):
    file = export_with_nulls(tmp_path, nulls=3)
    cache = make_cache(tmp_path / "cache.sqlite")
    line = one_line_error(run("cache", "import", file, "--cache", cache))
    assert line == f"Error: {file}: none of its 3 rows is complete text"
    assert segments(cache) == [("k0", "Ciao.")]
