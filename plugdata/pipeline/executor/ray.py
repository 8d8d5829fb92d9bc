"""The Ray executor, for work past one machine: a job's parts as tasks of Ray actors, and the
translations sent by `ray_send`'s actors. Ray is imported only inside the functions that use it:
`import plugdata` stays light.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from plugdata.checks.validate import ValidationSettings, Validator
from plugdata.core.languages import LanguageTable
from plugdata.errors import PlugdataError
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.executor.base import Executor, Job, T
from plugdata.pipeline.executor.ray_cluster import cluster_resources, connect
from plugdata.pipeline.executor.ray_send import RaySender
from plugdata.translate.engine import Sender


# -- a job's parts on Ray actors ------------------------------------------------------------------
class _Worker:
    """A Ray actor with its own validator: the detector loads once per actor, not per task."""

    def __init__(self, settings: ValidationSettings, languages: LanguageTable, cache: Path | None):
        self.validator = Validator(settings, languages=languages, alignment_cache=cache)
        # As in a forked worker (which inherits it from `ChunkRunner`): a task's millions of
        # short-lived objects are freed by reference counting, and the collector's passes
        # over them, and over the loaded models, made a task 2.5 times slower.
        gc.disable()
        gc.freeze()

    def run(self, job: Job, *part: Any) -> Any:
        job.validator = self.validator  # a job travels without one (`ChunkJob.__getstate__`)
        return job.run(*part)


class RayExecutor(Executor):
    """Jobs' parts as tasks of actors, one per CPU of the cluster (at most `--workers`), each
    with its own validator, so the results are those of the local executor; translations sent
    by `RaySender`'s actors. Ray is joined, or started, when there is first work for it: a
    dry run, or a run the cache answers, never starts it. The actors serve every job of the run
    (each language of a build) until `close()`."""

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        self._actors: list = []
        self._settings: tuple | None = None  # the validator the actors were made with

    @property
    def workers(self) -> int:
        if self._actors:
            return len(self._actors)
        return self.config.workers or 1

    def runs_here(self, to_check: int) -> bool:
        return to_check == 0

    def meanwhile(self, make: Callable[[], T]) -> T:
        """`make()` (reading a corpus, say) on a thread while Ray starts in this one: starting a
        local Ray is seconds of waiting on the processes it spawns (it cannot start from another
        thread). Whatever happens, `make`'s result or error is met here, and a result made for
        a run that then fails is closed."""
        if self._actors:
            return make()
        with ThreadPoolExecutor(1, thread_name_prefix="plugdata-read") as reader:
            reading = reader.submit(make)
            try:
                connect(self.config.ray_address)
            except BaseException:
                if reading.exception() is None:  # waits for it: nothing outlives the failure
                    getattr(reading.result(), "close", lambda: None)()
                raise
            return reading.result()

    def pool(self, job: Job) -> _RayPool:
        settings = job.validator.spec()
        if not self._actors:
            connect(self.config.ray_address)
            import ray

            cpus = max(1, int(cluster_resources().get("CPU", 1)))
            size = min(self.config.workers, cpus) if self.config.workers else cpus
            worker = ray.remote(num_cpus=1)(_Worker)
            self._actors = [worker.remote(*settings) for _ in range(size)]
            self._settings = settings
        elif settings != self._settings:
            raise PlugdataError("one Ray executor serves one validator's jobs; start another")
        config = self.config
        # One chunk more in flight than it takes to give every actor a task.
        in_flight = 1 + -(-len(self._actors) * config.task_rows // config.chunk_rows)
        return _RayPool(self._actors, job, in_flight)

    def sender(self, concurrency: int) -> Sender:
        return RaySender(self.config.ray_address, concurrency)

    def close(self) -> None:
        if not self._actors:
            return
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []


class _RayPool:
    """A job on the executor's actors, its parts handed out in turn. The job is put into Ray's
    object store once, not with every task."""

    def __init__(self, actors: list, job: Job, in_flight: int) -> None:
        import ray

        self.in_flight = in_flight
        self._actors = actors
        self._job = ray.put(job)
        self._next = 0

    def submit(self, *part: Any) -> _Pending:
        actor = self._actors[self._next % len(self._actors)]
        self._next += 1
        return _Pending(actor.run.remote(self._job, *part))

    def close(self) -> None:
        self._job = None  # the actors stay: the executor's, for the next job


class _Pending:
    """A task's result, with the `get()` of a fork pool's result."""

    def __init__(self, ref):
        self.ref = ref

    def get(self):
        import ray
        from ray.exceptions import RayActorError

        try:
            return ray.get(self.ref)
        except RayActorError as exc:
            # Nothing of the run is written yet (a folder is replaced in one step, a translate
            # run's outputs are moved into place at the end): a rerun starts again, its
            # translations from the cache.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "died"
            raise PlugdataError(
                f"--executor ray: a Ray worker processing rows stopped mid-run ({first[:200]});"
                " nothing was written: run again"
            ) from None
