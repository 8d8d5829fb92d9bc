"""Sending units to a backend: a worker pool with rate limits, retries that honour Retry-After
(capped, and said aloud when long), a cost cap, every answer committed to the cache the moment
it arrives, and a failure monitor that stops the run when the setup, not a row, is wrong.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from plugdata.retrying import TRANSIENT, Failure, FailureMonitor, wait_before_retry
from plugdata.translate.backends.base import RequestFailed, Translator
from plugdata.translate.cache import SegmentCache, segment_key


class RateLimiter:
    """Requests per second and characters per minute, shared by all worker threads."""

    def __init__(self, requests_per_second: float | None, chars_per_minute: int | None):
        self.interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self.chars_per_second = chars_per_minute / 60.0 if chars_per_minute else None
        self._lock = threading.Lock()
        self._next = 0.0  # earliest start of the next request
        self._char_debt_until = 0.0

    def acquire(self, chars: int) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next, self._char_debt_until)
            self._next = start + self.interval
            if self.chars_per_second:
                self._char_debt_until = start + chars / self.chars_per_second
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)


@dataclass
class RunStats:
    requests: int = 0  # HTTP/model calls that left the process, retries included
    chars_sent: int = 0
    retries: int = 0
    cost: float = 0.0
    translated: int = 0  # units answered in this run
    failed: dict[str, str] = field(default_factory=dict)  # key -> "backend: last error"
    skipped_for_cost: int = 0


Batch = list[tuple[str, str]]  # (cache key, text)


class Runner:
    """Translate units (key -> text) that are not cached yet, with one backend.

    The first request goes alone until one has succeeded (a misconfigured backend then fails
    once, not once per worker); `monitor`, shared by every runner of the same backend in a
    run, decides when failures stop the run. Raising stops the other workers too: they send
    nothing more and cut their waits short.
    """

    def __init__(
        self,
        translator: Translator,
        cache: SegmentCache,
        source: str,
        target: str,
        *,
        workers: int = 4,
        max_cost: float | None = None,
        stats: RunStats | None = None,
        monitor: FailureMonitor | None = None,
        sleep: Callable[[float], object] | None = None,
    ):
        self.translator = translator
        self.cache = cache
        self.source, self.target = source, target
        self.workers = max(1, workers)
        self.max_cost = max_cost
        self.stats = stats or RunStats()
        self.monitor = monitor or FailureMonitor(translator.who)
        self.limiter = RateLimiter(
            translator.options.requests_per_second, translator.options.chars_per_minute
        )
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait  # a stopped run wakes its sleepers
        self._lock = threading.Lock()

    def key(self, text: str) -> str:
        t = self.translator
        return segment_key(t.name, t.model, self.source, self.target, t.version, text)

    def run(self, units: dict[str, str], progress=None) -> None:
        """Translate every unit of `units` (key -> text); answers go to the cache."""
        items = list(units.items())
        if not items:
            return
        self.translator.check_setup()
        size = self.translator.batch_size
        affordable = self._affordable(items[i : i + size] for i in range(0, len(items), size))
        if not self.monitor.proven:
            first = next(affordable, None)
            if first is not None:
                self._send(*first)
                _tick(progress)
        with ThreadPoolExecutor(self.workers) as pool:
            try:
                pending: set = set()
                for batch, chars in affordable:
                    pending.add(pool.submit(self._work, batch, chars))
                    if len(pending) >= self.workers * 2:  # keep memory flat on huge runs
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            future.result()
                            _tick(progress)
                for future in pending:
                    future.result()
                    _tick(progress)
            except BaseException:
                self._stop.set()
                pool.shutdown(cancel_futures=True)
                raise

    def _affordable(self, batches) -> Iterator[tuple[Batch, int]]:
        """Batches with their size in characters, minus those the cost cap leaves out."""
        price = self.translator.price_per_char()
        for batch in batches:
            chars = sum(len(text) for _, text in batch)
            with self._lock:
                if self.max_cost is not None and self.stats.cost + chars * price > self.max_cost:
                    self.stats.skipped_for_cost += len(batch)
                    continue
                self.stats.cost += chars * price  # reserved now, so workers cannot overshoot
            yield batch, chars

    def _work(self, batch: Batch, chars: int) -> None:
        try:
            self._send(batch, chars)
        except BaseException:
            self._stop.set()  # at once: a worker may pick up the next batch before we learn
            raise

    def _send(self, batch: Batch, chars: int) -> None:
        texts = [text for _, text in batch]
        t = self.translator
        attempt = 0
        while not self._stop.is_set():
            self.limiter.acquire(chars)
            try:
                results = t.translate_batch(texts, self.source, self.target)
                if len(results) != len(texts):
                    reason = f"{len(results)} answers for {len(texts)} texts"
                    raise RequestFailed(Failure(reason, TRANSIENT))
            except RequestFailed as exc:
                failure = exc.failure
                self._count(chars, failure.sent)
                if failure.kind == TRANSIENT and attempt < t.options.max_retries:
                    attempt += 1
                    with self._lock:
                        self.stats.retries += 1
                    wait_before_retry(t.who, attempt, failure.retry_after, sleep=self._sleep)
                    continue
                self._fail(batch, failure)
                return
            self._count(chars, sent=True)
            for (key, text), result in zip(batch, results, strict=True):
                self.cache.put(
                    key, t.name, t.model, self.source, self.target, t.version, text, result
                )
            self.monitor.succeeded()
            with self._lock:
                self.stats.translated += len(batch)
                for key, _ in batch:  # an earlier strategy's failure no longer counts
                    self.stats.failed.pop(key, None)
            return

    def _count(self, chars: int, sent: bool) -> None:
        if sent:
            with self._lock:
                self.stats.requests += 1
                self.stats.chars_sent += chars

    def _fail(self, batch: Batch, failure: Failure) -> None:
        with self._lock:
            for key, _ in batch:
                self.stats.failed[key] = f"{self.translator.name}: {failure.reason}"
        self.monitor.failed(failure, key=batch[0][0])


def _tick(progress) -> None:
    if progress is not None:
        progress.update(1)
