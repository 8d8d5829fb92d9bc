"""What sending fast must not cost: the segment cache commits answers in groups, yet a
run killed outright loses at most `MAX_PENDING` of those it received and leaves a sound file;
a run that returns, fails or is interrupted has committed every answer; and each sending
thread keeps one connection open to the server instead of opening one per request."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugdata.core.store import CacheError
from plugdata.translate.backends import make_translator
from plugdata.translate.cache import MAX_PENDING, Segment, SegmentCache
from plugdata.translate.engine import Sender
from plugdata.translate.runner import Runner

from .conftest import ITEMS, corpus_rows, translate_args, write_jsonl
from .conftest import invoke as run
from .servers import LibreServer, phrase_book, translator

CONCURRENCY = 16


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("LIBRE_API_KEY", "libre-test-key")


BOOK = translator(phrase_book())


def numbered(text: str) -> str:
    """The phrase book's translation, each line's number `(17)` kept (`many_rows`)."""

    def line(text: str) -> str:
        core, number = re.fullmatch(r"(.*?)((?: \(\d+\))?)", text, re.S).groups()
        return BOOK(core) + number

    return "\n".join(line(x) for x in text.split("\n"))


class CountingServer(LibreServer):
    """LibreTranslate speaking HTTP/1.1 (connections kept open, as a real server keeps them),
    counting the answers it finished and the client connections they came on."""

    def __init__(self, delay: float = 0.0):
        super().__init__(translate=numbered, delay=delay)
        self.answered = 0
        self.connections: set[tuple[str, int]] = set()
        server = self

        class KeepAlive(self.httpd.RequestHandlerClass):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go apart: no 40 ms stall

            def do_POST(self):
                with server.lock:
                    server.connections.add(self.client_address)
                super().do_POST()

        self.httpd.RequestHandlerClass = KeepAlive

    def handle(self, path, headers, raw):
        answer = super().handle(path, headers, raw)
        with self.lock:
            self.answered += 1
        return answer


def committed(cache: Path) -> int:
    """Segments in the file, read by a connection of its own (what another process sees)."""
    db = sqlite3.connect(cache)
    try:
        return db.execute("SELECT count(*) FROM segments").fetchone()[0]
    finally:
        db.close()


def many_rows(n: int) -> list[dict]:
    """The eight test items (translated, so that the checks find the backend working), then
    `n` numbered variants of them: each a segment of its own."""
    rows = corpus_rows("en")
    for i in range(n):
        item = ITEMS[i % len(ITEMS)]
        rows.append({"id": f"v{i:04d}", "instruction": f"{item[0]} ({i})", "input": "",
                     "output": f"{item[1]} ({i})"})  # fmt: skip
    return rows


def units(n: int, runner: Runner) -> dict[str, str]:
    texts = [f"Sentence number {i} to translate." for i in range(n)]
    return {runner.key(text): text for text in texts}


def libre(server) -> object:
    return make_translator("deep-translator", {"provider": "libre", "base_url": server.url})


def test_sigkill_mid_run_loses_at_most_the_answers_waiting_and_leaves_a_sound_cache(tmp_path):
    corpus = write_jsonl(tmp_path / "en.jsonl", many_rows(400))
    cache = tmp_path / "cache.sqlite"
    with CountingServer(delay=0.02) as server:
        options = ["provider=libre", f"base_url={server.url}"]
        args = translate_args(corpus, tmp_path, "deep-translator", options)
        args = [str(a) for a in [*args, "--concurrency", CONCURRENCY]]
        proc = subprocess.Popen(
            [sys.executable, "-m", "plugdata.cli", *args],
            env={**os.environ, "LIBRE_API_KEY": "k"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while server.answered < 200 and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.1)  # the server finishes what was in flight: answered, never received
        answered = server.answered
        kept = committed(cache)
        assert 200 <= answered < 700, "the kill should land mid-run"
        # Answered but not received: one request per sending thread; received but not
        # committed: at most the answers waiting to be committed.
        assert answered - kept <= CONCURRENCY + MAX_PENDING, (answered, kept)
        db = sqlite3.connect(cache)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
        before = len(server.requests)
        result = run(*translate_args(corpus, tmp_path, "deep-translator", options))
        assert result.exit_code == 0, result.output
        again = [r["q"] for r in server.requests[before:]]
    # (A request the kill cut short reaches the server without its text.)
    first = {r["q"] for r in server.requests[:before] if "q" in r}
    # Asked again: at most what was in flight and what was waiting to be committed.
    assert len(first & set(again)) <= CONCURRENCY + MAX_PENDING


def test_every_answer_is_committed_when_the_run_returns(tmp_path):
    with CountingServer() as server, SegmentCache(tmp_path / "c.sqlite") as cache:
        translator = libre(server)
        runner = Runner(translator, cache, ("en", "it"), concurrency=CONCURRENCY)
        todo = units(300, runner)
        runner.run(todo)
        assert committed(cache.path) == 300  # seen by another connection before close
        assert runner.stats.requests == server.answered == 300


def test_ctrl_c_mid_run_has_committed_every_answer_it_counted(tmp_path):
    class Interrupting:
        """The progress bar, where the user's Ctrl-C lands in the main thread."""

        ticks = 0

        def update(self, n):
            self.ticks += n
            if self.ticks == 100:
                raise KeyboardInterrupt

    sender = Sender(CONCURRENCY)
    bar = Interrupting()
    with CountingServer(delay=0.01) as server, SegmentCache(tmp_path / "c.sqlite") as cache:
        runner = Runner(libre(server), cache, ("en", "it"), concurrency=CONCURRENCY)
        with pytest.raises(KeyboardInterrupt):
            sender(runner, units(400, runner), bar)
        assert committed(cache.path) >= 100  # every request ticked had put its answer
        sender.close()
    assert 100 <= committed(cache.path) <= server.answered < 400


