"""Start-up: the wall time of `plugdata --help` in a fresh process, against a bare interpreter
(`python -c pass`), runs interleaved; medians of --runs. `--compare PATH` adds another checkout
(PYTHONPATH=PATH), interleaved too.

    python bench/bench_startup.py [--runs 10] [--compare CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import load, result  # noqa: E402


def timed(command: list[str], code: Path | None) -> float:
    env = {**os.environ, "PYTHONPATH": str(code)} if code else dict(os.environ)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=code or HERE, capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--compare", type=Path, help="another checkout, interleaved")
    args = parser.parse_args()
    cases = {
        "bare interpreter": ([sys.executable, "-c", "pass"], None),
        "plugdata --help": ([sys.executable, "-m", "plugdata.cli", "--help"], HERE.parent),
    }
    if args.compare:
        command = [sys.executable, "-m", "plugdata.cli", "--help"]
        cases["other checkout's --help"] = (command, args.compare.resolve())
    before = load()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, (command, code) in cases.items():
            times[name].append(timed(command, code))
    ms = {name: statistics.median(t) * 1000 for name, t in times.items()}
    for name, value in ms.items():
        print(f"{name}: median {value:.0f} ms (fastest {min(times[name]) * 1000:.0f} ms)")
    print(f"load {before} before, {load()} after")
    other = ms.get("other checkout's --help")
    result(
        f"`plugdata --help` **{ms['plugdata --help']:.0f} ms** (a bare interpreter "
        f"{ms['bare interpreter']:.0f} ms"
        + (f"; the other checkout {other:.0f} ms" if other else "")
        + f"), medians of {args.runs}",
        median_ms=ms,
    )


if __name__ == "__main__":
    main()
