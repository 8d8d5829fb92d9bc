"""`plugdata report`: the `summary.json` files of judge and score runs gathered into one table
shaped like the paper's main tables (a row per model and method; for each benchmark metric, a
column per language and one for all items), one chart, and the gathered numbers as JSON.

It reads only what the runs wrote, through the contract of `trainer.summary`: who answered
(`system`), the task, and each group's metrics. Two runs that report the same metric for the same
system are refused rather than one of them silently winning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugdata.core.jsonl import write_json
from plugdata.errors import PlugdataError, require
from trainer.options import ReportOptions
from trainer.summary import Rate, Summary, Table, read_block, read_summary, summary_file


@dataclass(frozen=True)
class Metric:
    """A column group of the table: which number of a group of a run's summary it shows (and
    its interval), and how."""

    task: str
    key: str  # column id, e.g. "truthfulqa:both"
    title: str  # the chart's panel title
    short: str  # the table's column heading
    signed: bool = False  # win-minus-loss: shown with a sign

    @property
    def block(self) -> tuple[str, type[Rate] | type[Table]]:
        """Which entry of a summary's group holds the number, and what that entry is: pairwise
        shows (W-L)/N under the paper's rule, the others a rate of the same name."""
        if self.task == "pairwise":
            return "paper", Table
        return self.key.split(":", 1)[1], Rate

    def value(self, where: str, group: dict[str, Any]) -> tuple[float, list[float]] | None:
        """(value, ci95) from a group (`where`: its file and key path, for errors); None where
        the group does not report it."""
        name, kind = self.block
        if group.get(name) is None:
            return None
        block = read_block(f"{where}.{name}", group[name], kind)
        return (block.diff if isinstance(block, Table) else block.rate), list(block.ci95)


METRICS = {
    m.key: m
    for m in (
        Metric("truthfulqa", "truthfulqa:truthful", "X-TruthfulQA: truthful", "TQA true"),
        Metric("truthfulqa", "truthfulqa:informative", "X-TruthfulQA: informative", "TQA info"),
        Metric(
            "truthfulqa",
            "truthfulqa:both",
            "X-TruthfulQA: truthful and informative",
            "TQA both",
        ),
        Metric("svamp", "svamp:accuracy", "X-SVAMP: accuracy", "SVAMP acc"),
    )
}


@dataclass
class Results:
    """(model, method) -> metric column key -> group ("all", "zh", ...) -> (value, ci95)."""

    cells: dict[tuple[str, str], dict[str, dict[str, tuple[float, list[float]]]]] = field(
        default_factory=dict
    )
    titles: dict[str, Metric] = field(default_factory=dict)  # column key -> metric, in order
    origin: dict[tuple, Path] = field(default_factory=dict)  # (system, column) -> run folder

    @property
    def keys(self) -> list[str]:
        """Metric columns in the paper's order: X-AlpacaEval, X-TruthfulQA, X-SVAMP."""
        order = ("pairwise", "truthfulqa", "svamp")
        return sorted(self.titles, key=lambda k: order.index(self.titles[k].task))

    @property
    def groups(self) -> list[str]:
        """Languages in alphabetical order, then "all"."""
        found = {g for by_metric in self.cells.values() for c in by_metric.values() for g in c}
        return sorted(found - {"all"}) + (["all"] if "all" in found else [])


def gather(runs: Iterable[Path]) -> Results:
    results = Results()
    for run in runs:
        summary = read_summary(run)
        path = summary_file(run)
        row = (summary.system.generator or run.name, summary.system.method or "-")
        for metric in _metrics_of(summary):
            where = (row, metric.key)
            if where in results.origin:
                raise PlugdataError(
                    f"{run}: {metric.title} of {row[0]} ({row[1]}) is also reported by "
                    f"{results.origin[where]}; pass one of them"
                )
            results.origin[where] = run
            results.titles.setdefault(metric.key, metric)
            cells = results.cells.setdefault(row, {}).setdefault(metric.key, {})
            for name, group in summary.groups.items():
                label = name.split("=", 1)[1] if name.startswith("lang=") else name
                if label == "all" or name.startswith("lang="):
                    value = metric.value(f"{path}: groups.{name}", group)
                    if value is not None:
                        cells[label] = value
    if not results.cells:
        raise PlugdataError("no results in the given folders")
    return results


