"""The pairwise task (X-AlpacaEval): the system's and the baseline's answers to each question,
judged twice with their positions swapped; every judgment mapped to the system's point of view,
the paper's and FastChat's aggregation per language and per source dataset (see `stats`), and a
win/tie/loss chart.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from plugdata.core.redact import public_path
from plugdata.errors import require
from trainer.evalsets import answered_by
from trainer.judge import stats
from trainer.judge.base import Request, request_key, sha
from trainer.judge.inputs import Inputs, load_inputs
from trainer.judge.task import Judged, error_reasons
from trainer.judge.verdicts import load_prompt, parse_verdict
from trainer.options import JudgeOptions
from trainer.summary import PairwiseSummary
from trainer.tables import cell, interval, signed


class PairwiseTask:
    """See `task.Task`."""

    def __init__(self, options: JudgeOptions):
        self.options = options
        self.prompt = load_prompt(options.prompt_file, options.prompt_name)
        self.inputs = load_inputs(options)
        self.items = len(self.inputs.items)

    def requests(self, judge_model: str, params: str) -> list[Request]:
        """Both orders of every item (but those a bad answer decides under --bad-answers
        lose)."""
        inputs, prompt = self.inputs, self.prompt
        out = []
        for i in inputs.items:
            if self.options.bad_answers == "lose" and (
                i in inputs.bad["system"] or i in inputs.bad["baseline"]
            ):
                continue
            q = inputs.questions[i]["instruction"]
            s, b = str(inputs.system[i]["output"]), str(inputs.baseline[i]["output"])
            for order, (a, bb) in (("AB", (s, b)), ("BA", (b, s))):
                key = request_key(judge_model, prompt.digest, params, i, sha(s), sha(b), order)
                messages = [
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.render(q, a, bb)},
                ]
                out.append(Request(i, order, messages, key))
        return out

    def summarise(self, requests, raw, errors) -> Judged:  # see task.Task
        options, inputs = self.options, self.inputs
        judgments, per_item = _judgments(requests, raw, errors, options.verdict_rule)
        rows = [_item_row(inputs, i, per_item[i]) for i in inputs.items]
        bad = inputs.bad
        summary = PairwiseSummary(
            system=answered_by(inputs.system, options.answers),
            baseline=answered_by(inputs.baseline, options.baseline),
            # A local judge (folder or .gguf file) by its name: nothing written names a path.
            judge_model=public_path(options.judge_model),
            judge_backend=options.judge_backend,
            prompt=self.prompt.name,
            prompt_sha=self.prompt.digest,
            verdict_rule=options.verdict_rule,
            items=len(inputs.items),
            unanswered={
                "system": sum(i not in inputs.system for i in inputs.questions),
                "baseline": sum(i not in inputs.baseline for i in inputs.questions),
            },
            answers_without_question={k: len(v) for k, v in inputs.without_question.items()},
            answer_ids_without_question=inputs.without_question,
            bad_answers={k: len(v) for k, v in bad.items()},
            bad_answer_ids={k: sorted(v) for k, v in bad.items()},
            bad_answer_policy=options.bad_answers,
            groups=_groups(rows),
            **stats.position_stats([r["pair"] for r in rows], [j["verdict"] for j in judgments]),
            length_win_correlation=stats.length_correlation(
                [r["length_diff"] for r in rows], [r["paper"] for r in rows]
            ),
            ambiguous_judgments=sum(j["ambiguous"] for j in judgments),
            errors=sum(j["verdict"] == "error" for j in judgments),
            error_reasons=error_reasons(judgments),
        )
        return Judged(summary, judgments)

    def markdown(self, summary: PairwiseSummary) -> str:
        return markdown(summary)

    def chart(self, out: Path, summary: PairwiseSummary) -> None:
        _chart(out / "winrate.png", summary)

    def warm_up(self) -> None:  # see task.Task
        self.inputs.bad  # noqa: B018 (the language checks, which `summarise` needs)
        _chart_modules()


# -- aggregation ---------------------------------------------------------------------------------
def _point_of_view(order: str, winner: str) -> str:
    if winner in ("tie", "error"):
        return winner
    system_letter = "A" if order == "AB" else "B"
    return "win" if winner == system_letter else "loss"


def _judgments(requests, raw, errors, rule: str) -> tuple[list[dict], dict[str, dict[str, str]]]:
    """One record per judgment (raw text, verdict, outcome for the system, error), and each
    item's outcomes by order."""
    judgments = []
    per_item: dict[str, dict[str, str]] = defaultdict(dict)
    for r in requests:
        text = raw.get(r.key)
        verdict = parse_verdict(text, rule) if text is not None else None
        winner = verdict.winner if verdict else "error"
        outcome = _point_of_view(r.kind, winner)
        per_item[r.item][r.kind] = outcome
        judgments.append(
            {
                "id": r.item,
                "order": r.kind,
                "raw": text,
                "verdict": winner,
                "ambiguous": bool(verdict and verdict.ambiguous),
                "outcome": outcome,
                "error": errors.get(r.key) or ("no verdict" if winner == "error" else None),
            }
        )
    return judgments, per_item


