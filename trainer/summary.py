"""summary.json, declared once: the contract between the evaluations that write it (`plugdata
judge`, both tasks, and `plugdata score`) and `plugdata report`, which reads it.

`Summary` is what every run writes and all the report reads: which evaluation wrote it (`task`),
whose answers (`system`; pairwise also `baseline`), and each group's metrics ("all", "lang=zh",
"dataset=koala", ...), every number with its 95% interval. Each task's summary extends it with
its own settings and counts, and narrows `groups` to its metrics; unknown keys are refused when
writing, and ignored when the report reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer

from plugdata.core.jsonl import read_json_file, write_json
from plugdata.errors import PlugdataError

SUMMARY = "summary.json"
TaskName = Literal["pairwise", "truthfulqa", "svamp"]
Side = Literal["system", "baseline"]
_WRITTEN = ConfigDict(extra="forbid")


class SummaryError(PlugdataError):
    """A summary.json the report cannot read."""


class System(BaseModel):
    """Who wrote an answer file: the `generator` and `method` that `plugdata generate` records
    on every line. The report gives each (generator, method) a row."""

    generator: str
    method: str


class Rate(BaseModel):
    """A share in [0, 1] with its bootstrap 95% interval and N (`stats.rate`)."""

    rate: float
    ci95: tuple[float, float]
    n: int


class Table(BaseModel):
    """Win/tie/loss/error counts, N, (W - L) / N and its 95% interval under one aggregation
    rule (`stats.table`)."""

    win: int
    tie: int
    loss: int
    error: int
    n: int
    diff: float
    ci95: tuple[float, float]


class Summary(BaseModel):
    """What every run writes and all the report reads (see the module)."""

    task: TaskName
    system: System
    baseline: System | None = None  # pairwise: whose answers the system's are judged against
    groups: dict[str, dict[str, Any]]  # group -> metric -> its numbers (a Rate or a Table)

    # Fields a task writes only where they apply: a key that is absent says so, not a null.
    omitted_when_none: ClassVar[tuple[str, ...]] = ("baseline",)

    @model_serializer(mode="wrap")
    def _omit_what_does_not_apply(self, handler) -> dict[str, Any]:
        data = handler(self)
        for name in self.omitted_when_none:
            if name in data and data[name] is None:
                del data[name]
        return data


# -- what each task writes ---------------------------------------------------------------------
class PairwiseGroup(BaseModel):
    model_config = _WRITTEN

    paper: Table
    strict: Table


class PairwiseSummary(Summary):
    model_config = _WRITTEN

    task: Literal["pairwise"] = "pairwise"
    baseline: System
    groups: dict[str, PairwiseGroup]
    judge_model: str
    judge_backend: str
    prompt: str
    prompt_sha: str
    verdict_rule: str
    items: int
    # Questions left out because a side has no answer for them: reported, never hidden.
    unanswered: dict[Side, int]
    bad_answers: dict[Side, int]
    bad_answer_ids: dict[Side, list[str]]
    bad_answer_policy: str
    position_consistency: float | None
    first_position_preference: float | None
    length_win_correlation: float | None
    ambiguous_judgments: int
    errors: int
    error_reasons: dict[str, int]


class TruthfulQAGroup(BaseModel):
    model_config = _WRITTEN

    truthful: Rate
    informative: Rate
    both: Rate
    verdicts: dict[str, dict[str, int]]  # aspect -> verdict label (and "error") -> count


class TruthfulQASummary(Summary):
    model_config = _WRITTEN

    task: Literal["truthfulqa"] = "truthfulqa"
    groups: dict[str, TruthfulQAGroup]
    judge_model: str
    judge_backend: str
    prompt: str
    prompt_sha: str
    verdict_rule: str
    items: int
    # Questions without an answer are left out of every rate: reported, never hidden.
    unanswered: int
    verdicts: dict[str, dict[str, int]]  # as in the group "all"
    ambiguous_judgments: int
    errors: int
    error_reasons: dict[str, int]


class SvampGroup(BaseModel):
    model_config = _WRITTEN

    accuracy: Rate  # unanswered items count as incorrect
    extracted: Rate  # the share of items with a number


class SvampSummary(Summary):
    model_config = _WRITTEN

    omitted_when_none = (*Summary.omitted_when_none, "judge_model", "judge_backend", "prompt_sha")

    task: Literal["svamp"] = "svamp"
    groups: dict[str, SvampGroup]
    extractor: Literal["rules", "llm"]
    # With the LLM extractor only: a rules run names no judge.
    judge_model: str | None = None
    judge_backend: str | None = None
    prompt_sha: str | None = None
    # How a number is read (from the judge's reply, or with the rules from the answer): careful
    # (trainer.score.numbers) or paper (its last integer); what the rule misreads, said aloud.
    number_rule: Literal["careful", "paper"] = "careful"
    warnings: list[str] = []
    tolerance: dict[str, float]  # math.isclose's rel_tol and abs_tol
    items: int
    unanswered: int
    unanswered_counted_as: Literal["incorrect"] = "incorrect"
    extracted_by: dict[str, int]
    # Answered, but no number found (rules) or named ([invalid] from the judge model).
    invalid: int
    errors: dict[str, int]  # request errors by reason
    answers_without_question: int
    answer_ids_without_question: list[str]


# -- reading and writing -------------------------------------------------------------------------
def write_summary(folder: Path, summary: Summary) -> None:
    write_json(folder / SUMMARY, summary.model_dump(mode="json"))


def summary_file(run: Path) -> Path:
    """The summary.json of a run folder; a file is taken as the summary itself."""
    return run / SUMMARY if run.is_dir() else run


def read_summary(run: Path) -> Summary:
    """The summary of a run folder (or a summary.json file itself), as far as the report reads
    it; a file that is not one is a one-line error naming it."""
    path = summary_file(run)
    if not path.is_file():
        raise SummaryError(f"{run}: no {SUMMARY} (a folder written by judge or score)")
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise SummaryError(f"{path}: not the summary of a judge or score run (not an object)")
    if "task" not in data:
        raise SummaryError(
            f"{path}: no 'task' field: not the summary of a judge or score run of this version "
            "(run the evaluation again)"
        )
    try:
        return Summary.model_validate(data)
    except ValidationError as err:
        raise SummaryError(f"{path}: {_first_error(err)}") from None


def read_block(where: str, block: Any, kind: type[Rate] | type[Table]) -> Rate | Table:
    """One metric's numbers in a group (`where`: file and key path, for errors), as `kind`
    says they are written."""
    try:
        return kind.model_validate(block)
    except ValidationError as err:
        raise SummaryError(f"{where}.{_first_error(err)}") from None


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].replace("Input should be", "must be")
    return f"{where}: {message}" if where else message