def _metrics_of(summary: Summary) -> list[Metric]:
    if summary.task == "pairwise":
        base = summary.baseline
        against = base and ((base.method if base.method != "-" else "") or base.generator)
        against = against or "the baseline"
        key = f"pairwise:{against}"
        title = f"X-AlpacaEval: (W-L)/N against {against}, paper's rule"
        return [Metric("pairwise", key, title, f"AE vs {against}", signed=True)]
    return [m for m in METRICS.values() if m.task == summary.task]


# -- outputs -------------------------------------------------------------------------------------
def markdown(results: Results) -> str:
    """One table: a row per (model, method); per metric, a column per language and one for all
    items. Values in percent (points of (W-L)/N for pairwise)."""
    groups = results.groups
    keys = results.keys
    head = ["model", "method"] + [
        f"{results.titles[k].short} {g}" if len(groups) > 1 else results.titles[k].short
        for k in keys
        for g in groups
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (model, method), by_metric in sorted(results.cells.items()):
        cells = [model, method]
        for k in keys:
            for g in groups:
                value = by_metric.get(k, {}).get(g)
                cells.append("-" if value is None else _percent(value[0], results.titles[k]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Percent of items. "
        + "; ".join(f"{results.titles[k].short}: {results.titles[k].title}" for k in keys)
        + ". 95% bootstrap intervals are in the .json file beside this one.",
    ]
    return "\n".join(lines)


def _percent(value: float, metric: Metric) -> str:
    return f"{value * 100:+.1f}" if metric.signed else f"{value * 100:.1f}"


def to_json(results: Results) -> dict[str, Any]:
    return {
        "metrics": {k: m.title for k, m in results.titles.items()},
        "rows": [
            {
                "model": model,
                "method": method,
                "results": {
                    k: {g: {"value": v, "ci95": ci} for g, (v, ci) in by_group.items()}
                    for k, by_group in by_metric.items()
                },
                "runs": {
                    k: str(results.origin[((model, method), k)].name) for k in sorted(by_metric)
                },
            }
            for (model, method), by_metric in sorted(results.cells.items())
        ],
    }


def chart(results: Results, path: Path) -> None:
    """A panel per metric: for each language (and all items), a bar per system with its 95%
    interval."""
    require("matplotlib", "judge")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys, groups, rows = results.keys, results.groups, sorted(results.cells)
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.6 * len(keys)), squeeze=False)
    width = 0.8 / max(len(rows), 1)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        for r, row in enumerate(rows):
            cells = results.cells[row].get(key, {})
            present = [name for name in groups if name in cells]
            xs = [groups.index(name) + r * width for name in present]
            values = [cells[name][0] * 100 for name in present]
            # Distances to the interval's ends (never negative, as matplotlib requires).
            errors = [
                [max(0.0, v - cells[n][1][0] * 100) for n, v in zip(present, values, strict=True)],
                [max(0.0, cells[n][1][1] * 100 - v) for n, v in zip(present, values, strict=True)],
            ]
            ax.bar(xs, values, width, yerr=errors, capsize=2, label=f"{row[0]} ({row[1]})")
        ax.set_xticks([g + width * (len(rows) - 1) / 2 for g in range(len(groups))], groups)
        ax.set_title(results.titles[key].title, fontsize=9)
        ax.axhline(0, color="#555555", linewidth=0.6)
        ax.set_ylabel("%")
    axes[0, 0].legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.15), ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(options: ReportOptions) -> Results:
    """Write OUT (markdown), OUT with .png (the chart) and .json (the gathered numbers)."""
    results = gather(options.runs)
    out = options.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(results) + "\n", "utf-8")
    write_json(out.with_suffix(".json"), to_json(results))
    chart(results, out.with_suffix(".png"))
    return results