def _item_row(inputs: Inputs, item: str, outcomes: dict[str, str]) -> dict[str, Any]:
    """An item's pair of outcomes under both rules; an item never asked about (a bad answer
    under --bad-answers lose) is decided by which side was bad."""
    if not outcomes:
        s_bad, b_bad = item in inputs.bad["system"], item in inputs.bad["baseline"]
        auto = "tie" if s_bad and b_bad else "loss" if s_bad else "win"
        pair = (auto, auto)
    else:
        pair = (outcomes.get("AB", "error"), outcomes.get("BA", "error"))
    question = inputs.questions[item]
    system, baseline = inputs.system[item]["output"], inputs.baseline[item]["output"]
    return {
        "id": item,
        "lang": question.get("lang") or "-",
        "dataset": question.get("dataset") or "-",
        "pair": pair,
        "paper": stats.paper_rule(*pair),
        "strict": stats.strict_rule(*pair),
        "length_diff": len(str(system)) - len(str(baseline)),
    }


def _groups(rows: list[dict]) -> dict[str, dict]:
    """Both rules' tables, overall and per language and source dataset (when any is named)."""

    def block(selected):
        paper = [r["paper"] for r in selected]
        strict = [r["strict"] for r in selected]
        return {
            "paper": {**stats.table(paper), "ci95": stats.bootstrap_ci(paper)},
            "strict": {**stats.table(strict), "ci95": stats.bootstrap_ci([s for s in strict if s])},
        }

    by = {"all": block(rows)}
    for key in ("lang", "dataset"):
        values = sorted({r[key] for r in rows})
        if values == ["-"]:  # not given for any item: the group would repeat "all"
            continue
        for value in values:
            by[f"{key}={value}"] = block([r for r in rows if r[key] == value])
    return by


# -- outputs -------------------------------------------------------------------------------------
def markdown(summary: PairwiseSummary) -> str:
    missing, extra = summary.unanswered, summary.answers_without_question
    lines = [
        f"Judge {summary.judge_model} ({summary.prompt}, verdict rule "
        f"{summary.verdict_rule}), {summary.items} items; "
        f"bad answers: system {summary.bad_answers['system']}, baseline "
        f"{summary.bad_answers['baseline']} (policy: {summary.bad_answer_policy})"
        + (
            f"; questions without an answer, not judged: system {missing['system']}, "
            f"baseline {missing['baseline']}"
            if any(missing.values())
            else ""
        )
        + (
            f"; answers without a question, not judged: system {extra.get('system', 0)}, "
            f"baseline {extra.get('baseline', 0)}"
            if any(extra.values())
            else ""
        ),
        "",
        "| group | rule | W | T | L | E | N | (W-L)/N | 95% CI |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for group, rules in summary.groups.items():
        for rule, r in (("paper", rules.paper), ("strict", rules.strict)):
            lines.append(
                f"| {cell(group)} | {rule} | {r.win} | {r.tie} | {r.loss} | "
                f"{r.error} | {r.n} | {signed(r.diff)} | {interval(r.ci95)} |"
            )
    corr = summary.length_win_correlation
    lines += [
        "",
        f"position consistency {_share(summary.position_consistency)}, first-position "
        f"preference {_share(summary.first_position_preference)}, length-win correlation "
        f"{'n/a' if corr is None else f'{corr:+.2f}'}, ambiguous judgments "
        f"{summary.ambiguous_judgments}, errors {summary.errors}"
        + "".join(f"; {n} {reason}" for reason, n in summary.error_reasons.items()),
    ]
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _chart_modules() -> None:
    """What the chart draws with: half a second of imports, which `warm_up` takes off the
    command's critical path. A plain figure with the Agg canvas: no pyplot, no GUI backend."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401


def _chart(path: Path, summary: PairwiseSummary) -> None:
    """Stacked win/tie/loss bars per language (paper's rule), like the paper's figures."""
    require("matplotlib", "judge")
    _chart_modules()
    from matplotlib.figure import Figure

    groups = {
        k.split("=", 1)[1]: v.paper for k, v in summary.groups.items() if k.startswith("lang=")
    } or {"all": summary.groups["all"].paper}
    names = list(groups)
    fig = Figure(figsize=(6, 0.6 * len(names) + 1.2))
    ax = fig.subplots()
    left = [0.0] * len(names)
    for outcome, colour in (
        ("win", "#4c9a2a"),
        ("tie", "#bbbbbb"),
        ("loss", "#c0392b"),
        ("error", "#555555"),
    ):
        share = [
            getattr(groups[n], outcome) / groups[n].n * 100 if groups[n].n else 0 for n in names
        ]
        ax.barh(names, share, left=left, color=colour, label=outcome)
        left = [a + b for a, b in zip(left, share, strict=True)]
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of items (paper's rule)")
    ax.legend(ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
