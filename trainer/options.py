"""The options of `plugdata train`, `generate` and `judge`, each declared once: the commands'
flags, defaults, ranges, choices and help are derived from these models."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    dataset: str = Field(description="Hub id or local folder of a published PLUG dataset")
    config: str = Field(description="training config, e.g. zh-plug")
    model: str = Field(description="Hub id or local directory of a causal LM")
    output_dir: Path
    preset: Literal["paper", "quick"] = "paper"
    max_steps: int | None = Field(None, ge=1)
    learning_rate: float | None = Field(None, gt=0)
    epochs: float | None = Field(None, gt=0)
    global_batch_size: int | None = Field(None, ge=1)
    per_device_batch_size: int | None = Field(None, ge=1)
    max_length: int | None = Field(None, ge=16)
    loss_average: Literal["example", "token"] | None = Field(
        None,
        description="example: mean over each example's tokens, then over examples (the "
        "paper's); token: mean over all completion tokens of the batch",
    )
    lora_r: int | None = Field(None, ge=1, description="train a LoRA adapter of this rank")
    seed: int = 42
    overwrite: bool = False


class GenerateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    dataset: str
    config: str = Field(description="a triples or eval config, e.g. zh")
    method: str = Field(description="the prompt format the model was trained with")
    out: Path
    split: str | None = Field(None, description="default: test, else validation, else train")
    limit: int | None = Field(None, ge=1)
    max_new_tokens: int = Field(1024, ge=1)
    batch_size: int = Field(8, ge=1)
    temperature: float = Field(0.0, ge=0, description="0: greedy, as the paper")
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = 42


class JudgeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    answers: Path
    baseline: Path
    questions: str = Field(description="Hub id or folder (with config), or a json/jsonl file")
    config: str | None = None
    judge_model: str
    judge_backend: Literal["openai", "transformers"] = "openai"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    out: Path
    concurrency: int = Field(16, ge=1)
    max_cost: float | None = Field(None, ge=0)
    dry_run: bool = False
    prompt_file: Path | None = None
    prompt_name: str | None = None
    bad_answers: Literal["judge", "lose"] = "judge"
    max_tokens: int = Field(1024, ge=1)
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    cache: Path | None = None
    price_in: float | None = Field(None, ge=0, description="USD per million input tokens")
    price_out: float | None = Field(None, ge=0, description="USD per million output tokens")
    quiet: bool = False
