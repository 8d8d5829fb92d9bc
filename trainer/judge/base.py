"""What a judge backend is: the requests it is asked (each keyed by everything that determines
its answer), the counters it keeps, and the `Judge` protocol the run calls. The backends
(`backends`, the API judge; `local`, the in-process one), the tasks and the scorer's LLM extractor
all build on these, and this module imports none of them."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from plugdata.remote.calls import Price


@dataclass
class Request:
    item: str
    # Which judgment of the item this is: "AB" (the system is A) or "BA" for the pairwise
    # judge; each task names its own.
    kind: str
    messages: list[dict]
    key: str
    # Sent besides the backend's decoding parameters (the paper's `top_p` 0, for one); part of
    # `key`.
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def request_key(*parts: str) -> str:
    """A judgment's cache key: the hash of every part that determines it."""
    return sha("\x1f".join(parts))


@dataclass
class Counters:
    requests: int = 0
    retries: int = 0
    cached: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, requests: int = 0, retries: int = 0) -> None:
        """Count from any thread."""
        with self.lock:
            self.requests += requests
            self.retries += retries


# record(request, raw answer, None) or record(request, None, error reason), from any thread.
Record = Callable[[Request, str | None, str | None], None]


class Judge(Protocol):
    """What the run needs of a judge backend; `backends.JUDGES` names them for
    `--judge-backend`."""

    price: Price  # what a judgment costs; known=False when no price is known

    def decode_params(self) -> dict[str, Any]:
        """How the judge decodes; part of every judgment's cache key."""
        ...

    def judge_all(
        self,
        requests: list[Request],
        record: Record,
        counters: Counters,
        progress: Callable[[int], object],
    ) -> None:
        """Judge every request, giving each answer or error to `record` as it comes and the
        number finished to `progress`; raise when the run must stop."""
        ...
