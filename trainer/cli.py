"""The trainer's commands (`plugdata train`, `generate`, `judge`, `score` and `report`),
registered with the `plugdata` command through the `plugdata.commands` entry point, so the
library never imports the trainer. Every argument and option is derived from the models in
`trainer.options`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

# The models are named, not imported: `plugdata --help` lists these commands without loading
# them (see `ModelCommand`).
from plugdata.cli import model_command

if TYPE_CHECKING:
    from trainer.options import (
        GenerateOptions,
        JudgeOptions,
        ReportOptions,
        ScoreOptions,
        TrainOptions,
    )


@model_command("trainer.options:TrainOptions")
def train(options: TrainOptions) -> None:
    """Fine-tune a causal LM on a PLUG training config (TRL SFTTrainer, loss on completions).

    For several GPUs or nodes run the same command under
    `accelerate launch --config_file trainer/configs/zero3.yaml -m plugdata.cli train ...`.
    """
    from trainer.train import train as run_train

    click.echo(run_train(options).summary())


@model_command("trainer.options:GenerateOptions")
def generate(options: GenerateOptions) -> None:
    """Answer an evaluation config with a model and extract the target-language answers."""
    from trainer.generate import generate as run_generate

    click.echo(run_generate(options).summary())


@model_command("trainer.options:JudgeOptions")
def judge(options: JudgeOptions) -> None:
    """Judge answers with an LLM: two systems pairwise, both orders, for win/tie/loss
    (--task pairwise), or one system's truthfulness and informativeness against reference
    answers (--task truthfulqa)."""
    from trainer.judge.run import judge as run_judge

    click.echo(run_judge(options).text())


@model_command("trainer.options:ReportOptions")
def report(options: ReportOptions) -> None:
    """Gather the summary.json of judge and score runs into one results table and chart."""
    from trainer.results import report as write_report

    results = write_report(options)
    click.echo(results.text(options.out))


@click.group()
def score() -> None:
    """Score a system's answers against gold answers, as the PLUG paper's benchmarks do."""


@model_command("trainer.options:ScoreOptions", group=score)
def svamp(options: ScoreOptions) -> None:
    """X-SVAMP accuracy: read the final number of each answer and compare it with the gold."""
    from trainer.score.svamp import score_svamp

    report = score_svamp(options)
    for warning in report.warnings:  # before the summary, where a reader of stderr sees it
        click.echo(f"Warning: {warning}", err=True)
    click.echo(report.text())
