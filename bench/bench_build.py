"""Whole build of one language (en/zh aligned by id, all five methods, parquet): throughput and
peak memory.

python bench/bench_build.py [--rows 52000 [200000 ...]] [--runs 3]

Each size runs in a fresh Python process, so its peak RSS is its own: the build process's
(`ru_maxrss`), and the largest of its worker processes'. The CPU seconds of both say how much
work there was apart from what else the machine ran meanwhile.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import make_pair_files, write_recipe


def one_size(rows: int, runs: int) -> dict:
    from plugdata.pipeline.build import build
    from plugdata.pipeline.recipe import load_recipe

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        en, zh = make_pair_files(rows, tmp / "corpus")
        recipe = write_recipe(tmp, en, zh)
        times = []
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        for run in range(runs):
            started = time.perf_counter()
            report = build(load_recipe(recipe), tmp / f"out{run}", progress=False)
            times.append(time.perf_counter() - started)
            print(f"  run {run + 1}: {times[-1]:.1f}s", file=sys.stderr)
    own, workers = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    ledger = report.ledgers["zh"]
    return {
        "rows": rows,
        "kept": ledger.kept,
        "written": sum(sum(s.values()) for s in report.configs.values()),
        "configs": len(report.configs),
        "median_s": statistics.median(times),
        "cpu_s": own.ru_utime + own.ru_stime - cpu.ru_utime - cpu.ru_stime,
        "worker_cpu_s": workers.ru_utime + workers.ru_stime,
        "peak_rss_mb": own.ru_maxrss / 1024,  # Linux: kilobytes
        "worker_peak_rss_mb": workers.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[52_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.rows[0], args.runs)))
        return
    for rows in args.rows:
        command = [sys.executable, __file__, "--one", "--rows", str(rows), "--runs", str(args.runs)]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        sys.stderr.write(done.stderr)
        r = json.loads(done.stdout.splitlines()[-1])
        print(
            f"{r['rows']:,} triples in, {r['kept']:,} kept, {r['written']:,} rows written in "
            f"{r['configs']} configs: median {r['median_s']:.1f}s over {args.runs} runs = "
            f"{r['rows'] / r['median_s']:,.0f} triples/s; CPU {r['cpu_s']:.1f}s here + "
            f"{r['worker_cpu_s']:.1f}s in workers; peak RSS {r['peak_rss_mb']:,.0f} MB "
            f"(largest worker {r['worker_peak_rss_mb']:,.0f} MB)",
            flush=True,
        )


if __name__ == "__main__":
    main()
