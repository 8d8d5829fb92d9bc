"""Whole build of one language at the paper's scale (52,000 triples, all methods, parquet).

python bench/bench_build.py [--rows 52000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import make_pair_files, write_recipe

from plugdata.build import build
from plugdata.recipe import load_recipe


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=52_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        en, zh = make_pair_files(args.rows, tmp / "corpus")
        recipe = write_recipe(tmp, en, zh)
        times = []
        for run in range(args.runs):
            started = time.perf_counter()
            report = build(load_recipe(recipe), tmp / f"out{run}", progress=False)
            times.append(time.perf_counter() - started)
            print(f"run {run + 1}: {times[-1]:.1f}s")
        ledger = report.ledgers["zh"]
        rows = sum(sum(s.values()) for s in report.configs.values())
        med = statistics.median(times)
        print(
            f"{args.rows} triples in, {ledger.kept} kept, {rows} rows written in "
            f"{len(report.configs)} configs"
        )
        print(f"median {med:.1f}s over {args.runs} runs = {args.rows / med:,.0f} triples/s")


if __name__ == "__main__":
    main()
