"""Sending units to a backend: `concurrency` threads with rate limits, the shared retries of
`plugdata.remote.calls` (Retry-After honoured, capped, and said aloud when long), the run's cost
budget, every answer handed to the cache the moment it arrives (committed in groups, and all of
them when the run ends), and a failure monitor that stops the run when the setup, not a row, is
wrong.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from plugdata.remote.calls import STOPPED, Budget, GaveUp, Retrying
from plugdata.remote.retrying import TRANSIENT, Failure, FailureMonitor
from plugdata.translate.backends.base import RequestFailed, Translator
from plugdata.translate.cache import Segment, SegmentCache, segment_key


class RateLimiter:
    """Requests per second and characters per minute, shared by all sending threads."""

    def __init__(self, requests_per_second: float | None, chars_per_minute: int | None):
        self.interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self.chars_per_second = chars_per_minute / 60.0 if chars_per_minute else None
        self._lock = threading.Lock()
        self._next = 0.0  # earliest start of the next request
        self._char_debt_until = 0.0

    def acquire(self, chars: int) -> None:
        delay = self.reserve(chars)
        if delay > 0:
            time.sleep(delay)

    def reserve(self, chars: int) -> float:
        """Book the next slot for a request of `chars` characters: seconds to wait for it. A
        delay rather than a time, so that a limiter serving other machines (the Ray executor's)
        never compares their clocks with its own."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next, self._char_debt_until)
            self._next = start + self.interval
            if self.chars_per_second:
                self._char_debt_until = start + chars / self.chars_per_second
        return start - time.monotonic()


@dataclass
class RunStats:
    requests: int = 0  # HTTP/model calls that left the process, retries included
    chars_sent: int = 0
    retries: int = 0
    translated: int = 0  # units answered in this run
    failed: dict[str, str] = field(default_factory=dict)  # key -> "backend: last error"
    # The run's one budget: every runner of a run shares these stats, and so what it spent.
    budget: Budget = field(default_factory=Budget)

    @property
    def cost(self) -> float:
        return self.budget.cost


Batch = list[tuple[str, str]]  # (cache key, text)


class Runner:
    """Translate units (key -> text) that are not cached yet, with one backend.

    The first request goes alone until one has succeeded (a misconfigured backend then fails
    once, not once per thread); `monitor`, shared by every runner of the same backend in a
    run, decides when failures stop the run. Raising stops the other threads too: they send
    nothing more and cut their waits short.
    """

    def __init__(
        self,
        translator: Translator,
        cache: SegmentCache,
        direction: tuple[str, str],
        *,
        concurrency: int,
        stats: RunStats | None = None,
        monitor: FailureMonitor | None = None,
        limiter: RateLimiter | None = None,
    ):
        self.translator = translator
        self.cache = cache
        self.source, self.target = direction
        self.concurrency = max(1, concurrency)
        self.stats = stats or RunStats()
        self.budget = self.stats.budget  # its cap: what the whole job may spend
        self.monitor = monitor or FailureMonitor(translator.who)
        # The Ray sending actors pass the one limiter of the whole cluster.
        self.limiter = limiter or RateLimiter(
            translator.options.requests_per_second, translator.options.chars_per_minute
        )
        self._stop = threading.Event()
        self.retrying = Retrying(
            translator.who,
            _failure_of,
            translator.options.max_retries,
            stop=self._stop,  # a stopped run sends nothing more and wakes its sleepers
            monitor=self.monitor,
        )
        self._lock = threading.Lock()

    def key(self, text: str) -> str:
        t = self.translator
        return segment_key(t.name, t.model, self.source, self.target, t.version, text)

    def run(
        self, units: dict[str, str], progress=None, pool: ThreadPoolExecutor | None = None
    ) -> None:
        """Translate every unit of `units` (key -> text); answers go to the cache, and every
        answer received is committed when this returns, fails or is interrupted. `pool`: the
        sending threads to use (a `Sender` keeps them, and their open connections, between
        runs); None: threads of this run's own."""
        items = list(units.items())
        if not items:
            return
        self.translator.check_setup()
        try:
            if pool is None:
                own = ThreadPoolExecutor(self.concurrency)
                try:
                    self._run(items, progress, own)
                finally:  # `_run` waited for what an error must wait for; Ctrl-C waits for none
                    own.shutdown(wait=False, cancel_futures=True)
            else:
                self._run(items, progress, pool)
        except BaseException:
            with contextlib.suppress(Exception):  # the error in flight is the one to report
                self.cache.flush()
            raise
        self.cache.flush()
        self.check_budget()

    def _run(self, items: list[tuple[str, str]], progress, pool: ThreadPoolExecutor) -> None:
        size = self.translator.batch_size
        affordable = self._affordable(items[i : i + size] for i in range(0, len(items), size))
        if not self.monitor.proven:
            first = next(affordable, None)
            if first is not None:
                self._send(*first)
                _tick(progress)
        pending: set = set()
        try:
            for sending in affordable:
                pending.add(pool.submit(self._work, *sending))
                if len(pending) >= self.concurrency * 2:  # keep memory flat on huge runs
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                        _tick(progress)
            while pending:
                future = pending.pop()
                future.result()
                _tick(progress)
        except BaseException as exc:
            self._stop.set()  # the threads in flight send nothing more and cut their waits
            for future in pending:
                future.cancel()
            # Ctrl-C says so now, without waiting out the requests in flight; any other error
            # waits for them, so that their answers reach the cache before it closes.
            if not isinstance(exc, KeyboardInterrupt):
                wait(pending)
            raise

    def check_budget(self) -> None:
        """`BudgetExceeded` when the cost cap left segments unsent."""
        self.budget.check("segments not sent", f"finished segments are in {self.cache.path}")

    def _affordable(self, batches) -> Iterator[tuple[Batch, int, float]]:
        """Batches with their size in characters and their cost, minus those the cost cap
        leaves out; the cost is reserved now, so that threads cannot overshoot together."""
        price = self.translator.price_per_char()
        for batch in batches:
            chars = sum(len(text) for _, text in batch)
            if self.budget.reserve(chars * price, units=len(batch)):
                yield batch, chars, chars * price

    def _work(self, batch: Batch, chars: int, cost: float) -> None:
        try:
            self._send(batch, chars, cost)
        except BaseException:
            self._stop.set()  # at once: another thread may pick up the next batch before we learn
            raise

    def _send(self, batch: Batch, chars: int, cost: float) -> None:
        """Send one batch with retries; its reserved `cost` is spent once a try went out."""
        texts = [text for _, text in batch]
        try:
            results = self.retrying.call(
                lambda: self._translate(texts, chars),
                key=batch[0][0],
                on_sent=lambda: self._count(chars),
                on_retry=self._count_retry,
            )
        except GaveUp as gave_up:
            self.budget.settle(cost, gave_up.sent)
            if gave_up.failure is not STOPPED:
                self._fail(batch, gave_up.failure)
            return
        self.budget.commit(cost)
        t = self.translator
        made = (t.name, t.model, self.source, self.target, t.version)
        for (key, text), result in zip(batch, results, strict=True):
            self.cache.put(Segment(key, *made, text, result))
        with self._lock:
            self.stats.translated += len(batch)
            for key, _ in batch:  # an earlier strategy's failure no longer counts
                self.stats.failed.pop(key, None)

    def _translate(self, texts: list[str], chars: int) -> list[str]:
        """One try: within the rate limits, and an answer for every text."""
        self.limiter.acquire(chars)
        results = self.translator.translate_batch(texts, self.source, self.target)
        if len(results) != len(texts):
            reason = f"{len(results)} answers for {len(texts)} texts"
            raise RequestFailed(Failure(reason, TRANSIENT))
        return results

    def _count(self, chars: int) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.chars_sent += chars

    def _count_retry(self) -> None:
        with self._lock:
            self.stats.retries += 1

    def _fail(self, batch: Batch, failure: Failure) -> None:
        with self._lock:
            for key, _ in batch:
                self.stats.failed[key] = f"{self.translator.name}: {failure.reason}"


def _failure_of(exc: Exception) -> Failure | None:
    """A backend reports its failures as `RequestFailed`; anything else is a bug."""
    return exc.failure if isinstance(exc, RequestFailed) else None


def _tick(progress) -> None:
    if progress is not None:
        progress.update(1)
