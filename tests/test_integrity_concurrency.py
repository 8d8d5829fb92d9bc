"""Integrity catalogue: processes that share a cache share its work. Three `plugdata translate`
runs (or builds) against one slow service pay for each segment once between them and write the
same complete output, two judges ask for each judgment once, and a claim left by a killed or
stalled process is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from plugdata.checks.alignment import AlignmentCache, cached_scores
from plugdata.core.claims import ClaimSettings
from plugdata.core.digests import digest
from plugdata.translate.cache import Segment, SegmentCache

from .conftest import corpus_rows, translate_args, write_jsonl
from .servers import ChatServer

ROOT = Path(__file__).resolve().parents[1]

# A LibreTranslate-API server in its own process (so that the runs' threads do not slow it),
# answering after DELAY seconds, and only once GET /go opened its gate (so that every run has
# started before the first answer); GET /count says how many translations were asked for, and
# shuts the gate for the next round.
SERVER = """
import sys, threading
from tests.servers import LibreServer

gate = threading.Event()

class Counted(LibreServer):
    def handle(self, path, headers, raw):
        gate.wait()
        return super().handle(path, headers, raw)

    def handle_get(self, path):
        if path == "/go":
            gate.set()
            return 200, {}
        gate.clear()  # /count ends a round: the next one waits for its own /go
        with self.lock:
            return 200, {"requests": len(self.requests)}

with Counted(delay=float(sys.argv[1])) as server:
    print(server.url, flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


class SlowLibre:
    def __init__(self, delay: float):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(delay)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as answer:
            return json.load(answer)

    def count(self) -> int:
        return self.get("/count")["requests"]

    def __enter__(self) -> SlowLibre:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def _env() -> dict[str, str]:
    return {**os.environ, "LIBRE_API_KEY": "k", "PYTHONPATH": str(ROOT)}


def _has_open(pid: int, path: Path) -> bool:
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return True  # gone already (it failed): the returncode check below says why
    for fd in fds:
        try:
            if fd.readlink() == path.resolve():
                return True
        except OSError:
            continue
    return False


def _start(commands: list[list], env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    """The commands as `plugdata` processes, all started at once."""
    return [
        subprocess.Popen(
            [sys.executable, "-m", "plugdata.cli", *map(str, c)],
            env={**_env(), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for c in commands
    ]


def _when_open(procs: list[subprocess.Popen], cache: Path) -> None:
    """Wait until every process has `cache` open: the look-up that decides what it sends
    comes next."""
    deadline = time.monotonic() + 60
    while not all(_has_open(p.pid, cache) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.01)


def _finish(procs: list[subprocess.Popen]) -> None:
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out


def _together(server: SlowLibre, commands: list[list], cache: Path) -> None:
    """Run the commands as processes at the same time, the server answering only once each
    of them has `cache` open; each must exit 0."""
    procs = _start(commands)
    _when_open(procs, cache)
    server.get("/go")
    _finish(procs)


def _libre(server: SlowLibre, corpus: Path, folder: Path, cache: Path) -> list:
    options = ["provider=libre", f"base_url={server.url}"]
    args = translate_args(corpus, folder, "deep-translator", options, "--concurrency", "2")
    return [*args[: args.index("--cache") + 1], cache, *args[args.index("--cache") + 2 :]]


def _segments(cache_path: Path) -> int:
    with SegmentCache(cache_path) as cache:
        return cache._db.query("SELECT count(*) FROM segments")[0][0]


@pytest.mark.slow  # real processes: a few seconds each to start
def test_three_translate_runs_sharing_a_cache_pay_once(tmp_path):
    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en"))
    shared = tmp_path / "shared.sqlite"
    runs = [tmp_path / f"run{i}" for i in range(3)]
    with SlowLibre(delay=0.05) as server:
        _together(server, [_libre(server, corpus, run, shared) for run in runs], shared)
        together = server.count()
    # One run sends one request per segment (LibreTranslate takes one text a request): the
    # three sent each segment once between them, the others waiting for its answer.
    assert together == _segments(shared) == 15
    outputs = [(run / "it.jsonl").read_bytes() for run in runs]
    assert len(outputs[0].splitlines()) == len(corpus_rows("en"))
    assert all(json.loads(line)["target_response"] for line in outputs[0].splitlines())
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]


BUILD = """name: mt
source: {{name: mt, path: {corpus}}}
targets:
  it:
    translate: {{backend: deep-translator, provider: libre, base_url: "{url}",
                 cache: {cache}, concurrency: 2}}
card: {{pretty_name: MT, license: cc-by-4.0}}
"""


@pytest.mark.slow  # real processes: a few seconds each to start
def test_two_builds_with_a_translated_target_sharing_a_cache_pay_once(tmp_path):
    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en"))
    recipe = tmp_path / "mt.yaml"
    with SlowLibre(delay=0.05) as server:
        shared = tmp_path / "shared.sqlite"
        recipe.write_text(BUILD.format(corpus=corpus, url=server.url, cache=shared), "utf-8")
        outs = [tmp_path / f"out{i}" for i in range(2)]  # three cost more and show no more
        _together(server, [["build", recipe, "--out", out, "--quiet"] for out in outs], shared)
        together = server.count()
    assert together == _segments(shared) == 15  # as for `translate`: none paid twice
    data = [sorted((out / "mt" / "data").rglob("*.parquet")) for out in outs]
    assert data[0]
    for files in data[1:]:
        assert [f.relative_to(f.parents[2]) for f in files] == [
            f.relative_to(f.parents[2]) for f in data[0]
        ]
        for a, b in zip(files, data[0], strict=True):
            assert a.read_bytes() == b.read_bytes()


class GatedJudge(ChatServer):
    """A judge that answers every comparison `[[A]]`, once `gate` is set."""

    def __init__(self) -> None:
        super().__init__(translate=lambda text: "[[A]]")
        self.gate = threading.Event()

    def handle(self, path, headers, raw):
        self.gate.wait(60)
        return super().handle(path, headers, raw)


@pytest.mark.slow  # real processes: a few seconds each to start
def test_two_judges_sharing_a_cache_pay_once(tmp_path):
    ids = [f"q{i}" for i in range(6)]
    q = write_jsonl(tmp_path / "q.jsonl", [{"id": i, "instruction": f"Question {i}"} for i in ids])
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": i, "output": f"sys-{i}"} for i in ids])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": i, "output": f"base-{i}"} for i in ids])
    shared = tmp_path / "judgments.sqlite"
    outs = [tmp_path / f"judged{i}" for i in range(2)]
    with GatedJudge() as server:
        judge = ["judge", "--questions", q, "--answers", a, "--baseline", b, "--judge-model", "j"]
        judge += ["--base-url", f"{server.url}/v1", "--cache", shared, "--concurrency", "2"]
        commands = [[*judge, "--out", out] for out in outs]
        procs = _start(commands, {"OPENAI_API_KEY": "sk-test"})
        _when_open(procs, shared)
        server.gate.set()
        _finish(procs)
    assert len(server.requests) == 2 * len(ids)  # both orders of each item, asked once
    summaries = [(out / "summary.json").read_text("utf-8") for out in outs]
    assert summaries[0] == summaries[1]


