"""What a judge task is: the part of a judge run that differs between evaluations. The run
(`run`) owns the backend, the cache, the dry run and the outputs; a task turns its inputs into
judgment requests and the judgments back into a summary. `pairwise` (X-AlpacaEval, two systems,
both orders) and `truthfulqa` (X-TruthfulQA, truthfulness and informativeness) are the two."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

from trainer.judge.backends import Request


class Task(Protocol):
    items: int  # the items judged (for the dry run's plan)

    def requests(self, judge_model: str, params: str) -> list[Request]:
        """Every judgment the task needs, each keyed by everything that determines it
        (`params`: the backend's decoding parameters as canonical JSON)."""
        ...

    def summarise(
        self, requests: list[Request], raw: dict[str, str | None], errors: dict[str, str]
    ) -> dict[str, Any]:
        """{"summary": summary.json's content, "judgments": judgments.jsonl's rows}, from each
        request's raw judge output (None: no answer) and the failed requests' reasons."""
        ...

    def markdown(self, summary: dict[str, Any]) -> str:
        """summary.md, also what the command prints."""
        ...

    def chart(self, out: Path, summary: dict[str, Any]) -> None:
        """Any picture the task draws into OUT."""
        ...


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def request_key(*parts: str) -> str:
    """A judgment's cache key: the hash of every part that determines it."""
    return sha("\x1f".join(parts))


def error_reasons(judgments: list[dict]) -> dict[str, int]:
    """How many judgments failed, by reason (`no verdict`, `HTTP 500`, ...)."""
    return dict(Counter(j["error"] for j in judgments if j["error"]))
