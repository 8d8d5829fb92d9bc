"""What a judge task is: the part of a judge run that differs between evaluations. The run
(`run`) owns the backend, the cache, the dry run and the outputs; a task turns its inputs into
judgment requests and the judgments back into a summary. `pairwise` (X-AlpacaEval, two systems,
both orders) and `truthfulqa` (X-TruthfulQA, truthfulness and informativeness) are the two."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from trainer.judge.base import Request
from trainer.summary import Summary


@dataclass
class Judged:
    """What a task makes of the judge's answers."""

    summary: Summary  # summary.json, the task's own kind of it
    judgments: list[dict]  # judgments.jsonl: one row per judgment


class Task(Protocol):
    items: int  # the items judged (for the dry run's plan)

    def requests(self, judge_model: str, params: str) -> list[Request]:
        """Every judgment the task needs, each keyed by everything that determines it
        (`params`: the backend's decoding parameters as canonical JSON)."""
        ...

    def summarise(
        self, requests: list[Request], raw: dict[str, str | None], errors: dict[str, str]
    ) -> Judged:
        """The summary and the judgments, from each request's raw judge output (None: no
        answer) and the failed requests' reasons."""
        ...

    def markdown(self, summary: Summary) -> str:
        """summary.md, also what the command prints."""
        ...

    def chart(self, out: Path, summary: Summary) -> None:
        """Any picture the task draws into OUT."""
        ...

    def warm_up(self) -> None:
        """Prepare what `summarise` and `chart` will need (imports), on a thread of its own
        while the judge answers: time the command would otherwise spend after the last
        answer."""
        ...


def error_reasons(judgments: list[dict]) -> dict[str, int]:
    """How many judgments failed, by reason (`no verdict`, `HTTP 500`, ...)."""
    return dict(Counter(j["error"] for j in judgments if j["error"]))
