"""`plugdata report`: the `summary.json` files of judge and score runs gathered into one table
shaped like the paper's main tables (a row per model and method; for each benchmark metric, a
column per language and one for all items), one chart, and the gathered numbers as JSON.

It reads only what the runs wrote, through the contract of `trainer.summary` (each task's typed
record: a number that is not one, or could not be, is refused naming file and field): who
answered (`system`), the task, and each group's metrics. Two runs that report the same metric
for the same system are refused rather than one of them silently winning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel

from plugdata.core.jsonl import write_json
from plugdata.core.options import refuse_overwrite_of
from plugdata.errors import PlugdataError, require
from trainer.options import ReportOptions
from trainer.summary import Summary, Table, read_summary
from trainer.tables import NOT_MEASURED, cell, count, label, one_line


class Cell(NamedTuple):
    """One number of the table: its value and 95% interval, None for a share of no items
    (shown `n/a`, null in JSON), and the N it counts."""

    value: float | None
    ci95: tuple[float, float] | None
    n: int


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
    def block(self) -> str:
        """Which entry of a summary's group holds the number: pairwise shows (W-L)/N under the
        paper's rule, the others a rate of the same name."""
        return "paper" if self.task == "pairwise" else self.key.split(":", 1)[1]

    def value(self, group: BaseModel) -> Cell | None:
        """The number a group of a run's record holds; None where the group does not report
        it."""
        block = getattr(group, self.block, None)
        if block is None:
            return None
        value = block.diff if isinstance(block, Table) else block.rate
        return Cell(value, block.ci95, block.n)


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
    """(model, method) -> metric column key -> group ("all", "zh", ...) -> its cell."""

    cells: dict[tuple[str, str], dict[str, dict[str, Cell]]] = field(default_factory=dict)
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

    def text(self, out: Path) -> str:
        """The command's one line."""
        return f"{count(len(self.cells), 'system')}, {count(len(self.titles), 'metric')} -> {out}"


def gather(runs: Iterable[Path]) -> Results:
    results = Results()
    for run in runs:
        summary = read_summary(run)
        row = (summary.system.generator or run.name, summary.system.method or "-")
        for metric in _metrics_of(summary):
            where = (row, metric.key)
            if where in results.origin:
                raise PlugdataError(
                    f"{run}: {metric.title} of {one_line(row[0])} ({one_line(row[1])}) is "
                    f"also reported by {results.origin[where]}; pass one of them"
                )
            results.origin[where] = run
            results.titles.setdefault(metric.key, metric)
            cells = results.cells.setdefault(row, {}).setdefault(metric.key, {})
            for name, group in summary.groups.items():
                label = name.split("=", 1)[1] if name.startswith("lang=") else name
                if label == "all" or name.startswith("lang="):
                    value = metric.value(group)
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
    items. Values in percent (points of (W-L)/N for pairwise); `-` where no run measured it,
    `n/a` where a run had nothing to count. Every name is data, escaped as a cell."""
    groups = results.groups
    keys = results.keys
    head = ["model", "method"] + [
        f"{results.titles[k].short} {g}" if len(groups) > 1 else results.titles[k].short
        for k in keys
        for g in groups
    ]
    lines = [_row(head), "|" + "---|" * len(head)]
    for (model, method), by_metric in sorted(results.cells.items()):
        cells = [model, method]
        for k in keys:
            for g in groups:
                found = by_metric.get(k, {}).get(g)
                cells.append("-" if found is None else _percent(found.value, results.titles[k]))
        lines.append(_row(cells))
    lines += [
        "",
        "Percent of items. "
        + "; ".join(
            f"{cell(results.titles[k].short)}: {cell(results.titles[k].title)}" for k in keys
        )
        + ". 95% bootstrap intervals are in the .json file beside this one.",
    ]
    return "\n".join(lines)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def _percent(value: float | None, metric: Metric) -> str:
    if value is None:
        return NOT_MEASURED
    return f"{value * 100:+.1f}" if metric.signed else f"{value * 100:.1f}"


def to_json(results: Results) -> dict[str, Any]:
    return {
        "metrics": {k: m.title for k, m in results.titles.items()},
        "rows": [
            {
                "model": model,
                "method": method,
                "results": {
                    k: {
                        g: {
                            "value": c.value,
                            "ci95": None if c.ci95 is None else list(c.ci95),
                            "n": c.n,
                        }
                        for g, c in by_group.items()
                    }
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
    """The chart of `figure`, as a PNG file."""
    import matplotlib.pyplot as plt

    fig = figure(results)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def figure(results: Results):
    """A panel per metric: for each language (and all items) the bars of the systems that
    report it, side by side and centred on the language's label, each with its 95% interval
    (`n/a` written where a share had nothing to count). A system has one colour in every panel,
    named once in the legend above them."""
    require("matplotlib", "judge")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    keys, groups, rows = results.keys, results.groups, sorted(results.cells)
    palette = plt.get_cmap("tab10" if len(rows) <= 10 else "tab20")
    colour = {row: palette(i % palette.N) for i, row in enumerate(rows)}
    fig, axes = plt.subplots(
        len(keys), 1, figsize=(7, 2.6 * len(keys) + 0.3), squeeze=False, layout="constrained"
    )
    for ax, key in zip(axes[:, 0], keys, strict=True):
        # Each language's bars are only those of the systems that report it, so that the bars
        # sit around their label whichever systems are missing.
        here = {g: [row for row in rows if g in results.cells[row].get(key, {})] for g in groups}
        width = 0.8 / max([1, *(len(found) for found in here.values())])
        for row in rows:
            place = {
                g: i + (found.index(row) - (len(found) - 1) / 2) * width
                for i, (g, found) in enumerate(here.items())
                if row in found
            }
            cells = results.cells[row].get(key, {})
            measured = [g for g in place if cells[g].value is not None]
            values = [cells[g].value * 100 for g in measured]
            # Distances to the interval's ends (never negative, as matplotlib requires).
            errors = [
                [
                    max(0.0, v - cells[g].ci95[0] * 100)
                    for g, v in zip(measured, values, strict=True)
                ],
                [
                    max(0.0, cells[g].ci95[1] * 100 - v)
                    for g, v in zip(measured, values, strict=True)
                ],
            ]
            ax.bar(
                [place[g] for g in measured],
                values,
                width,
                yerr=errors,
                capsize=2,
                color=colour[row],
                label=label(f"{row[0]} ({row[1]})"),
            )
            for g in (g for g in place if g not in measured):
                ax.text(place[g], 0, NOT_MEASURED, ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(groups)), [label(g) for g in groups])
        ax.set_xlim(-0.5, max(len(groups), 1) - 0.5)
        ax.set_title(label(results.titles[key].title), fontsize=9)
        ax.axhline(0, color="#555555", linewidth=0.6)
        ax.set_ylabel("%")
    handles = [Patch(color=colour[row], label=label(f"{row[0]} ({row[1]})")) for row in rows]
    fig.legend(handles=handles, loc="outside upper center", fontsize=7, ncol=min(len(rows), 3))
    return fig


def report(options: ReportOptions) -> Results:
    """Write OUT (markdown), OUT with .png (the chart) and .json (the gathered numbers)."""
    refuse_overwrite_of(options)  # as the command does: called from Python too
    results = gather(options.runs)
    out = options.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(results) + "\n", "utf-8")
    write_json(out.with_suffix(".json"), to_json(results))
    chart(results, out.with_suffix(".png"))
    return results