def test_a_failed_run_has_committed_the_answers_before_the_failure(tmp_path):
    with CountingServer() as server, SegmentCache(tmp_path / "c.sqlite") as cache:
        server.script.add(401, {"error": "bad key"}, after=150, times=50)  # the key is revoked
        runner = Runner(libre(server), cache, ("en", "it"), concurrency=CONCURRENCY)
        with pytest.raises(Exception, match="401"):
            runner.run(units(400, runner))
        assert committed(cache.path) == runner.stats.translated >= 100


def test_each_sending_thread_keeps_one_connection(tmp_path):
    sender = Sender(4)
    with CountingServer() as server, SegmentCache(tmp_path / "c.sqlite") as cache:
        translator = libre(server)
        runner = Runner(translator, cache, ("en", "it"), concurrency=4)
        for part in range(2):  # a second call (window, strategy) keeps the same threads
            sender(runner, {k: f"{t} {part}" for k, t in units(100, runner).items()}, None)
        sender.close()
    assert server.answered == 200
    # The first request goes alone from the calling thread, then 4 threads send the rest.
    assert len(server.connections) <= 4 + 1, len(server.connections)


def test_a_cache_that_cannot_be_written_is_one_line_at_the_put(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGDATA_CACHE_BUSY_TIMEOUT", "0.2")
    path = tmp_path / "c.sqlite"
    with SegmentCache(path) as cache:
        other = sqlite3.connect(path, timeout=0)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(CacheError, match="locked by another process") as failed:
                cache.put(Segment("k", "b", "m", "en", "it", "1", "one", "uno"))
            assert "\n" not in str(failed.value)
        finally:
            other.rollback()
            other.close()
        cache.put(Segment("k2", "b", "m", "en", "it", "1", "two", "due"))  # free again
    assert committed(path) == 1


def test_kept_connections_still_go_through_the_environment_s_proxy(tmp_path, monkeypatch):
    with CountingServer() as proxy, SegmentCache(tmp_path / "c.sqlite") as cache:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)  # the proxy answers as the service would
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        translator = make_translator(
            "deep-translator", {"provider": "libre", "base_url": "http://libre.invalid:5000"}
        )
        runner = Runner(translator, cache, ("en", "it"), concurrency=4)
        runner.run(units(20, runner))
        assert proxy.answered == 20 and committed(cache.path) == 20


def test_a_libre_answer_later_than_the_timeout_is_a_transient_failure_that_was_sent():
    from plugdata.translate.backends.base import RequestFailed

    with LibreServer(delay=1.0) as server:
        translator = make_translator(
            "deep-translator", {"provider": "libre", "base_url": server.url, "timeout": 0.2}
        )
        started = time.monotonic()
        with pytest.raises(RequestFailed) as failed:
            translator.translate_batch(["One."], "en", "it")
    assert time.monotonic() - started < 0.9
    failure = failed.value.failure
    assert (failure.reason, failure.kind, failure.sent) == ("ReadTimeout", "transient", True)


def test_an_answer_that_arrives_after_the_cache_closed_is_refused_in_one_line(tmp_path):
    # A sending thread still in flight after Ctrl-C: its answer is not kept, and says so.
    cache = SegmentCache(tmp_path / "c.sqlite")
    cache.put(Segment("k", "b", "m", "en", "it", "1", "one", "uno"))
    cache.close()
    with pytest.raises(CacheError, match=r"closed; answers that came after are not kept \(1\)"):
        cache.put(Segment("k2", "b", "m", "en", "it", "1", "two", "due"))
    assert committed(tmp_path / "c.sqlite") == 1
