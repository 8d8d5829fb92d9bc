"""Where a run's parallel work goes.

An `Executor` runs a job over the parts of each chunk on its workers, and sends a translation
backend's requests, `concurrency` of them in flight. Two implement it: `local` (forked processes
and threads of this machine) and `ray` (actors on a Ray cluster, or a local Ray). Stages never
know where they run: the same `ChunkJob` makes the same rows on either (datatrove's executors are
the model). One executor serves a whole run, every language of a build; close it at the end.

`base` declares the executor, `local` and `ray` implement it, `ray_send` sends translations
from Ray actors.
"""

from __future__ import annotations

from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.executor.base import Executor
from plugdata.pipeline.executor.local import LocalExecutor
from plugdata.pipeline.executor.ray import RayExecutor

EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(config: RunConfig) -> Executor:
    """The executor `config.executor` names."""
    return EXECUTORS[config.executor](config)
