"""The default executor: a job's parts in forked worker processes of this machine (language ID
and rendering are CPU-bound and hold the GIL, so processes are the only way to use more than
one core), translation requests from threads of this process.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

from plugdata.pipeline.executor.base import Executor, Handle, Job
from plugdata.translate.engine import Sender

# The job of the fork pool that lives now, set in the parent before its workers fork: they
# inherit it (with its validator's loaded model), so only the parts travel to them.
_FORKED: Job | None = None


def _run(*part: Any) -> Any:
    return _FORKED.run(*part)


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class ForkPool:
    """`workers` forked processes that inherit `job`: one fork pool at a time per process."""

    def __init__(self, job: Job, workers: int) -> None:
        global _FORKED
        _FORKED = job
        self.in_flight = workers
        self._pool = multiprocessing.get_context("fork").Pool(workers)

    def submit(self, *part: Any) -> Handle:
        return self._pool.apply_async(_run, part)

    def close(self) -> None:
        global _FORKED
        self._pool.terminate()
        self._pool.join()
        _FORKED = None


class LocalExecutor(Executor):
    @property
    def workers(self) -> int:
        return self.config.workers or default_workers()

    def runs_here(self, to_check: int) -> bool:
        return self.workers <= 1 or to_check < self.config.inline_rows or not can_fork()

    def pool(self, job: Job) -> ForkPool:
        return ForkPool(job, self.workers)

    def sender(self, concurrency: int) -> Sender:
        return Sender(concurrency)
