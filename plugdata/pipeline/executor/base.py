"""What every executor is: a job, the pool that runs it, and the executor itself (see the
package doc)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from plugdata.checks.validate import Validator
    from plugdata.pipeline.config import RunConfig
    from plugdata.translate.engine import Sender


T = TypeVar("T")


class Job(Protocol):
    """Work a pool runs on its workers, a part at a time. Its `validator` holds a loaded
    language detector, which is not copied to the workers: each worker holds its own (a forked
    process inherits it; a Ray actor makes one), and sets it on the job it runs."""

    validator: Validator

    def run(self, *part: Any) -> Any: ...


class Handle(Protocol):
    """A part submitted to a pool: `get()` waits for its result."""

    def get(self) -> Any: ...


class Pool(Protocol):
    """A job's workers. `in_flight`: the chunks to keep submitted to keep every worker busy."""

    in_flight: int

    def submit(self, *part: Any) -> Handle: ...

    def close(self) -> None: ...


class Executor(ABC):
    """See the module doc. `workers`: how many workers run a job's parts at once."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    @property
    @abstractmethod
    def workers(self) -> int: ...

    @abstractmethod
    def runs_here(self, to_check: int) -> bool:
        """Whether a chunk with `to_check` rows to check is done in this process, where
        sending it to a worker would cost more than it saves."""

    @abstractmethod
    def pool(self, job: Job) -> Pool:
        """Workers for `job`, until the pool is closed (the executor may keep its workers
        for the next job)."""

    @abstractmethod
    def sender(self, concurrency: int) -> Sender:
        """What sends a translation's requests, `concurrency` in flight for each backend."""

    def meanwhile(self, make: Callable[[], T]) -> T:
        """`make()`, while the executor starts its workers where that takes long (Ray): the
        first language's reading then overlaps the start. Here: just `make()`."""
        return make()

    def close(self) -> None:  # noqa: B027 - an executor may hold nothing between jobs
        """End the workers the executor keeps between jobs."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
