"""What the judge reads: the questions, the system's and the baseline's answers, the items all
three have, and the answers that are bad (extraction failed, or not in the question's
language). Errors name the file, line and field."""

from __future__ import annotations

from dataclasses import dataclass

from plugdata.errors import PlugdataError
from trainer.evalsets import load_questions, read_rows
from trainer.options import JudgeOptions


@dataclass
class Inputs:
    questions: dict[str, dict]  # id -> {instruction, lang, dataset}
    system: dict[str, dict]  # id -> answer row (`output`, optional `extraction`, `lang`)
    baseline: dict[str, dict]
    items: list[str]  # the ids all three have, in the questions' order
    bad: dict[str, set[str]]  # side ("system", "baseline") -> ids of its bad answers


def load_inputs(options: JudgeOptions) -> Inputs:
    """Questions, both sides' answers, the ids all three have, and the bad answers."""
    questions = load_questions(options.questions, options.config)
    system = read_rows(options.answers, ("id", "output"))
    baseline = read_rows(options.baseline, ("id", "output"))
    items = [i for i in questions if i in system and i in baseline]
    if not items:

        def sample(rows) -> str:
            return ", ".join(repr(k) for k in list(rows)[:2]) or "none"

        raise PlugdataError(
            "no item has a question, an answer and a baseline answer: the ids differ (questions "
            f"{sample(questions)}; answers {sample(system)}; baseline {sample(baseline)})"
        )
    from plugdata.checks.validate import Validator

    validator = Validator()
    bad = {
        side: _bad_answers(validator, rows, questions, items)
        for side, rows in (("system", system), ("baseline", baseline))
    }
    return Inputs(questions, system, baseline, items, bad)


def _bad_answers(validator, rows: dict[str, dict], questions: dict, items: list[str]) -> set[str]:
    """Answers whose extraction failed, or that are not in the question's language."""
    bad = set()
    for i in items:
        row, lang = rows[i], questions[i].get("lang") or rows[i].get("lang")
        text = str(row["output"])
        failed = row.get("extraction", "ok") != "ok" or not text.strip()
        if failed or (lang and not validator.check_language(text, lang).passed):
            bad.add(i)
    return bad