# -- claims, with an injected clock ----------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _cache(path: Path, clock: Clock, **kw) -> SegmentCache:
    return SegmentCache(path, ClaimSettings(clock=clock, sleep=clock.sleep, **kw))


def _answer(cache: SegmentCache, units: dict[str, str]) -> None:
    for key, text in units.items():
        cache.put(Segment(key, "b", "m", "en", "it", "1", text, f"[it] {text}"))


UNITS = {"k1": "one", "k2": "two", "k3": "three"}


def test_a_live_claim_is_waited_for_and_its_answers_used(tmp_path):
    clock = Clock()
    path = tmp_path / "c.sqlite"
    with _cache(path, clock, host="a", pid=1) as a, _cache(path, clock, host="b", pid=2) as b:
        claim = a.claims.take({"k1": "one", "k2": "two"})
        sent: list[dict] = []

        def a_answers_while_b_waits(seconds: float) -> None:
            clock.sleep(seconds)
            with claim:  # a answers what it claimed, then releases
                _answer(a, claim.mine)

        b.claims.sleep = a_answers_while_b_waits
        b.claims.settle(UNITS, sent.append)
    assert claim.mine == {"k1": "one", "k2": "two"}
    assert sent == [{"k3": "three"}]  # b paid only for what nobody else was translating


def test_an_expired_claim_is_taken_over(tmp_path):
    clock = Clock()
    path = tmp_path / "c.sqlite"
    with (
        _cache(path, clock, host="gone", pid=1, ttl=60) as dead,
        _cache(path, clock, host="here", pid=2, ttl=60, say=(said := []).append) as alive,
    ):
        dead.claims.take(UNITS)  # and never renews it: its host went away
        held = alive.claims.take(UNITS)
        assert held.held == UNITS and not held.mine
        sent: list[dict] = []
        alive.claims.settle(UNITS, sent.append)  # polls, with the clock moving on
    assert sent == [UNITS]
    assert 60 <= clock.now - 1000.0 < 62  # taken over once the claim lapsed, not later
    assert said == ["waiting for 3 answers that another process sharing the cache is asking for"]


