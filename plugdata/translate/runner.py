"""Sending units to a backend: a worker pool with rate limits, retries that honour Retry-After,
a cost cap, and every answer committed to the cache the moment it arrives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from plugdata.retrying import backoff
from plugdata.translate.backends.base import PermanentError, TransientError, Translator
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
    requests: int = 0  # HTTP/model calls, retries included
    chars_sent: int = 0
    retries: int = 0
    cost: float = 0.0
    translated: int = 0  # units answered in this run
    failed: dict[str, str] = field(default_factory=dict)  # key -> reason
    skipped_for_cost: int = 0


class Runner:
    """Translate units (key -> text) that are not cached yet, with one backend."""

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
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.translator = translator
        self.cache = cache
        self.source, self.target = source, target
        self.workers = max(1, workers)
        self.max_cost = max_cost
        self.stats = stats or RunStats()
        self.limiter = RateLimiter(
            translator.options.requests_per_second, translator.options.chars_per_minute
        )
        self._sleep = sleep
        self._lock = threading.Lock()

    def key(self, text: str) -> str:
        t = self.translator
        return segment_key(t.name, t.model, self.source, self.target, t.version, text)

    def run(self, units: dict[str, str], progress=None) -> None:
        """Translate every unit of `units` (key -> text); answers go to the cache."""
        batches: list[list[tuple[str, str]]] = []
        items = list(units.items())
        size = self.translator.batch_size
        for i in range(0, len(items), size):
            batches.append(items[i : i + size])
        price = self.translator.price_per_char()
        with ThreadPoolExecutor(self.workers) as pool:
            pending = set()
            for batch in batches:
                chars = sum(len(text) for _, text in batch)
                with self._lock:
                    if (
                        self.max_cost is not None
                        and self.stats.cost + chars * price > self.max_cost
                    ):
                        self.stats.skipped_for_cost += len(batch)
                        continue
                    self.stats.cost += chars * price  # reserved now, so workers cannot overshoot
                pending.add(pool.submit(self._send, batch, chars))
                if len(pending) >= self.workers * 2:  # keep memory flat on huge runs
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                        if progress is not None:
                            progress.update(1)
            for future in pending:
                future.result()
                if progress is not None:
                    progress.update(1)

    def _send(self, batch: list[tuple[str, str]], chars: int) -> None:
        texts = [text for _, text in batch]
        attempt = 0
        while True:
            self.limiter.acquire(chars)
            with self._lock:
                self.stats.requests += 1
                self.stats.chars_sent += chars
            try:
                results = self.translator.translate_batch(texts, self.source, self.target)
                if len(results) != len(texts):
                    raise TransientError(f"{len(results)} answers for {len(texts)} texts")
            except TransientError as exc:
                attempt += 1
                if attempt > self.translator.options.max_retries:
                    self._fail(batch, f"gave up after {attempt} tries: {exc}")
                    return
                with self._lock:
                    self.stats.retries += 1
                self._sleep(backoff(attempt, exc.retry_after))
                continue
            except PermanentError as exc:
                self._fail(batch, str(exc))
                return
            t = self.translator
            for (key, text), result in zip(batch, results, strict=True):
                self.cache.put(
                    key, t.name, t.model, self.source, self.target, t.version, text, result
                )
            with self._lock:
                self.stats.translated += len(batch)
                for key, _ in batch:  # an earlier strategy's failure no longer counts
                    self.stats.failed.pop(key, None)
            return

    def _fail(self, batch: list[tuple[str, str]], reason: str) -> None:
        with self._lock:
            for key, _ in batch:
                self.stats.failed[key] = reason
