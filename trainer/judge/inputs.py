"""What the judge reads: the questions, the system's and the baseline's answers, the items all
three have, and the answers that are bad (extraction failed, or not in the question's
language). Errors name the file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plugdata.errors import PlugdataError
from plugdata.locations import check_dataset
from plugdata.sources import has_lone_surrogate, read_json_file, read_json_lines
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
    questions = load_questions(options)
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
    from plugdata.validate import Validator

    validator = Validator()
    bad = {
        side: _bad_answers(validator, rows, questions, items)
        for side, rows in (("system", system), ("baseline", baseline))
    }
    return Inputs(questions, system, baseline, items, bad)


def read_rows(path: Path, need: tuple[str, ...]) -> dict[str, dict]:
    """id -> row from a jsonl file (or a .json list); errors name the file, line and field."""
    if not path.exists():
        raise PlugdataError(f"{path}: file not found")
    if path.suffix == ".json":
        items = read_json_file(path)
        if not isinstance(items, list):
            raise PlugdataError(f"{path}: expected a JSON list of objects (or JSON Lines)")
        numbered = list(enumerate(items, 1))
    else:
        numbered = list(read_json_lines(path))
    rows: dict[str, dict] = {}
    for i, row in numbered:
        if not isinstance(row, dict):
            raise PlugdataError(f"{path}:{i}: expected an object, got {type(row).__name__}")
        missing = [k for k in need if k not in row]
        if missing:
            raise PlugdataError(f"{path}:{i}: no {missing[0]!r} field; have {', '.join(row)}")
        for name, value in row.items():
            # Text sent to the judge and written to the summary must be encodable.
            if isinstance(value, str) and has_lone_surrogate(value):
                raise PlugdataError(
                    f"{path}:{i}: field {name!r} holds a lone surrogate (an escape such as "
                    "\\ud800 that is half of a character); fix the text"
                )
        key = str(row["id"])
        if key in rows:
            raise PlugdataError(f"{path}:{i}: id {key!r} appears twice")
        rows[key] = row
    return rows


def load_questions(options: JudgeOptions) -> dict[str, dict]:
    """id -> {instruction, lang, dataset}."""
    check_dataset(options.questions, "--questions", files=True)
    path = Path(options.questions)
    if path.is_file():
        rows = read_rows(path, ("id", "instruction"))
        return {
            k: {"instruction": r["instruction"], "lang": r.get("lang"), "dataset": r.get("dataset")}
            for k, r in rows.items()
        }
    if not options.config:
        raise PlugdataError(f"--questions {options.questions}: a dataset needs --config")
    from trainer.generate import load_eval_rows

    data = load_eval_rows(options.questions, options.config)
    return {
        q["id"]: {
            "instruction": q["target_instruction"],
            "lang": q["target_lang"],
            "dataset": q.get("dataset") or q.get("source"),
        }
        for q in data
    }


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
