"""What the judge reads: the questions, the system's and the baseline's answers, the items all
three have, and the answers that are bad (extraction failed, or not in the question's
language). Errors name the file, line and field."""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from plugdata.errors import PlugdataError
from trainer.evalsets import load_questions, read_rows
from trainer.options import JudgeOptions


@dataclass
class Inputs:
    questions: dict[str, dict]  # id -> {instruction, lang, dataset}
    system: dict[str, dict]  # id -> answer row (`output`, optional `extraction`, `lang`)
    baseline: dict[str, dict]
    items: list[str]  # the ids all three have, in the questions' order
    # side -> ids of its answers that no question has: never judged, counted and listed
    without_question: dict[str, list[str]] = field(default_factory=dict)
    _bad: dict[str, set[str]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def bad(self) -> dict[str, set[str]]:
        """Side ("system", "baseline") -> ids of its bad answers. Found when first asked for:
        the language checks load a detector and check every answer, which the pairwise task
        does on a thread while the judge answers (`warm_up`) unless the requests need them
        (`--bad-answers lose`). A failure is raised again to the next caller."""
        with self._lock:
            if self._bad is None:
                validator = functools.cache(_validator)  # none needed when no answer has a lang
                self._bad = {
                    side: _bad_answers(validator, rows, self.questions, self.items)
                    for side, rows in (("system", self.system), ("baseline", self.baseline))
                }
            return self._bad


def _validator():
    from plugdata.checks.validate import Validator

    return Validator()


def load_inputs(options: JudgeOptions) -> Inputs:
    """Questions, both sides' answers and the ids all three have; the bad answers are found
    when asked for (`Inputs.bad`)."""
    system = read_rows(options.answers, ("id", "output"))
    baseline = read_rows(options.baseline, ("id", "output"))
    refuse_self(options.answers, system, options.baseline, baseline)
    questions = load_questions(options.questions, options.config)
    items = [i for i in questions if i in system and i in baseline]
    if not items:

        def sample(rows) -> str:
            return ", ".join(repr(k) for k in list(rows)[:2]) or "none"

        raise PlugdataError(
            "no item has a question, an answer and a baseline answer: the ids differ (questions "
            f"{sample(questions)}; answers {sample(system)}; baseline {sample(baseline)})"
        )
    without = {
        side: sorted(set(rows) - set(questions))
        for side, rows in (("system", system), ("baseline", baseline))
    }
    return Inputs(questions, system, baseline, items, without)


def refuse_self(answers: Path, system: dict, baseline_file: Path, baseline: dict) -> None:
    """Judging a system against itself pays for requests that can only say "tie": refused
    when both flags name one file (a link included) or two files with the same answers."""
    same_file = answers.resolve() == baseline_file.resolve() or os.path.samefile(
        answers, baseline_file
    )
    if same_file or (system and _outputs(system) == _outputs(baseline)):
        how = "the same file" if same_file else "the same answers"
        raise PlugdataError(
            f"--answers {answers} and --baseline {baseline_file} hold {how}: judging a system "
            "against itself says nothing; give the baseline's answers"
        )


def _outputs(rows: dict[str, dict]) -> dict[str, str]:
    return {i: str(row["output"]) for i, row in rows.items()}


def _bad_answers(validator, rows: dict[str, dict], questions: dict, items: list[str]) -> set[str]:
    """Answers whose extraction failed, or that are not in the question's language
    (`validator()`: the language checker, made when first called)."""
    bad = set()
    for i in items:
        row, lang = rows[i], questions[i].get("lang") or rows[i].get("lang")
        text = str(row["output"])
        failed = row.get("extraction", "ok") != "ok" or not text.strip()
        if failed or (lang and not validator().check_language(text, lang).passed):
            bad.add(i)
    return bad