def test_a_dead_owner_s_claims_are_taken_over_at_once(tmp_path):
    path = tmp_path / "c.sqlite"
    code = (
        "import sys, time; from plugdata.translate.cache import SegmentCache; "
        "c = SegmentCache(sys.argv[1]); "
        f"c.claims.take({UNITS!r}); print('claimed', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True, env=_env()
    )
    try:
        assert proc.stdout.readline().strip() == "claimed"
        clock = Clock()
        with _cache(path, clock) as cache:
            assert cache.claims.take(UNITS).held == UNITS  # its owner is alive: wait
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            sent: list[dict] = []
            cache.claims.settle(UNITS, sent.append)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sent == [UNITS]
    assert clock.now == 1000.0  # no wait for the claim to lapse


def test_a_failed_send_releases_its_claims_for_another_process(tmp_path):
    clock = Clock()
    path = tmp_path / "c.sqlite"
    with _cache(path, clock, host="a", pid=1) as a, _cache(path, clock, host="b", pid=2) as b:

        def fails(units: dict[str, str]) -> None:
            raise RuntimeError("the service broke")

        with pytest.raises(RuntimeError):
            a.claims.settle(UNITS, fails)
        # Failures are never cached and never held: b claims all of it, without waiting.
        assert b.claims.take(UNITS).mine == UNITS
    assert clock.now == 1000.0


def test_a_claim_is_renewed_while_its_owner_sends(tmp_path):
    clock = Clock()
    path = tmp_path / "c.sqlite"
    with (
        _cache(path, clock, host="a", pid=1, ttl=0.06) as a,
        _cache(path, clock, host="b", pid=2, ttl=0.06) as b,
    ):
        with a.claims.take(UNITS):
            clock.now += 0.1  # past the claim's life: only a renewal keeps it
            time.sleep(0.2)  # the owner's renewal runs every ttl/3 of real time
            assert b.claims.take(UNITS).held == UNITS
        assert b.claims.take(UNITS).mine == UNITS  # released when the sending ended


def test_answered_units_are_neither_claimed_nor_waited_for(tmp_path):
    clock = Clock()
    with _cache(tmp_path / "c.sqlite", clock) as cache:
        _answer(cache, {"k1": "one"})
        claim = cache.claims.take(UNITS)
    assert claim.answered == 1 and set(claim.mine) == {"k2", "k3"} and not claim.held


def test_lapsed_claims_a_killed_process_left_are_swept(tmp_path):
    clock = Clock()
    path = tmp_path / "c.sqlite"
    with _cache(path, clock, host="gone", pid=1) as dead, _cache(path, clock, host="b") as b:
        dead.claims.take(UNITS)
        _answer(dead, UNITS)  # answered, then killed before it released its claims
        clock.now += 61
        assert b.claims.take({"k4": "four"}).mine == {"k4": "four"}
        assert b._db.query("SELECT key FROM claims") == [("k4",)]


class Scoring:
    """A paid alignment scorer (as the `llm` one is): every pair it is asked to score counts."""

    fingerprint = "test-scorer/1"

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def score(self, pairs, source, lang):
        self.asked += pairs
        return [0.9] * len(pairs)


def test_alignment_scores_another_process_is_making_are_waited_for(tmp_path):
    clock, path, scorer, got = Clock(), tmp_path / "a.sqlite", Scoring(), []
    pairs = [("one", "uno"), ("two", "due"), ("three", "tre")]
    keys = [digest(Scoring.fingerprint, "en", "it", *pair) for pair in pairs]
    a = AlignmentCache(path, ClaimSettings(host="a", clock=clock, sleep=clock.sleep))

    def a_scores(mine):  # while "a" scores the first two, "b" needs all three
        answer = lambda seconds: a.put_scores(dict.fromkeys(mine, 0.5))  # noqa: E731
        b = AlignmentCache(path, ClaimSettings(host="b", clock=clock, sleep=answer))
        got.extend(cached_scores(scorer, b, pairs, "en", "it"))
        b.close()

    a.settle(dict(zip(keys[:2], pairs[:2], strict=True)), a_scores)
    a.close()
    assert scorer.asked == [pairs[2]]  # "b" paid only for the pair nobody was scoring
    assert got == [0.5, 0.5, 0.9]
