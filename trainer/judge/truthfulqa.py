"""The X-TruthfulQA task: each answer judged twice, for truthfulness against the reference
answers and for informativeness (see `aspects`), and the shares truthful, informative and both,
overall and per language.

An item counts as truthful (informative) only on that verdict; a judgment that failed or holds
no verdict token stays in the denominator as not truthful (not informative), as the paper
counted, and is reported by reason. `both` needs both verdicts.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from plugdata.core.jsonl import read_json_file, read_json_lines
from plugdata.core.redact import public_path
from plugdata.errors import PlugdataError
from trainer.evalsets import answered_by, load_questions, read_rows
from trainer.judge.aspects import (
    ASPECTS,
    answer_list,
    load_prompts,
    parse_aspect,
    references_digest,
)
from trainer.judge.base import Request, request_key, sha
from trainer.judge.stats import rate
from trainer.judge.task import Judged, error_reasons
from trainer.options import JudgeOptions
from trainer.summary import TruthfulQAGroup, TruthfulQASummary
from trainer.tables import cell, share


class TruthfulQATask:
    """See `task.Task`."""

    def __init__(self, options: JudgeOptions):
        self.options = options
        self.prompts = load_prompts(options.prompt_file)
        self.questions = load_references(
            options.questions, options.config, self.prompts.best_answer_first
        )
        self.answers = read_rows(options.answers, ("id", "output"))
        self.item_ids = [i for i in self.questions if i in self.answers]
        if not self.item_ids:
            raise PlugdataError(
                "no question has an answer: the ids differ (questions "
                f"{_sample(self.questions)}; answers {_sample(self.answers)})"
            )
        self.items = len(self.item_ids)

    def requests(self, judge_model: str, params: str) -> list[Request]:
        """Truthfulness, then informativeness, of every answered question."""
        sent = self.prompts.request_params
        # Only what is sent besides the backend's parameters joins the key: judgments cached
        # before requests could carry any keep theirs.
        if sent:
            params += json.dumps(sent, sort_keys=True)
        out = []
        for i in self.item_ids:
            q = self.questions[i]
            response = str(self.answers[i]["output"])
            values = {
                "question": q["instruction"],
                "correct_answers": answer_list(q["correct_answers"]),
                "incorrect_answers": answer_list(q["incorrect_answers"]),
                "response": response,
            }
            for aspect in ASPECTS:
                prompt = self.prompts.aspects[aspect]
                key = request_key(
                    judge_model,
                    prompt.digest,
                    params,
                    "truthfulqa",
                    aspect,
                    i,
                    sha(response),
                    references_digest(values, aspect),
                )
                messages = [
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.render(values)},
                ]
                out.append(Request(i, aspect, messages, key, dict(sent)))
        return out

    def summarise(self, requests, raw, errors) -> Judged:  # see task.Task
        judgments = []
        labels: dict[str, dict[str, str]] = defaultdict(dict)  # item -> aspect -> label
        for r in requests:
            text = raw.get(r.key)
            verdict = parse_aspect(text, r.kind, self.options.verdict_rule)
            labels[r.item][r.kind] = verdict.label
            judgments.append(
                {
                    "id": r.item,
                    "lang": self._lang(r.item),
                    "aspect": r.kind,
                    "raw": text,
                    "verdict": verdict.label,
                    "ambiguous": verdict.ambiguous,
                    "error": errors.get(r.key)
                    or ("no verdict" if verdict.label == "error" else None),
                }
            )
        groups = {"all": _group(self.item_ids, labels)}
        langs = sorted({self._lang(i) for i in self.item_ids} - {"-"})
        for lang in langs:
            groups[f"lang={lang}"] = _group(
                [i for i in self.item_ids if self._lang(i) == lang], labels
            )
        summary = TruthfulQASummary(
            system=answered_by(self.answers, self.options.answers),
            # A local judge (folder or .gguf file) by its name: nothing written names a path.
            judge_model=public_path(self.options.judge_model),
            judge_backend=self.options.judge_backend,
            prompt=self.prompts.name,
            prompt_sha=self.prompts.digest,
            verdict_rule=self.options.verdict_rule,
            items=self.items,
            unanswered=len(self.questions) - self.items,
            answers_without_question=len(self._without_question()),
            answer_ids_without_question=self._without_question(),
            groups=groups,
            verdicts=groups["all"].verdicts,
            ambiguous_judgments=sum(j["ambiguous"] for j in judgments),
            errors=sum(j["error"] is not None for j in judgments),
            error_reasons=error_reasons(judgments),
        )
        return Judged(summary, judgments)

    def markdown(self, summary: TruthfulQASummary) -> str:
        return markdown(summary)

    def chart(self, out: Path, summary: TruthfulQASummary) -> None:
        """No chart: the table says it all for two rates per language."""

    def warm_up(self) -> None:
        """Nothing to prepare: no chart."""

    def _without_question(self) -> list[str]:
        return sorted(set(self.answers) - set(self.questions))

    def _lang(self, item: str) -> str:
        return self.questions[item].get("lang") or self.answers[item].get("lang") or "-"


def _sample(rows: dict) -> str:
    return ", ".join(repr(k) for k in list(rows)[:2]) or "none"


def _group(items: list[str], labels: dict[str, dict[str, str]]) -> TruthfulQAGroup:
    """The three rates over `items`, and every verdict's count per aspect."""
    yes = {a: [labels[i].get(a) == ASPECTS[a].labels[0] for i in items] for a in ASPECTS}
    truthful, informative = yes["truthfulness"], yes["informativeness"]
    return TruthfulQAGroup(
        truthful=rate(truthful),
        informative=rate(informative),
        both=rate([t and f for t, f in zip(truthful, informative, strict=True)]),
        verdicts={a: _counts(a, [labels[i].get(a, "error") for i in items]) for a in ASPECTS},
    )


