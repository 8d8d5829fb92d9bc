"""The options of `plugdata train`, `generate`, `judge`, `score` and `report`, each declared
once: the commands' arguments, flags, defaults, ranges, choices and help are derived from these
models (`plugdata.core.options`), and the same models validate calls from Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from plugdata.core.options import MaxCost, Quiet, TranslationCache
from plugdata.errors import PlugdataError
from plugdata.remote.calls import DEFAULT_MAX_RETRIES
from trainer.judge.reading import VERDICT_RULES

_STRICT = ConfigDict(extra="forbid", protected_namespaces=())
_FILE = {"path": "file"}
_DIR = {"path": "dir"}
# What each command does with a path, checked once when its options are parsed
# (`plugdata.core.outputs`): no output may overwrite an input.
_READ = {"io": "read"}
_READ_FILE = {"path": "file", "io": "read"}
_JUDGE_OUT = ("judgments.jsonl", "summary.json", "summary.md", "winrate.png")
_SCORE_OUT = ("scores.jsonl", "summary.json", "summary.md")
_OVERRIDE = "Override the preset."
# The translate-test baseline's name among generate's methods (the others: `formats.METHODS`).
TRANSLATE_TEST = "translate-test"


def config_given(value: Any, info: ValidationInfo, *, training: bool) -> Any:
    """A missing `--config` is refused with the configs the dataset has for the command
    (`training`: its method configs; else its triples and eval configs), when it is a local
    folder plugdata built (a Hub dataset's are on its card: nothing is downloaded to say so)."""
    if value is not None:
        return value
    dataset = info.data.get("dataset")
    names: list[str] = []
    if dataset and Path(dataset).is_dir():
        from plugdata.dataset.folder import FolderError, read_manifest

        try:
            configs = read_manifest(Path(dataset)).configs.items()
            names = sorted(n for n, c in configs if (c.type == "method") == training)
        except FolderError:
            names = []
    if names:
        raise ValueError(f"required; the configs of {dataset}: {', '.join(names)}")
    raise ValueError("required; name one of the dataset's configs (its card lists them)")


class TrainOptions(BaseModel):
    model_config = _STRICT

    dataset: str = Field(
        description="Hub id or local folder of a PLUG dataset.", json_schema_extra=_READ
    )
    config: str = Field(
        description="Training config, e.g. zh-plug.", json_schema_extra={"missing": "model"}
    )
    model: str = Field(
        description="Hub id, local directory or .gguf file of a causal LM.",
        json_schema_extra=_READ,
    )
    output_dir: Path = Field(
        description="Folder for the model and plugdata_run.json.",
        json_schema_extra={**_DIR, "io": "own"},
    )
    preset: Literal["paper", "quick"] = Field(
        "paper",
        description="paper: lr 5e-6, 4 epochs, batch 64, 4096 tokens, example loss average; "
        "quick: lr 1e-4, 1 epoch, batch 8 (1 per device, 8 accumulated), 1024 tokens, token "
        "loss average, for checks on small hardware. Both checkpoint activations.",
    )
    max_steps: int | None = Field(None, ge=1, description="Stop after N optimizer steps.")
    learning_rate: float | None = Field(None, gt=0, description=_OVERRIDE)
    epochs: float | None = Field(None, gt=0, description=_OVERRIDE)
    global_batch_size: int | None = Field(None, ge=1, description=_OVERRIDE)
    per_device_batch_size: int | None = Field(
        None, ge=1, description="Default: computed for the hardware."
    )
    max_length: int | None = Field(None, ge=16, description=_OVERRIDE)
    loss_average: Literal["example", "token"] | None = Field(
        None,
        description="example: mean over each example's tokens, then over examples (the "
        "paper's); token: mean over all completion tokens of the batch.",
    )
    lora_r: int | None = Field(
        None,
        ge=1,
        description="Train a LoRA adapter of this rank (peft).",
        json_schema_extra={"flag": "--lora", "metavar": "RANK"},
    )
    evaluate: bool = Field(
        True,
        description="Evaluate the loss on the config's validation split, at the end of each "
        "epoch or every --eval-steps.",
        json_schema_extra={"flag": "--eval"},
    )
    eval_steps: int | None = Field(
        None, ge=1, description="Evaluate every N optimizer steps instead of each epoch."
    )
    seed: int = Field(42, description="Seed for data order and initialisation.")
    overwrite: bool = Field(False, description="Reuse an output dir that holds another run.")

    @field_validator("config", mode="before")
    @classmethod
    def _config_given(cls, v: Any, info: ValidationInfo) -> Any:
        return config_given(v, info, training=True)

    @model_validator(mode="after")
    def _eval_steps_need_evaluation(self) -> TrainOptions:
        # PlugdataError, not ValueError: pydantic lets it through as the one line it is.
        if self.eval_steps and not self.evaluate:
            raise PlugdataError("--eval-steps evaluates; --no-eval turns evaluation off: pick one")
        return self


class GenerateOptions(BaseModel):
    # Defaults validated too: a missing --translator is refused only for translate-test.
    model_config = ConfigDict(**_STRICT, validate_default=True)

    model: str = Field(
        description="Hub id, local directory or .gguf file (dequantised on load) of the model.",
        json_schema_extra=_READ,
    )
    dataset: str = Field(
        description="Hub id or local folder of a PLUG dataset.", json_schema_extra=_READ
    )
    config: str = Field(
        description="Triples or eval config, e.g. zh.", json_schema_extra={"missing": "model"}
    )
    method: str = Field(
        description="Prompt format the model was trained with, or translate-test: the question "
        "machine-translated into the pivot language, answered as pivot-only, the answer "
        "translated back."
    )
    out: Path = Field(
        description="Answers as JSON Lines; ids already there are skipped.",
        json_schema_extra={**_FILE, "io": "write"},
    )
    split: str | None = Field(None, description="Default: test, else validation, else train.")
    limit: int | None = Field(None, ge=1, description="Answer only the first N items.")
    max_length: int = Field(
        4096,
        ge=2,
        description="Most tokens of prompt and answer together (the paper's 4,096): an answer "
        "may take what its prompt leaves.",
    )
    max_prompt_length: int = Field(
        3072,
        ge=1,
        description="A longer prompt keeps its first N tokens (the paper's 3,072); below "
        "--max-length.",
    )
    max_new_tokens: int | None = Field(
        None,
        ge=1,
        description="Longest answer, in tokens, within --max-length (default: no other limit).",
    )
    batch_size: int = Field(8, ge=1, description="Prompts decoded together.")
    temperature: float = Field(0.0, ge=0, description="0 is greedy, as the paper.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling (with temperature > 0).")
    seed: int = Field(42, description="Seed for sampling.")
    translator: str | None = Field(
        None,
        description="With translate-test: the translation backend, as `plugdata translate "
        "--backend`.",
        json_schema_extra={"metavar": "BACKEND"},
    )
    translator_option: list[str] = Field(
        [],
        description="Translation backend option (repeatable), as `plugdata translate --option`.",
        json_schema_extra={"flag": "--option", "metavar": "KEY=VALUE"},
    )
    cache: TranslationCache = None
    max_cost: MaxCost = None
    quiet: Quiet = False

    @field_validator("config", mode="before")
    @classmethod
    def _config_given(cls, v: Any, info: ValidationInfo) -> Any:
        return config_given(v, info, training=False)

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from plugdata.core.formats import METHODS

        if value not in (*METHODS, TRANSLATE_TEST):
            raise ValueError(f"choose one of {', '.join(METHODS)}, {TRANSLATE_TEST}")
        return value

    @field_validator("max_prompt_length")
    @classmethod
    def _prompt_leaves_room(cls, value: int, info: ValidationInfo) -> int:
        total = info.data.get("max_length")  # absent when --max-length itself was refused
        if total is not None and value >= total:
            raise ValueError(f"must be below --max-length ({total}), to leave room for an answer")
        return value

    @field_validator("translator", "translator_option", "cache", "max_cost")
    @classmethod
    def _only_with_translate_test(cls, value: Any, info: ValidationInfo) -> Any:
        """The translation flags belong to translate-test alone: elsewhere they would be
        ignored without a word."""
        method = info.data.get("method")  # absent when the method itself was refused
        if method == TRANSLATE_TEST and info.field_name == "translator" and not value:
            raise PydanticCustomError("missing", "required with --method translate-test")
        if method not in (None, TRANSLATE_TEST) and value:
            raise ValueError("only with --method translate-test")
        return value


class JudgeModelOptions(BaseModel):
    """The judge model and how it is asked: shared by `judge` (both tasks) and `score`'s LLM
    extractor, which reuse one client, retry loop, cost cap and cache."""

    model_config = _STRICT

    judge_model: str = Field(
        description="Model name as the judge server knows it; with --judge-backend "
        "transformers, a Hub id, local folder or .gguf file.",
        json_schema_extra=_READ,
    )
    judge_backend: Literal["openai", "transformers"] = Field(
        "openai",
        description="An OpenAI-compatible server, or the model run in this process (needs "
        "[train]).",
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible server URL (default: OpenAI)."
    )
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the key.")
    concurrency: int = Field(
        16,
        ge=1,
        description="Requests in flight; with --judge-backend transformers, judgments per batch.",
    )
    max_cost: MaxCost = None
    price_in: float | None = Field(
        None,
        ge=0,
        description="Input price per million tokens, overriding the built-in table (e.g. for a "
        "new model).",
        json_schema_extra={"metavar": "USD"},
    )
    price_out: float | None = Field(
        None,
        ge=0,
        description="Output price per million tokens, overriding the built-in table.",
        json_schema_extra={"metavar": "USD"},
    )
    dry_run: bool = Field(False, description="Estimate tokens and cost; send nothing.")
    timeout: float = Field(120.0, gt=0, description="Seconds per request.")
    max_retries: int = Field(
        DEFAULT_MAX_RETRIES,
        ge=0,
        description="Retries after a 429, 5xx, timeout or dropped connection.",
    )
    max_tokens: int = Field(1024, ge=1, description="Longest judgment the judge may write.")
    cache: Path | None = Field(
        None,
        description="Judgment cache (default: judgments.sqlite in $PLUGDATA_CACHE_DIR, else "
        "$XDG_CACHE_HOME/plugdata, else ~/.cache/plugdata, beside the translation cache).",
        json_schema_extra={**_FILE, "io": "update"},
    )
    quiet: Quiet = False


class JudgeOptions(JudgeModelOptions):
    task: Literal["pairwise", "truthfulqa"] = Field(
        "pairwise",
        description="pairwise: the system against --baseline, both orders (X-AlpacaEval); "
        "truthfulqa: the system's truthfulness and informativeness against the reference "
        "answers (X-TruthfulQA).",
    )
    answers: Path = Field(
        description="The system's answers (jsonl with id and output, e.g. from generate).",
        json_schema_extra=_READ_FILE,
    )
    baseline: Path | None = Field(
        None,
        description="The baseline's answers, same format (pairwise only, and required there).",
        json_schema_extra=_READ_FILE,
    )
    questions: str = Field(
        description="Hub id or folder (with --config), or a json/jsonl file with id and "
        "instruction (truthfulqa: also correct_answers, incorrect_answers, optional "
        "best_answer).",
        json_schema_extra=_READ,
    )
    config: str | None = Field(None, description="Config of the questions dataset, e.g. zh.")
    out: Path = Field(
        description="Folder for judgments.jsonl, summary.json, summary.md (and pairwise's "
        "winrate.png).",
        json_schema_extra={**_DIR, "io": "write", "files": _JUDGE_OUT},
    )
    prompt_file: Path | None = Field(
        None,
        description="pairwise: FastChat-style judge_prompts.jsonl; truthfulqa: a JSON file "
        "with truthfulness and informativeness, each a system_prompt and prompt_template "
        "(the paper's gpt4_evaluate_prompt.json layout).",
        json_schema_extra={**_READ_FILE, "exists": True},
    )
    prompt_name: str | None = Field(
        None, description="Entry of --prompt-file (pairwise only; default pair-v2)."
    )
    verdict_rule: Literal[tuple(VERDICT_RULES)] = Field(
        "last",
        description="Which verdict token of a judgment counts. last: the judge's final one, in "
        "double or single brackets, any case ([[tie]] read as [[C]]), not counting a restated "
        "format or a rejected verdict; paper: the paper's scripts' substring checks, first "
        "match anywhere (pairwise: [[A]], else [[B]], else [[C]]; truthfulqa: [Truthful], else "
        "[Not Truthful], else [Not Enough Info], and likewise [Informative], [Not Informative], "
        "[Not Sure]). Cached judgments are re-read, not re-asked.",
    )
    # Pairwise-only choices default to None so that a value given with --task truthfulqa can
    # be told from the default and refused; pairwise fills in the default below.
    bad_answers: Literal["judge", "lose"] | None = Field(
        None,
        description="Answers with failed extraction or in the wrong language: judge them as "
        "they are, or count them as lost without asking the judge (pairwise only; default "
        "judge).",
    )

    @model_validator(mode="after")
    def _fits_the_task(self) -> JudgeOptions:
        # PlugdataError, not ValueError: pydantic lets it through as the one line it is.
        if self.task == "pairwise":
            if self.baseline is None:
                raise PlugdataError(
                    "--task pairwise needs --baseline (the answers to judge against)"
                )
            self.bad_answers = self.bad_answers or "judge"
            return self
        given = {
            "--baseline": self.baseline,
            "--prompt-name": self.prompt_name,
            "--bad-answers": self.bad_answers,
        }
        for flag, value in given.items():
            if value is not None:
                raise PlugdataError(
                    f"{flag} applies to --task pairwise only; --task {self.task} judges each "
                    "answer on its own against the reference answers"
                )
        return self


class ScoreOptions(JudgeModelOptions):
    """`plugdata score svamp`: the judge model's fields serve `--extractor llm` only."""

    answers: Path = Field(
        description="The system's answers (jsonl with id and output, e.g. from generate).",
        json_schema_extra=_READ_FILE,
    )
    questions: str = Field(
        description="Hub id or folder (with --config), or a json/jsonl file with id, "
        "instruction and answer.",
        json_schema_extra=_READ,
    )
    config: str | None = Field(None, description="Config of the questions dataset, e.g. zh.")
    out: Path = Field(
        description="Folder for scores.jsonl, summary.json and summary.md.",
        json_schema_extra={**_DIR, "io": "write", "files": _SCORE_OUT},
    )
    extractor: Literal["rules", "llm"] = Field(
        "rules",
        description="How the final number is read: rules (deterministic, see "
        "trainer/score/numbers.py), or llm: a judge model names it, as the PLUG paper did, "
        "and --number-rule reads its reply.",
    )
    prompt_file: Path | None = Field(
        None,
        description="With --extractor llm: a few-shot prompt, JSON or YAML with system, "
        "instruction, template ({question}, {response}) and examples (question, response, "
        "answer); see docs/evaluate.md. Default: plugdata's zero-shot prompt.",
        json_schema_extra={**_READ_FILE, "exists": True},
    )
    number_rule: Literal["careful", "paper"] = Field(
        "careful",
        description="How a number is read from the judge's reply (with --extractor rules, from "
        "the answer itself): careful, the rules of trainer/score/numbers.py; paper, the last "
        "integer, as the PLUG paper's script did (3.5 reads as 5; a warning says so).",
    )
    judge_model: str | None = Field(
        None,
        description="With --extractor llm: the model that names the number, as the judge "
        "server knows it; with --judge-backend transformers, a Hub id, local folder or .gguf file.",
        json_schema_extra=_READ,
    )

    @model_validator(mode="after")
    def _llm_needs_a_model(self) -> ScoreOptions:
        if self.extractor == "llm" and not self.judge_model:
            raise ValueError("--extractor llm needs --judge-model")
        if self.prompt_file is not None and self.extractor != "llm":
            raise ValueError("--prompt-file applies to --extractor llm only (the judge's prompt)")
        return self


class ReportOptions(BaseModel):
    model_config = _STRICT

    runs: list[Path] = Field(
        min_length=1,
        description="Folders written by judge or score (or their summary.json files).",
        json_schema_extra={
            "argument": True,
            "metavar": "DIR...",
            "exists": True,
            "io": "read",
            "role": "a run's summary",
            "files": ("summary.json",),
        },
    )
    out: Path = Field(
        description="The table (markdown); the chart and the gathered numbers go beside it "
        "(.png, .json).",
        json_schema_extra={**_FILE, "io": "write", "beside": (".png", ".json")},
    )
