"""The Ray executor's `Sender`: the units a cache lacks, sent by Ray actors.

Everything else of a translation (reading, protecting, segmenting, the cache look-up, assembling
and checking rows, writing) stays in the driver, as with the local executor, so both write the
same bytes. What changes is who sends:

- API backends: `concurrency` requests in flight across the whole cluster, as on one machine,
  spread over up to one actor per CPU of the cluster (holding no CPU: they wait on the
  network, and a build's checks run beside them). Rate limits and the `--max-cost` budget
  are one actor each (`RateLimiter`, `Budget`, started only when a limit or a cap is set) that
  every sending actor books from, so the cluster keeps the limits and the cap of one process.
  Each actor retries as the local executor's threads do and has its backend's failure monitor.
- GPU backends (seq2seq): one actor per GPU of the cluster (`num_gpus=1`), each its own model;
  on a cluster without GPUs, one actor on the CPU (`num_gpus=0`), so a laptop runs it too.

The cache: actors return every answer to the driver, which commits it to the one segment cache
as it arrives (no shared filesystem between machines is needed, and SQLite is written by one
process). An actor that dies loses only the units it had in flight; the run stops with one
line, and a rerun sends only what the cache lacks.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from plugdata.errors import PlugdataError
from plugdata.remote.calls import Budget
from plugdata.remote.retrying import FailureMonitor
from plugdata.translate.backends import make_translator
from plugdata.translate.backends.base import Translator
from plugdata.translate.cache import Segment
from plugdata.translate.engine import Sender
from plugdata.translate.runner import RateLimiter, Runner, RunStats


class WorkerLost(PlugdataError):
    """A Ray worker died mid-run: what it had in flight is lost, everything else is cached."""


class RaySender(Sender):
    """Starts or joins Ray when there is first something to send (a dry run, or a run the cache
    answers, never does); the actors live until `close()`, across the strategies and fallbacks
    of one translation."""

    def __init__(self, address: str | None, concurrency: int):
        super().__init__(concurrency)
        self.address = address
        self.name = f"plugdata-translate-{uuid.uuid4().hex[:8]}"
        self._groups: dict[int, _Group] = {}  # id of a translator -> its actors
        self._budget = None  # the job's one Budget actor, when there is a cap to keep

    def __call__(self, runner: Runner, units: dict[str, str], progress: Any = None) -> None:
        if not units:
            return
        runner.translator.check_setup()  # a missing key stops here, before Ray starts
        from plugdata.pipeline.executor.ray_cluster import connect

        connect(self.address)
        import ray

        if self._budget is None and runner.budget.cap is not None:
            keeper = ray.remote(num_cpus=0)(_BudgetKeeper)
            self._budget = keeper.remote(runner.budget.cap, runner.budget.spent)
        t = runner.translator
        if id(t) not in self._groups:
            name = f"{self.name}-{len(self._groups)}"
            self._groups[id(t)] = _Group.start(name, t, self.concurrency, self._budget)
        try:
            self._groups[id(t)].send(runner, list(units.items()), progress)
        finally:
            if self._budget is not None:  # what the whole cluster spent and skipped
                runner.budget.spent, runner.budget.held, runner.budget.skipped = ray.get(
                    self._budget.state.remote()
                )
        runner.check_budget()

    def close(self) -> None:
        """Stop the translation's actors (a cluster outlives it; its actors must not)."""
        if not self._groups and self._budget is None:
            return
        import ray

        for group in self._groups.values():
            for actor in group.actors:
                ray.kill(actor)
            if group.limiter is not None:
                ray.kill(group.limiter)
        if self._budget is not None:
            ray.kill(self._budget)
        self._groups.clear()
        self._budget = None


@dataclass
class _Answered:
    """What a worker sends back for one chunk of units."""

    segments: list[Segment]
    requests: int = 0
    chars: int = 0
    spent: float = 0.0  # USD
    retries: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    error: PlugdataError | None = None  # what stopped the worker's runner, if anything