def _counts(aspect: str, found: list[str]) -> dict[str, int]:
    """Every verdict of the aspect, and errors, counted (zeros too), in a fixed order."""
    counts = Counter(found)
    return {label: counts[label] for label in (*ASPECTS[aspect].labels, "error")}


# -- the questions and their reference answers ---------------------------------------------------
def load_references(
    questions: str, config: str | None, best_answer_first: bool = True
) -> dict[str, dict]:
    """The questions with their reference answers, checked: `correct_answers` and
    `incorrect_answers` lists of strings, `best_answer` (optional) a string. With
    `best_answer_first` the best answer leads the correct ones (TruthfulQA's correct answers
    usually include it already; it is added only when they do not); without, as the paper's
    script, the correct answers are shown as they are."""
    loaded = load_questions(
        questions, config, need=("correct_answers", "incorrect_answers"), optional=("best_answer",)
    )
    for item, q in loaded.items():
        for name in ("correct_answers", "incorrect_answers"):
            value = q[name]
            if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
                raise PlugdataError(
                    f"{_where(questions, config, item)}: field {name!r} must be a list of "
                    f"strings, got {_kind(value)}"
                )
        best = q.get("best_answer")
        if best is not None and not isinstance(best, str):
            raise PlugdataError(
                f"{_where(questions, config, item)}: field 'best_answer' must be a string, got "
                f"{_kind(best)}"
            )
        if best_answer_first and best and best.strip() and best not in q["correct_answers"]:
            q["correct_answers"] = [best, *q["correct_answers"]]
        if not q["correct_answers"]:
            raise PlugdataError(
                f"{_where(questions, config, item)}: field 'correct_answers' is empty"
                + (" and there is no best_answer" if best_answer_first else "")
                + ": the judge needs at least one correct answer"
            )
    return loaded


def _kind(value: Any) -> str:
    if isinstance(value, list):
        odd = next((a for a in value if not isinstance(a, str)), None)
        return f"a list holding {type(odd).__name__} {odd!r}"
    return f"{type(value).__name__} {value!r}"[:80]


def _where(questions: str, config: str | None, item: str) -> str:
    """`file:line` of a question in a file (the item number in a .json list), as
    `read_rows` names lines; the item in a dataset."""
    path = Path(questions)
    if path.is_file():
        numbered = (
            enumerate(read_json_file(path), 1) if path.suffix == ".json" else read_json_lines(path)
        )
        for line, row in numbered:
            if isinstance(row, dict) and str(row.get("id")) == item:
                return f"{path}:{line}"
    return f"--questions {questions} --config {config}: id {item!r}"


# -- outputs -------------------------------------------------------------------------------------
def markdown(summary: TruthfulQASummary) -> str:
    system = summary.system
    lines = [
        f"X-TruthfulQA: {cell(system.generator)} ({cell(system.method)}), judge "
        f"{summary.judge_model} ({summary.prompt}, verdict rule {summary.verdict_rule}), "
        f"{summary.items} items"
        + (
            f"; questions without an answer, not judged: {summary.unanswered}"
            if summary.unanswered
            else ""
        )
        + (
            f"; answers without a question, not judged: {summary.answers_without_question}"
            if summary.answers_without_question
            else ""
        ),
        "",
        "| group | truthful | informative | both | N |",
        "|---|---|---|---|---|",
    ]
    for group, metrics in summary.groups.items():
        cells = [
            share(m.rate, m.ci95) for m in (metrics.truthful, metrics.informative, metrics.both)
        ]
        lines.append(f"| {cell(group)} | {' | '.join(cells)} | {metrics.truthful.n} |")
    counts = "; ".join(
        f"{aspect}: " + ", ".join(f"{label} {n}" for label, n in labels.items())
        for aspect, labels in summary.verdicts.items()
    )
    lines += [
        "",
        f"verdicts ({counts}); ambiguous judgments {summary.ambiguous_judgments}, errors "
        f"{summary.errors} (counted as not truthful / not informative)"
        + "".join(f"; {n} {reason}" for reason, n in summary.error_reasons.items()),
    ]
    return "\n".join(lines)
