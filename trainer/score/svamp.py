"""`plugdata score svamp`: X-SVAMP accuracy, as the PLUG paper measures it.

Top to bottom: questions with their gold numbers and the system's answers (`trainer.evalsets`)
-> the final number of each answer, by rules (`numbers`) or by a judge model (`llm`, cached)
whose reply a number rule reads (`--number-rule`: careful, or the paper's last integer)
-> compared with the gold (`numbers.same`) -> scores.jsonl, summary.json (`SvampSummary`, the
contract of `trainer.summary`) and summary.md.

Nothing is dropped: a question without an answer is `unanswered` and counts as incorrect; an
answer whose id has no question is counted and listed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugdata.core.jsonl import write_json_lines
from plugdata.core.options import refuse_overwrite_of
from plugdata.core.redact import public_path
from plugdata.errors import PlugdataError, require
from trainer.evalsets import answered_by, load_questions, read_rows
from trainer.judge import stats
from trainer.judge.backends import JUDGES
from trainer.judge.base import Counters, Judge
from trainer.judge.run import JudgmentCache, ask_all, default_cache_path, plan_text
from trainer.options import ScoreOptions
from trainer.score import llm
from trainer.score.numbers import ABS_TOL, REL_TOL, extract, last_integer, parse_number, same
from trainer.summary import SvampGroup, SvampSummary, write_summary
from trainer.tables import cell, count, percents, share

UNANSWERED = "unanswered"


@dataclass
class ScoreReport:
    out: Path
    summary: SvampSummary | None  # None for a dry run
    counters: Counters
    estimate: dict[str, Any] = field(default_factory=dict)  # set by a dry run
    warnings: list[str] = field(default_factory=list)  # for stderr, one line each

    def text(self) -> str:
        if self.summary is None:
            return plan_text(self.estimate, "request", self.estimate.get("model"))
        text = markdown(self.summary)
        if self.summary.extractor == "llm":
            c = self.counters
            text += (
                f"\n\n{count(c.requests, 'request')} ({count(c.retries, 'retry', 'retries')}, "
                f"{c.cached} from the cache)"
            )
        return f"{text} -> {self.out}"


def score_svamp(options: ScoreOptions) -> ScoreReport:
    refuse_overwrite_of(options)  # as the command does; options built in Python too
    require("numpy", "judge")  # the intervals
    require("math_verify", "judge")  # LaTeX in \boxed{}
    # Before reading anything: a judge that cannot be built stops the run at once.
    backend = JUDGES[options.judge_backend](options) if options.extractor == "llm" else None
    prompt = llm.load_prompt(options.prompt_file) if backend is not None else None
    warnings = [llm.PAPER_WARNING] if options.number_rule == "paper" else []
    questions = load_questions(options.questions, options.config, need=("answer",))
    source = (
        options.questions
        if Path(options.questions).is_file()
        else f"{options.questions} --config {options.config}"
    )
    gold = {i: _gold(q["answer"], source, i) for i, q in questions.items()}
    answers = read_rows(options.answers, ("id", "output"))
    lang = {i: q.get("lang") or answers.get(i, {}).get("lang") for i, q in questions.items()}
    texts = {i: _text(answers[i]["output"]) for i in questions if i in answers}
    counters = Counters()
    if backend is None:
        if options.dry_run:  # the rules send nothing; a dry run writes nothing
            none = {"requests": 0, "cached": 0, "to_send": 0, "priced": True, "tokens": 0}
            plan = {"items": len(questions), **none, "cost": 0.0}
            return ScoreReport(options.out, None, counters, plan, warnings)
        found = {
            i: (*_rules(texts[i], lang[i], questions[i], options.number_rule), None, None)
            for i in texts
        }
    else:
        found = _ask(options, backend, prompt, questions, texts, lang, counters)
        if isinstance(found, ScoreReport):  # the plan of a dry run
            found.warnings = warnings
            return found
    rows = [{"id": i, "lang": lang[i], **_scored(found.get(i), gold[i])} for i in questions]
    summary = summarise(options, rows, answers, set(questions), prompt, warnings)
    write_json_lines(options.out / "scores.jsonl", rows)
    write_summary(options.out, summary)
    # The warnings go to stderr as the run ends, and stay with its summary.
    notes = "".join(f"\nWarning: {w}" for w in warnings)
    (options.out / "summary.md").write_text(markdown(summary) + notes + "\n", "utf-8")
    return ScoreReport(options.out, summary, counters, warnings=warnings)


def _gold(value: Any, source: str, item: str) -> float:
    """A gold answer as a number; anything else stops the run, naming where it is."""
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer past float's range: refused as not finite below
            number = math.inf
    elif isinstance(value, str):
        number = parse_number(value)
    if number is None:
        raise PlugdataError(
            f"{source}: id {item!r}: field 'answer' is not a number: {value!r}; X-SVAMP gold "
            "answers are numbers"
        )
    if not math.isfinite(number):  # NaN equals nothing and 1e999 is inf: no answer could match
        raise PlugdataError(
            f"{source}: id {item!r}: field 'answer' is not a finite number: {value!r}; X-SVAMP "
            "gold answers are finite numbers"
        )
    return number


def _text(output: Any) -> str:
    return "" if output is None else str(output)


def _rules(
    text: str, lang: str | None, question: dict, number_rule: str
) -> tuple[float | None, str]:
    if number_rule == "paper":  # the paper's script without its judge: the last integer
        value = last_integer(text)
        return value, "none" if value is None else "last-integer"
    found = extract(text, lang, str(question.get("instruction") or ""))
    return found.value, found.how


# id -> (number or None, how, the judge's raw reply, request error)
Found = dict[str, tuple[float | None, str, str | None, str | None]]


def _ask(
    options: ScoreOptions,
    backend: Judge,
    prompt: llm.Prompt,
    questions: dict[str, dict],
    texts: dict[str, str],
    lang: dict[str, str | None],
    counters: Counters,
) -> Found | ScoreReport:
    """Each answer's number as the judge model names it, cache first; a dry run returns its
    plan instead."""
    requests = llm.requests(
        options.judge_model,
        backend,
        prompt,
        [(i, str(questions[i]["instruction"]), texts[i]) for i in texts],
    )
    # The judge's cache (not in OUT): the same answers scored into another folder cost nothing.
    cache = JudgmentCache(options.cache or default_cache_path())
    try:
        raw: dict[str, str | None] = {r.key: cache.get(r.key) for r in requests}
        to_send = [r for r in requests if raw[r.key] is None]
        counters.cached = len(requests) - len(to_send)
        if options.dry_run:
            plan = {
                "items": len(questions),
                "model": options.judge_model,
                **llm.estimate(backend.price, requests, to_send),
            }
            return ScoreReport(options.out, None, counters, plan)
        errors = ask_all(options, backend, cache, to_send, counters, raw)
    finally:
        cache.close()
    found: Found = {}
    for r in requests:
        reply = raw.get(r.key)
        value = None if reply is None else llm.read_reply(reply, lang[r.item], options.number_rule)
        found[r.item] = (value, "llm", reply, errors.get(r.key))
    return found


def _scored(found: tuple | None, gold: float) -> dict[str, Any]:
    """One line of scores.jsonl, but for id and lang."""
    if found is None:
        return {"extracted": None, "gold": gold, "correct": False, "how": UNANSWERED}
    value, how, reply, error = found
    row = {"extracted": value, "gold": gold, "correct": same(value, gold), "how": how}
    if how == "llm":
        row.update(reply=reply, error=error)
    return row


def summarise(
    options: ScoreOptions,
    rows: list[dict],
    answers: dict[str, dict],
    asked: set[str],
    prompt: llm.Prompt | None = None,
    warnings: list[str] | None = None,
) -> SvampSummary:
    without_question = sorted(set(answers) - asked)
    judge = (
        {
            "judge_model": public_path(options.judge_model),
            "judge_backend": options.judge_backend,
            "prompt_sha": (prompt or llm.DEFAULT_PROMPT).digest,
        }
        if options.extractor == "llm"
        else {}
    )
    return SvampSummary(
        system=answered_by(answers, options.answers),
        extractor=options.extractor,
        **judge,
        number_rule=options.number_rule,
        warnings=warnings or [],
        tolerance={"rel_tol": REL_TOL, "abs_tol": ABS_TOL},
        items=len(rows),
        unanswered=sum(r["how"] == UNANSWERED for r in rows),
        extracted_by=dict(Counter(r["how"] for r in rows if r["extracted"] is not None)),
        invalid=sum(
            r["how"] != UNANSWERED and r["extracted"] is None and not r.get("error") for r in rows
        ),
        errors=dict(Counter(r["error"] for r in rows if r.get("error"))),
        answers_without_question=len(without_question),
        answer_ids_without_question=without_question,
        groups=_groups(rows),
    )


def _groups(rows: list[dict]) -> dict[str, SvampGroup]:
    """Accuracy and the share of items with a number, overall and per language."""

    def block(selected: list[dict]) -> SvampGroup:
        return SvampGroup(
            accuracy=stats.rate([r["correct"] for r in selected]),
            extracted=stats.rate([r["extracted"] is not None for r in selected]),
        )

    groups = {"all": block(rows)}
    for code in sorted({r["lang"] for r in rows if r["lang"]}):
        groups[f"lang={code}"] = block([r for r in rows if r["lang"] == code])
    return groups


def markdown(summary: SvampSummary) -> str:
    """The table, and one line of counts that reads the same whether a count is 0 or many."""
    system = summary.system
    extractor = summary.extractor + (
        f" ({summary.judge_model})" if summary.extractor == "llm" else ""
    )
    if summary.number_rule != "careful":
        extractor += f", number rule {summary.number_rule}"
    lines = [
        f"X-SVAMP accuracy of {cell(system.generator)} ({cell(system.method)}), extractor "
        f"{extractor}",
        "",
        "| group | accuracy | 95% CI | N |",
        "|---|---|---|---|",
    ]
    for group, metrics in summary.groups.items():
        acc = metrics.accuracy
        lines.append(f"| {cell(group)} | {share(acc.rate)} | {percents(acc.ci95)} | {acc.n} |")
    found = sum(summary.extracted_by.values())
    by = ", ".join(f"{how} {n}" for how, n in sorted(summary.extracted_by.items()))
    failed = sum(summary.errors.values())
    reasons = ", ".join(f"{reason} {n}" for reason, n in summary.errors.items())
    extra = summary.answers_without_question
    lines += [
        "",
        f"{count(summary.items, 'item')}: {summary.unanswered} unanswered (counted as "
        f"incorrect), {summary.invalid} answered without a number; "
        + (f"a number read from {found} ({by})" if found else "no number read from any answer")
        + (f"; {count(failed, 'request')} failed ({reasons})" if failed else "")
        + (f"; {count(extra, 'answer')} without a question, not scored" if extra else ""),
    ]
    return "\n".join(lines)
