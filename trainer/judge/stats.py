"""Aggregating two-order judgments into win/tie/loss, under two rules, with honest statistics.

Each item has two judgments, one per order, each mapped to the system's point of view:
`win`, `loss`, `tie` or `error`. The paper's rule: the same winner twice, or a win plus a tie, is
a win (likewise for losses); opposite winners or two ties are a tie; an error keeps the item in
the denominator as an error. FastChat's strict rule: only agreement counts, any tie or
disagreement is a tie, and items with an error are dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

OUTCOMES = ("win", "tie", "loss", "error")


def paper_rule(first: str, second: str) -> str:
    """
    >>> paper_rule("win", "tie"), paper_rule("win", "loss"), paper_rule("error", "win")
    ('win', 'tie', 'error')
    """
    pair = {first, second}
    if "error" in pair:
        return "error"
    if pair in ({"win"}, {"win", "tie"}):
        return "win"
    if pair in ({"loss"}, {"loss", "tie"}):
        return "loss"
    return "tie"


def strict_rule(first: str, second: str) -> str | None:
    """None: the item is dropped (an error in either order).

    >>> strict_rule("win", "win"), strict_rule("win", "tie"), strict_rule("error", "win")
    ('win', 'tie', None)
    """
    if "error" in (first, second):
        return None
    if first == second and first in ("win", "loss"):
        return first
    return "tie"


def table(outcomes: Iterable[str | None]) -> dict[str, float | None]:
    """W/T/L/E counts, N, and the signed differential (W - L) / N: None where N is 0, for a
    differential of nothing is not 0 (it is shown as n/a).

    >>> table(["win", "tie", None])["diff"], table([None, None])["diff"]
    (0.5, None)
    """
    counts = Counter(o for o in outcomes if o is not None)
    n = sum(counts.values())
    row: dict[str, float | None] = {o: counts.get(o, 0) for o in OUTCOMES}
    row["n"] = n
    row["diff"] = (row["win"] - row["loss"]) / n if n else None
    return row


def bootstrap_mean_ci(
    values: list[float], reps: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile interval of the mean, resampling items with replacement; seeded, so a
    rerun reports the same interval. None for no values: there is no interval, not [0, 0].

    >>> bootstrap_mean_ci([1.0] * 20), bootstrap_mean_ci([])
    ((1.0, 1.0), None)
    """
    import numpy as np

    if not values:
        return None
    score = np.asarray(values, dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(score), size=(reps, len(score)))
    means = np.sort(score[draws].mean(axis=1))
    return (float(means[int(0.025 * reps)]), float(means[int(0.975 * reps) - 1]))


def bootstrap_ci(
    outcomes: list[str], reps: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile interval of (W - L) / N; None for no outcomes."""
    score = [1.0 if o == "win" else -1.0 if o == "loss" else 0.0 for o in outcomes]
    return bootstrap_mean_ci(score, reps, seed)


def rate(flags: list[bool]) -> dict[str, Any]:
    """A share in [0, 1] with its bootstrap 95% interval and N: how every TruthfulQA and SVAMP
    metric is reported. A share of no items has neither (None: `n/a` in tables, null in JSON).

    >>> rate([True, True, False, True])["rate"], rate([])
    (0.75, {'rate': None, 'ci95': None, 'n': 0})
    """
    n = len(flags)
    ci95 = bootstrap_mean_ci([float(f) for f in flags])
    return {
        "rate": sum(flags) / n if n else None,
        "ci95": None if ci95 is None else list(ci95),
        "n": n,
    }


def position_stats(
    pairs: list[tuple[str, str]], first_positions: list[str]
) -> dict[str, float | None]:
    """How often the two orders agree, and how often a decided judgment picks position A;
    None where nothing was measured (no item with two verdicts, no decided judgment), which is
    not the same as 0%.

    >>> position_stats([("win", "error")], ["A", "error"])
    {'position_consistency': None, 'first_position_preference': 1.0}
    """
    clean = [(a, b) for a, b in pairs if "error" not in (a, b)]
    consistent = sum(a == b for a, b in clean)
    decided = [p for p in first_positions if p in ("A", "B")]
    return {
        "position_consistency": consistent / len(clean) if clean else None,
        "first_position_preference": decided.count("A") / len(decided) if decided else None,
    }


def length_correlation(length_diffs: list[int], outcomes: list[str]) -> float | None:
    """Pearson correlation between (system length - baseline length) and the outcome score."""
    pairs = [
        (d, 1 if o == "win" else -1 if o == "loss" else 0)
        for d, o in zip(length_diffs, outcomes, strict=True)
        if o != "error"
    ]
    if len(pairs) < 3:
        return None
    xs, ys = zip(*pairs, strict=True)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / (sxx * syy) ** 0.5
