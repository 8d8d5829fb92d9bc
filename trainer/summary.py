"""summary.json, declared once: the contract between the evaluations that write it (`plugdata
judge`, both tasks, and `plugdata score`) and `plugdata report`, which reads it.

`Summary` is what every run writes and all the report reads: which evaluation wrote it (`task`),
whose answers (`system`; pairwise also `baseline`), and each group's metrics ("all", "lang=zh",
"dataset=koala", ...), every number with its 95% interval. Each task's record (`RECORDS`)
narrows `groups` to its metrics, typed (`Rate`, `Table`: numbers, in range, and consistent with
their N); that record is what the report reads, and the task's summary extends it with its own
settings and counts. Unknown keys are refused when writing, and ignored when the report reads."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_serializer,
    model_validator,
)

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


# Numbers as JSON holds them: a string ("0.5"), a bool, NaN or an infinity is not a number here.
Share = Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)]
Signed = Annotated[float, Strict(), Field(ge=-1, le=1, allow_inf_nan=False)]
Count = Annotated[int, Strict(), Field(ge=0)]


class Rate(BaseModel):
    """A share in [0, 1] with its bootstrap 95% interval and N (`stats.rate`). A share of no
    items has neither: null (`n/a` in tables), never 0."""

    rate: Share | None
    ci95: tuple[Share, Share] | None
    n: Count

    @model_validator(mode="after")
    def _possible(self) -> Rate:
        _none_when_empty(self, "rate")
        if self.n and abs(self.rate * self.n - round(self.rate * self.n)) > 1e-6 * self.n:
            raise ValueError(f"rate {self.rate} is not a count out of n = {self.n}")
        return self


class Table(BaseModel):
    """Win/tie/loss/error counts, N, (W - L) / N and its 95% interval under one aggregation
    rule (`stats.table`); with N = 0 the differential and interval are null (`n/a`)."""

    win: Count
    tie: Count
    loss: Count
    error: Count
    n: Count
    diff: Signed | None
    ci95: tuple[Signed, Signed] | None

    @model_validator(mode="after")
    def _possible(self) -> Table:
        if self.n != self.win + self.tie + self.loss + self.error:
            raise ValueError(f"n = {self.n} is not win + tie + loss + error")
        _none_when_empty(self, "diff")
        if self.n and not math.isclose(self.diff, (self.win - self.loss) / self.n, abs_tol=1e-9):
            raise ValueError(f"diff {self.diff} is not (win - loss) / n")
        return self


def _none_when_empty(block: Rate | Table, value: str) -> None:
    """A block of no items has no value and no interval; one of some items has both, the
    interval's ends in order. Summaries of earlier versions wrote 0 and [0, 0] for nothing:
    read as what they meant."""
    if block.n == 0:
        if getattr(block, value) not in (None, 0) or block.ci95 not in (None, (0, 0)):
            raise ValueError(f"n = 0 but {value} and ci95 are not null")
        setattr(block, value, None)
        block.ci95 = None
        return
    if getattr(block, value) is None or block.ci95 is None:
        raise ValueError(f"n = {block.n} but {value} or ci95 is null")
    if block.ci95[0] > block.ci95[1]:
        raise ValueError(f"ci95 {list(block.ci95)} runs backwards")


class Summary(BaseModel):
    """What every run writes and all the report reads (see the module)."""

    task: TaskName
    system: System
    baseline: System | None = None  # pairwise: whose answers the system's are judged against
    groups: dict[str, Any]  # group -> metric -> its numbers: each task's record types them

    # Fields a task writes only where they apply: a key that is absent says so, not a null.
    omitted_when_none: ClassVar[tuple[str, ...]] = ("baseline",)

    @model_serializer(mode="wrap")
    def _omit_what_does_not_apply(self, handler) -> dict[str, Any]:
        data = handler(self)
        for name in self.omitted_when_none:
            if name in data and data[name] is None:
                del data[name]
        return data


# -- what the report reads of each task: the records each task writes (below) extend these ----
class PairwiseResults(BaseModel):
    paper: Table
    strict: Table | None = None


class PairwiseRecord(Summary):
    task: Literal["pairwise"] = "pairwise"
    baseline: System
    groups: dict[str, PairwiseResults]


class TruthfulQAResults(BaseModel):
    truthful: Rate
    informative: Rate
    both: Rate


class TruthfulQARecord(Summary):
    task: Literal["truthfulqa"] = "truthfulqa"
    groups: dict[str, TruthfulQAResults]


class SvampResults(BaseModel):
    accuracy: Rate
    extracted: Rate | None = None


class SvampRecord(Summary):
    task: Literal["svamp"] = "svamp"
    groups: dict[str, SvampResults]


RECORDS: dict[str, type[Summary]] = {
    "pairwise": PairwiseRecord,
    "truthfulqa": TruthfulQARecord,
    "svamp": SvampRecord,
}


# -- what each task writes ---------------------------------------------------------------------
class PairwiseGroup(PairwiseResults):
    model_config = _WRITTEN

    strict: Table


class PairwiseSummary(PairwiseRecord):
    model_config = _WRITTEN

    groups: dict[str, PairwiseGroup]
    judge_model: str
    judge_backend: str
    prompt: str
    prompt_sha: str
    verdict_rule: str
    items: int
    # Questions left out because a side has no answer for them: reported, never hidden.
    unanswered: dict[Side, int]
    # Answers whose id has no question: never judged, counted and listed (0 in older summaries).
    answers_without_question: dict[Side, int] = {}
    answer_ids_without_question: dict[Side, list[str]] = {}
    bad_answers: dict[Side, int]
    bad_answer_ids: dict[Side, list[str]]
    bad_answer_policy: str
    position_consistency: float | None
    first_position_preference: float | None
    length_win_correlation: float | None
    ambiguous_judgments: int
    errors: int
    error_reasons: dict[str, int]


class TruthfulQAGroup(TruthfulQAResults):
    model_config = _WRITTEN

    verdicts: dict[str, dict[str, int]]  # aspect -> verdict label (and "error") -> count


class TruthfulQASummary(TruthfulQARecord):
    model_config = _WRITTEN

    groups: dict[str, TruthfulQAGroup]
    judge_model: str
    judge_backend: str
    prompt: str
    prompt_sha: str
    verdict_rule: str
    items: int
    # Questions without an answer are left out of every rate: reported, never hidden.
    unanswered: int
    # Answers whose id has no question: never judged, counted and listed.
    answers_without_question: int = 0
    answer_ids_without_question: list[str] = []
    verdicts: dict[str, dict[str, int]]  # as in the group "all"
    ambiguous_judgments: int
    errors: int
    error_reasons: dict[str, int]


class SvampGroup(SvampResults):
    model_config = _WRITTEN

    accuracy: Rate  # unanswered items count as incorrect
    extracted: Rate  # the share of items with a number


class SvampSummary(SvampRecord):
    model_config = _WRITTEN

    omitted_when_none = (*Summary.omitted_when_none, "judge_model", "judge_backend", "prompt_sha")

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
    task = data["task"]
    if not isinstance(task, str) or task not in RECORDS:
        raise SummaryError(
            f"{path}: task: {str(task)[:40]!r} is not one of {', '.join(get_args(TaskName))}"
        )
    try:
        return RECORDS[task].model_validate(data)
    except ValidationError as err:
        raise SummaryError(f"{path}: {_first_error(err)}") from None


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(_key(part) for part in first["loc"])
    message = first["msg"].replace("Input should be", "must be").removeprefix("Value error, ")
    message = re.sub(r" or instance of \w+", "", message)  # the class is ours, not the file's
    return f"{where}: {message}" if where else message


def _key(part: str | int) -> str:
    """A key of the path to a field, kept on one readable line (a group's name is data)."""
    text = str(part)
    return text if text.isprintable() and len(text) <= 60 else repr(text[:60])
