"""Training memory and speed on CPU: peak RSS and tokens/s of `plugdata train --preset quick`
(what `plugdata.cli train` runs: `build_trainer` then `trainer.train()`) on SmolLM2-135M.

Rows: `zh-plug` built from GPT4-Alpaca-length en/zh pairs (corpus.py), so the first,
length-grouped batch holds the longest rows, cut at --max-length. Each run is a fresh
subprocess; its peak RSS is the kernel's `ru_maxrss` for that process (os.wait4). tokens/s
counts real (non-pad) tokens over `train_runtime`. Medians of --runs.

    python bench/bench_train.py [--runs 3] [--max-steps 3] [--rows 256] [--max-length 1024]
    python bench/bench_train.py --code ../train-before     # the same, on another checkout
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHILD = """
import json, sys
from trainer.options import TrainOptions
from trainer.train import build_trainer
options = json.loads(sys.argv[1])
# Training alone is timed: no validation pass inside train_runtime (a checkout from before
# evaluation during training has no such option).
if "evaluate" in TrainOptions.model_fields:
    options["evaluate"] = False
built = build_trainer(TrainOptions(**options))
# A checkout from before build_trainer returned a TrainingSetup (--code) gave a tuple.
trainer, hp = (built.trainer, built.hyperparameters) if hasattr(built, "trainer") else built[:2]
metrics = trainer.train().metrics
tokens = [e["num_tokens"] for e in trainer.state.log_history if "num_tokens" in e][-1]
print("RESULT", json.dumps({"seconds": metrics["train_runtime"], "tokens": tokens, **hp}))
"""


def one_run(code: Path, options: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(options)],
        cwd=code,  # `python -c` puts the working directory first on sys.path
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    lines = [x for x in stdout.splitlines() if x.startswith("RESULT ")]
    if status != 0 or not lines:
        sys.exit(f"training run failed (status {status}):\n{stdout[-2000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["peak_rss_gib"] = usage.ru_maxrss / 2**20  # KiB on Linux
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=3)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--code", type=Path, default=HERE.parent, help="checkout to measure")
    args = parser.parse_args()

    from corpus import UNSCORED, make_pair_files, write_recipe
    from smollm2 import convert

    from plugdata.pipeline.build import build
    from plugdata.pipeline.config import RunConfig
    from plugdata.pipeline.recipe import load_recipe

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        en, zh = make_pair_files(args.rows, tmp / "corpus")
        build(
            load_recipe(write_recipe(tmp, en, zh, validation=UNSCORED)),
            tmp / "out",
            config=RunConfig(quiet=True),
        )
        model = convert(tmp / "smollm2")
        options = {
            "dataset": str(tmp / "out" / "bench-scale"),
            "config": "zh-plug",
            "model": str(model),
            "preset": "quick",
            "max_steps": args.max_steps,
            "max_length": args.max_length,
        }
        results = [
            one_run(args.code.resolve(), {**options, "output_dir": str(tmp / f"run{i}")})
            for i in range(args.runs)
        ]
    hp = results[0]
    rss = statistics.median(r["peak_rss_gib"] for r in results)
    speed = statistics.median(r["tokens"] / r["seconds"] for r in results)
    print(
        f"SmolLM2-135M, preset quick, {args.max_steps} steps of batch {hp['effective_batch_size']}"
        f" x <= {hp['max_length']} tokens, loss average {hp['loss_average']}, gradient "
        f"checkpointing {hp['gradient_checkpointing']}; median of {args.runs} runs"
    )
    print(f"peak RSS {rss:.2f} GiB; {speed:,.0f} real tokens/s")
    from report import result

    result(
        f"`--preset quick`, SmolLM2-135M on CPU: peak RSS {rss:.2f} GiB, {speed:,.0f} real "
        f"tokens/s (medians of {args.runs})",
        peak_rss_gib=rss,
        tokens_per_s=speed,
    )


if __name__ == "__main__":
    main()
