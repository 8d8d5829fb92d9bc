"""The default executor: a job's parts in forked worker processes of this machine (language ID
and rendering are CPU-bound and hold the GIL, so processes are the only way to use more than
one core), translation requests from threads of this process.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import signal
import threading
from typing import Any

from plugdata.errors import PlugdataError
from plugdata.pipeline.executor.base import Executor, Handle, Job
from plugdata.translate.engine import Sender

# How long the pool's own teardown may take before its workers are killed outright: it joins
# threads that wait on the workers' pipes, for ever where a worker died holding a pipe's lock.
TEARDOWN_SECONDS = 3.0
LOST_TEARDOWN_SECONDS = 0.5
POLL_SECONDS = 0.2  # how often a wait for a part's result looks for a dead worker

# The job of the fork pool that lives now, set in the parent before its workers fork: they
# inherit it (with its validator's loaded model), so only the parts travel to them.
_FORKED: Job | None = None


def _run(*part: Any) -> Any:
    return _FORKED.run(*part)


def _worker_start() -> None:
    # A Ctrl-C reaches the whole process group: the parent decides what it means and ends
    # the workers; a worker that raised KeyboardInterrupt too would print its own traceback
    # and could die mid-message. SIGINT was blocked over the fork (see `ForkPool`), so none
    # is lost or taken before this.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class _Pool(multiprocessing.pool.Pool):
    """The standard pool, but for what wakes its worker handler: a worker's exit or a change
    of the pool, not also a result waiting in the pipe. With the standard set, the handler spins
    for as long as a result waits there (until the result thread has read it whole): megabytes
    of a chunk's tables at a time, a core busy doing nothing. Its wake-up on a result only serves
    workers with a task limit, which this pool does not set."""

    def _get_sentinels(self) -> list:
        return [self._change_notifier._reader]


class ForkPool:
    """`workers` forked processes that inherit `job`: one fork pool at a time per process.

    Workers ignore SIGINT (the parent turns a Ctrl-C into one line and ends them). A worker that
    dies (killed, out of memory) fails the wait for its part with one line instead of leaving it
    waiting for ever, and `close()` ends the workers within seconds whatever state they died in.
    """

    def __init__(self, job: Job, workers: int) -> None:
        global _FORKED
        _FORKED = job
        self.in_flight = workers
        # Blocked, not ignored, over the fork: a Ctrl-C meanwhile reaches this process once
        # the workers exist, and never a worker (each ignores it first thing). The pool's
        # threads inherit the mask, so a worker it replaces later is forked with it too.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._pool = _Pool(
                workers, initializer=_worker_start, context=multiprocessing.get_context("fork")
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self._workers = list(self._pool._pool)

    def submit(self, *part: Any) -> Handle:
        return _ForkHandle(self._pool.apply_async(_run, part), self)

    def lost(self) -> str | None:
        """How a worker of the pool ended, if one did (they live as long as the pool)."""
        for process in self._workers:
            code = process.exitcode
            if code is not None:
                how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                return f"a worker process (pid {process.pid}) ended mid-run ({how})"
        return None

    def close(self) -> None:
        global _FORKED
        _FORKED = None
        pool = self._pool
        ender = threading.Thread(target=pool.terminate, name="plugdata-pool-end", daemon=True)
        ender.start()
        # With a worker dead, the pool's teardown may wait on a lock that worker held.
        ender.join(TEARDOWN_SECONDS if self.lost() is None else LOST_TEARDOWN_SECONDS)
        if ender.is_alive():  # stuck on a lock a dead worker held: its threads stay, blocked
            for process in {*self._workers, *pool._pool}:
                if process.exitcode is None:
                    process.kill()
            for process in {*self._workers, *pool._pool}:
                process.join(TEARDOWN_SECONDS)


class _ForkHandle:
    """A part submitted to a fork pool; `get()` fails with one line if a worker dies."""

    def __init__(self, result: multiprocessing.pool.AsyncResult, pool: ForkPool) -> None:
        self._result, self._pool = result, pool

    def get(self) -> Any:
        while not self._result.ready():
            self._result.wait(POLL_SECONDS)
            lost = self._pool.lost()
            if lost is not None and not self._result.ready():
                # The pool would replace the worker, but the part it held is gone: nothing
                # of the run is written yet (a folder is replaced in one step at the end).
                raise PlugdataError(f"{lost}; nothing was written: run again")
        return self._result.get()


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
