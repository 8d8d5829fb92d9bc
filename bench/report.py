"""What every benchmark ends with: one `RESULT {json}` line that `run_all.py` collects into its
table. `headline` is the table's cell, in words; the other keys are the numbers behind it."""

from __future__ import annotations

import json
import os

PREFIX = "RESULT "


def load() -> float:
    """The machine's one-minute load average (what else ran while we measured)."""
    return round(os.getloadavg()[0], 2)


def result(headline: str, **numbers: object) -> None:
    print(PREFIX + json.dumps({"headline": headline, **numbers}, ensure_ascii=False), flush=True)


def parse(output: str) -> dict | None:
    """The last RESULT line of a benchmark's output, or None."""
    for text in reversed(output.splitlines()):
        if text.startswith(PREFIX):
            return json.loads(text[len(PREFIX) :])
    return None
