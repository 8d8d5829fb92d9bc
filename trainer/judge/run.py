"""`plugdata judge`: judge answers with an LLM, for one task, and report.

Top to bottom: the task reads its questions and answers and makes its judgment requests
(`pairwise`: a system against a baseline, both orders; `truthfulqa`: truthfulness and
informativeness against reference answers) -> the cache first, then the judge model for the rest
(`backends`: through an OpenAI-compatible API with bounded concurrency, retries that honour
Retry-After, timeouts and a cost cap, or in this process with transformers, see `local`) -> the
task's summary, written as judgments.jsonl, summary.json (`trainer.summary`), summary.md and
the task's chart.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugdata.core.claims import CLAIMS_SCHEMA, Claims, ClaimSettings
from plugdata.core.jsonl import write_json_lines
from plugdata.core.options import refuse_overwrite_of
from plugdata.core.store import GroupedInserts, Store, cache_dir
from plugdata.remote.calls import CHARS_PER_TOKEN, Price
from trainer.judge.aspects import parse_aspect
from trainer.judge.backends import EXPECTED_OUTPUT_TOKENS, JUDGES, ApiJudge, Usable
from trainer.judge.base import Counters, Judge, Request
from trainer.judge.pairwise import PairwiseTask
from trainer.judge.task import Task
from trainer.judge.truthfulqa import TruthfulQATask
from trainer.judge.verdicts import parse_verdict
from trainer.options import JudgeModelOptions, JudgeOptions
from trainer.summary import Summary, write_summary
from trainer.tables import count

__all__ = ["JudgeOptions", "JudgeReport", "judge"]

# The tasks by `--task` name.
TASKS: dict[str, Callable[[JudgeOptions], Task]] = {
    "pairwise": PairwiseTask,
    "truthfulqa": TruthfulQATask,
}


def verdict_check(options: JudgeOptions) -> Usable:
    """The task's test of an answer: one without a verdict is a failed request, counted by the
    failure monitor (a judge that never gives one stops after a few, not after all are paid)
    and never cached."""
    rule = options.verdict_rule
    if options.task == "truthfulqa":
        return lambda r, text: (
            None if parse_aspect(text, r.kind, rule).label != "error" else ("no verdict")
        )
    return lambda r, text: None if parse_verdict(text, rule).winner != "error" else "no verdict"


class JudgmentCache:
    """SQLite (WAL): judgment key -> raw judge output. Only successful answers are stored,
    committed in groups as they arrive (`plugdata.core.store.GroupedInserts`): the rest before
    a claim is taken or released, and when the file is closed."""

    def __init__(self, path: Path, claims: ClaimSettings | None = None):
        self._db = Store(
            path,
            "CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, raw TEXT)",
            *CLAIMS_SCHEMA,
        )
        self._lock = threading.Lock()
        self._answers = GroupedInserts(
            self._db, self._lock, "INSERT OR REPLACE INTO judgments VALUES (?, ?)"
        )
        # Judges sharing the file ask for each judgment once (`claims`: for tests).
        self.claims = Claims(self._db, self._lock, "judgments", claims, self._answers)

    def get(self, key: str) -> str | None:
        with self._lock:
            self._answers.commit_held()  # this process reads what it put
            rows = self._db.query("SELECT raw FROM judgments WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def put(self, key: str, raw: str) -> None:
        self._answers.add((key, raw))

    def flush(self) -> None:
        """Commit every answer put so far."""
        self._answers.commit()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()


def default_cache_path() -> Path:
    """judgments.sqlite in `plugdata.core.store.cache_dir()` ($PLUGDATA_CACHE_DIR, else
    $XDG_CACHE_HOME/plugdata, else ~/.cache/plugdata)."""
    return cache_dir() / "judgments.sqlite"


def judge(options: JudgeOptions) -> JudgeReport:
    # As the command does when it parses them: options built in Python are checked too.
    refuse_overwrite_of(options)
    backend = JUDGES[options.judge_backend](options)
    if isinstance(backend, ApiJudge):
        backend.usable = verdict_check(options)
    task = TASKS[options.task](options)
    # Beside the translation cache, not in OUT: the same judgments asked for into another folder
    # cost nothing again.
    cache = JudgmentCache(options.cache or default_cache_path())
    counters = Counters()
    try:
        params = json.dumps(backend.decode_params(), sort_keys=True)
        requests = task.requests(options.judge_model, params)
        raw: dict[str, str | None] = {r.key: cache.get(r.key) for r in requests}
        to_send = [r for r in requests if raw[r.key] is None]
        counters.cached = len(requests) - len(to_send)
        if options.dry_run:
            return _dry_run(options, backend.price, task.items, requests, to_send, counters)
        # Once the first answer is in (the SDK imported, the judge working), while the others
        # are awaited; a run from the cache has no wait to fill.
        warming = Background(task.warm_up)
        errors = ask_all(options, backend, cache, to_send, counters, raw, warming.start)
        result = task.summarise(requests, raw, errors)
    finally:
        cache.close()
    text = task.markdown(result.summary)
    write_json_lines(options.out / "judgments.jsonl", result.judgments)
    write_summary(options.out, result.summary)
    (options.out / "summary.md").write_text(text + "\n", "utf-8")
    warming.join()  # its imports finished, not raced by the chart's own
    task.chart(options.out, result.summary)
    return JudgeReport(options.out, result.summary, counters, table=text)


class Background:
    """`work` on a daemon thread, started once by the first `start()`: work that would
    otherwise wait for the judge's last answer, done while its answers are awaited (threads that
    mostly wait). A failure is left to the code that needs what `work` prepares: it meets the
    failure again, in the main thread, and reports it as the command reports any."""

    def __init__(self, work: Callable[[], object]):
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._started = False

    def start(self, *_: object) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def join(self) -> None:
        if self._started:
            self._thread.join()

    @staticmethod
    def _run(work: Callable[[], object]) -> None:
        with contextlib.suppress(Exception):
            work()


@dataclass
class JudgeReport:
    out: Path
    summary: Summary | None  # None for a dry run
    counters: Counters
    estimate: dict[str, Any] = field(default_factory=dict)  # set by a dry run
    table: str = ""  # the task's summary.md

    def text(self) -> str:
        if self.summary is None:
            return plan_text(self.estimate, "judgment", self.estimate["model"])
        c = self.counters
        return self.table + (
            f"\n\n{count(c.requests, 'request')} ({count(c.retries, 'retry', 'retries')}, "
            f"{count(c.cached, 'judgment')} from the cache) -> {self.out}"
        )


def _dry_run(
    options: JudgeOptions,
    price: Price,
    items: int,
    requests: list[Request],
    to_send: list[Request],
    counters: Counters,
) -> JudgeReport:
    """Tokens and cost of the judgments not in the cache; nothing is sent."""
    estimate = {
        "items": items,
        "model": options.judge_model,
        **estimate_cost(price, requests, to_send, EXPECTED_OUTPUT_TOKENS),
    }
    return JudgeReport(options.out, None, counters, estimate)


def estimate_cost(
    price: Price, requests: list[Request], to_send: list[Request], output_tokens: int
) -> dict[str, Any]:
    """Requests, cached, to send, tokens and cost of those not in the cache: every dry run's
    plan (the judge's, the scorer's LLM extractor's)."""
    chars = sum(r.chars for r in to_send)
    return {
        "requests": len(requests),
        "cached": len(requests) - len(to_send),
        "to_send": len(to_send),
        "priced": price.known,
        "tokens": int(chars / CHARS_PER_TOKEN + output_tokens * len(to_send)),
        "cost": sum(price.request(r.chars, output_tokens) for r in to_send),
    }


def plan_text(e: dict[str, Any], unit: str, model: str) -> str:
    """A dry run's plan in one line; `unit`: what a request is called, in the singular."""
    return (
        f"Plan (dry run, nothing sent): {count(e['items'], 'item')}, "
        f"{count(e['requests'], unit)}, {e['cached']} cached, {e['to_send']} to send, about "
        f"{e['tokens']:,} tokens, "
        f"estimated cost {e['cost']:.4f} USD"
        + ("" if e["priced"] else f" (no price known for {model}: give --price-in and --price-out)")
    )


def ask_all(
    options: JudgeModelOptions,
    backend: Judge,
    cache: JudgmentCache,
    to_send: list[Request],
    counters: Counters,
    raw: dict[str, str | None],
    answered: Callable[[int], object] | None = None,
) -> dict[str, str]:
    """Ask the judge for every request in `to_send`: answers go to the cache and `raw`;
    `answered(n)` hears of every n finished; returns the errors by request key."""
    errors: dict[str, str] = {}

    def record(request: Request, answer: str | None, error: str | None) -> None:
        if error is None:
            cache.put(request.key, answer)
            raw[request.key] = answer
        else:
            errors[request.key] = error

    from tqdm.auto import tqdm

    # disable=None: a bar on a terminal, silence in logs and pipes.
    with tqdm(total=len(to_send), desc="judging", unit="req", disable=options.quiet or None) as bar:

        def progress(done: int) -> None:
            bar.update(done)
            if answered is not None:
                answered(done)

        def send(mine: dict[str, Request]) -> None:
            # Its answers are committed before its claims are released (`Claims.pending`).
            backend.judge_all(list(mine.values()), record, counters, progress)

        # Another process sharing the cache may be asking for some of these: wait for its
        # answers rather than pay for them again.
        cache.claims.settle({r.key: r for r in to_send}, send)
        for r in to_send:
            if raw.get(r.key) is None and r.key not in errors:
                raw[r.key] = cache.get(r.key)
                if raw[r.key] is not None:  # answered by another process
                    counters.cached += 1
                    bar.update(1)
    return errors