@dataclass
class _Group:
    """The actors that send for one backend, and the limiter they share."""

    actors: list
    limiter: Any
    threads: int  # the most requests in flight in one actor: batches per chunk
    proven: bool = False  # a chunk came back without error: the setup works

    @classmethod
    def start(cls, name: str, translator: Translator, concurrency: int, budget) -> _Group:
        import ray

        from plugdata.pipeline.executor.ray_cluster import cluster_resources

        resources = cluster_resources()
        # No CPU is held: a build's chunk actors hold one CPU each of the whole cluster while
        # these live (a build translates a window, checks it, translates the next), and an
        # actor that waits for a CPU the chunk actors hold would wait for ever.
        options: dict[str, Any] = {"num_cpus": 0}
        if translator.uses_gpu:
            gpus = int(resources.get("GPU", 0))
            count, options["num_gpus"] = max(1, gpus), 1 if gpus else 0
            threads = [1] * count
        else:  # `concurrency` requests in flight in all, spread as evenly as they go
            count = max(1, min(concurrency, int(resources.get("CPU", 1))))
            options["scheduling_strategy"] = "SPREAD"  # over the machines, as a CPU each did
            threads = [concurrency // count + (i < concurrency % count) for i in range(count)]
        o = translator.options
        limiter = None
        if o.requests_per_second or o.chars_per_minute:
            pace = ray.remote(num_cpus=0)(RateLimiter).options(name=f"{name}-limiter")
            limiter = pace.remote(o.requests_per_second, o.chars_per_minute)
        spec = (translator.name, translator.options.model_dump(), translator.languages)
        worker = ray.remote(_Worker)
        actors = [
            worker.options(name=f"{name}-worker-{i}", **options).remote(
                spec, threads[i], budget, limiter
            )
            for i in range(count)
        ]
        return cls(actors, limiter, max(threads))

    def send(self, runner: Runner, items: list[tuple[str, str]], progress: Any) -> None:
        """Every unit of `items`, chunk by chunk (one chunk in flight per actor and one queued),
        each answer committed to the driver's cache as its chunk comes back. The first chunk
        goes alone until one has come back (a misconfigured backend fails once); the first
        error stops handing out chunks, and is raised once those out have come back."""
        batch = runner.translator.batch_size
        size = batch * self.threads
        idle = [actor for actor in self.actors for _ in range(2)]
        out: dict[Any, tuple[Any, int]] = {}  # object ref -> (actor, batches)
        error: PlugdataError | None = None
        for start in range(0, len(items), size):
            while out and not error and (not self.proven or not idle):
                error = self._collect(runner, out, idle, progress)
            if error or not idle:
                break
            chunk = items[start : start + size]
            actor = idle.pop(0)
            ref = actor.send.remote(chunk, runner.source, runner.target, str(runner.cache.path))
            out[ref] = (actor, -(-len(chunk) // batch))
        while out:  # the first error is the one to report
            found = self._collect(runner, out, idle, progress)
            error = error or found
        if error:
            raise error

    def _collect(
        self, runner: Runner, out: dict, idle: list, progress: Any
    ) -> PlugdataError | None:
        """Wait for one chunk; keep its answers; return what stopped it, if anything."""
        import ray
        from ray.exceptions import RayActorError

        (ref,), _ = ray.wait(list(out), num_returns=1)
        actor, batches = out.pop(ref)
        try:
            answered: _Answered = ray.get(ref)
        except RayActorError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "died"
            return WorkerLost(
                f"{runner.translator.who}: a Ray worker stopped mid-run ({first[:200]}); its "
                f"units in flight are lost, the other answers are in {runner.cache.path}: run "
                "again to send the rest"
            )
        _keep(runner, answered)
        if progress is not None:
            progress.update(batches)
        idle.append(actor)
        if answered.error is None:
            self.proven = True
        return answered.error


def _keep(runner: Runner, answered: _Answered) -> None:
    """A chunk's answers into the driver's cache, its counts into the run's stats."""
    runner.cache.put_many(answered.segments)
    stats = runner.stats
    stats.requests += answered.requests
    stats.chars_sent += answered.chars
    stats.retries += answered.retries
    stats.budget.spent += answered.spent
    stats.translated += len(answered.segments)
    for segment in answered.segments:  # an earlier strategy's failure no longer counts
        stats.failed.pop(segment[0], None)
    stats.failed.update(answered.failed)


class _Worker:
    """A Ray actor that sends units with its own copy of the backend (its own model, for a GPU
    backend), through the job's shared budget and limiter."""

    def __init__(self, spec: tuple[str, dict, Any], threads: int, budget, limiter):
        name, options, languages = spec
        self.translator = make_translator(name, options, languages=languages)
        self.monitor = FailureMonitor(self.translator.who)  # for the actor's whole life
        self.threads = threads
        # Without a cap there is nothing to share: each worker counts what it spent.
        self.budget = _SharedBudget(budget) if budget is not None else Budget()
        self.limiter = _SharedLimiter(limiter) if limiter is not None else None

    def send(self, items: list, source: str, target: str, cache_path: str) -> _Answered:
        kept = _Kept(cache_path)
        stats = RunStats(budget=self.budget)  # type: ignore[arg-type]
        runner = Runner(
            self.translator,
            kept,  # type: ignore[arg-type]
            (source, target),
            concurrency=self.threads,
            stats=stats,
            monitor=self.monitor,
            limiter=self.limiter,  # the group's one; None when the backend sets no rate
        )
        answered = _Answered(kept.segments)
        spent = self.budget.spent
        try:
            runner.run(dict(items))
        except PlugdataError as exc:  # answers that came before it are still sent back
            answered.error = exc
        answered.requests, answered.chars = stats.requests, stats.chars_sent
        answered.retries, answered.failed = stats.retries, stats.failed
        answered.spent = self.budget.spent - spent
        return answered


class _Kept:
    """A worker runner's cache: the answers, kept to be sent back to the driver."""

    def __init__(self, path: str):
        self.path = path  # the driver's cache, for messages
        self.segments: list[Segment] = []
        self._lock = threading.Lock()

    def put(self, segment: Segment) -> None:
        with self._lock:
            self.segments.append(segment)

    def flush(self) -> None:
        """Nothing to commit: the driver commits the answers it is sent back."""


class _BudgetKeeper(Budget):
    """The job's one `Budget`, as a Ray actor."""

    def __init__(self, cap: float | None, spent: float):
        super().__init__(cap)
        self.spent = spent

    def state(self) -> tuple[float, float, int]:
        return self.spent, self.held, self.skipped


class _SharedBudget:
    """A worker's view of the job's `_BudgetKeeper`. The cap is the keeper's: the driver checks
    it once the workers are done, with the numbers of the whole cluster."""

    cap: float | None = None

    def __init__(self, keeper):
        self.keeper = keeper
        self.spent = 0.0  # by this worker

    def reserve(self, cost: float, units: int = 1) -> bool:
        import ray

        return ray.get(self.keeper.reserve.remote(cost, units))

    def settle(self, cost: float, sent: bool) -> None:
        import ray

        ray.get(self.keeper.settle.remote(cost, sent))
        self.spent += cost if sent else 0.0

    def commit(self, cost: float) -> None:
        self.settle(cost, True)

    def check(self, not_done: str, kept: str) -> None:
        """The driver's to do."""


class _SharedLimiter:
    """A worker's view of the group's `RateLimiter` actor: it books, the worker waits."""

    def __init__(self, limiter):
        self.limiter = limiter

    def acquire(self, chars: int) -> None:
        import ray

        delay = ray.get(self.limiter.reserve.remote(chars))
        if delay > 0:
            time.sleep(delay)
