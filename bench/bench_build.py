"""Whole build of one language (en/zh aligned by id, all five methods, parquet): throughput and
peak memory.

python bench/bench_build.py [--rows 52000 [200000 ...]] [--runs 3] [--code CHECKOUT]
python bench/bench_build.py --compare ../before --rows 52000 --runs 3 --rounds 2

Each size runs in a fresh Python process, so its peak RSS is its own: the build process's
(`ru_maxrss`), and the largest of its worker processes'. The CPU seconds of both say how much
work there was apart from what else the machine ran meanwhile. `--code` measures another
checkout of plugdata (one from before a change); `--compare` alternates this checkout and
another, size by size, so both meet the same load on the machine, and prints their ratio.
The load average before each measurement is printed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus import make_pair_files, write_recipe  # noqa: E402
from report import result  # noqa: E402

EXECUTOR = "local"  # --executor
WORKERS: int | None = None  # --workers (None: the build's default, one per core)


def _build_function():
    """`build` and the keyword that silences it, in this checkout or in one from before the
    run configuration (`--code`)."""
    try:
        from plugdata.pipeline.build import build
        from plugdata.pipeline.config import RunConfig
        from plugdata.pipeline.recipe import load_recipe

        return (
            build,
            load_recipe,
            {"config": RunConfig(quiet=True, executor=EXECUTOR, workers=WORKERS)},
        )
    except ImportError:  # a checkout from before plugdata/ was grouped by role
        from plugdata.build import build
        from plugdata.recipe import load_recipe

        return build, load_recipe, {"progress": False}


# Every row reaches the agreement check (no language or length check refuses it first) and
# passes it, as nearly every pair of a corpus of real translations does: the benchmark's pairs
# are not translations, and a build that kept none of them would write less than a real one.
EVERY_ROW = "{check_lid: false, length_ratio: [0, 1000]}"
EVERY_ROW_ALIGNMENT = "alignment: {min_score: {default: -2}}"


def one_size(rows: int, runs: int, alignment: str = "on", every_row: bool = False) -> dict:
    """`alignment`: `off`, `on` (each run with an empty alignment cache: a cold build) or
    `warm` (the runs after a first that fills the cache: a rebuild). `every_row`: no other
    check refuses a row first, no two rows share a text and every pair passes, so that both
    fields of every row are scored and every row is written, as in a corpus of real
    translations (the benchmark's pairs are not)."""
    import os

    build, load_recipe, quiet = _build_function()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        en, zh = make_pair_files(rows, tmp / "corpus", unique=every_row)
        validation = EVERY_ROW if every_row else ""
        setting = "alignment: off" if alignment == "off" else EVERY_ROW_ALIGNMENT * every_row
        if setting:
            validation = (validation[:-1] + ", " if validation else "{") + setting + "}"
        recipe = write_recipe(tmp, en, zh, validation=validation)
        os.environ["PLUGDATA_CACHE_DIR"] = str(tmp / "cache")  # never the user's
        if alignment == "warm":  # one build fills the cache; the timed ones read it
            build(load_recipe(recipe), tmp / "fill", **quiet)
        times = []
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # not the filling build's
        for run in range(runs):
            if alignment == "on":  # cold: nothing scored before
                for old in (tmp / "cache").glob("alignment.sqlite*"):
                    old.unlink()
            started = time.perf_counter()
            report = build(load_recipe(recipe), tmp / f"out{run}", **quiet)
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
        "agreement": getattr(report, "alignment", ""),  # the summary's line (none before it)
        "median_s": statistics.median(times),
        "cpu_s": own.ru_utime + own.ru_stime - cpu.ru_utime - cpu.ru_stime,
        "worker_cpu_s": workers.ru_utime + workers.ru_stime - children.ru_utime - children.ru_stime,
        "peak_rss_mb": own.ru_maxrss / 1024,  # Linux: kilobytes
        "worker_peak_rss_mb": workers.ru_maxrss / 1024,
    }


def measure(code: Path, rows: int, runs: int, flags: list[str]) -> dict:
    """One size in a fresh process on checkout `code`, with this run's `flags`."""
    command = [sys.executable, __file__, "--one", "--rows", str(rows), "--runs", str(runs)]
    command += flags
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    sys.stderr.write(done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def line(label: str, r: dict, runs: int) -> str:
    return (
        f"{label}{r['rows']:,} triples in, {r['kept']:,} kept, {r['written']:,} rows written in "
        f"{r['configs']} configs: median {r['median_s']:.1f}s over {runs} runs = "
        f"{r['rows'] / r['median_s']:,.0f} triples/s; CPU {r['cpu_s']:.1f}s here + "
        f"{r['worker_cpu_s']:.1f}s in workers; peak RSS {r['peak_rss_mb']:,.0f} MB "
        f"(largest worker {r['worker_peak_rss_mb']:,.0f} MB); load {os.getloadavg()[0]:.2f}"
        + (f"; {r['agreement']}" if r.get("agreement") else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[52_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code", type=Path, default=HERE.parent, help="checkout to measure")
    parser.add_argument("--compare", type=Path, help="another checkout, alternated with --code")
    parser.add_argument("--rounds", type=int, default=1, help="alternations with --compare")
    parser.add_argument(
        "--alignment",
        choices=["on", "warm", "off"],
        default="on",
        help="on: scored, each run from an empty cache; warm: from a filled cache; off",
    )
    parser.add_argument(
        "--every-row",
        action="store_true",
        help="no other check refuses a row first: both fields of every row are scored",
    )
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--workers", type=int, help="worker processes (default: the build's)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    global EXECUTOR, WORKERS
    EXECUTOR, WORKERS = args.executor, args.workers
    if args.one:
        print(json.dumps(one_size(args.rows[0], args.runs, args.alignment, args.every_row)))
        return
    code = args.code.resolve()
    flags = ["--alignment", args.alignment, "--executor", args.executor]
    flags += ["--workers", str(args.workers)] if args.workers else []
    flags += ["--every-row"] if args.every_row else []
    cells, numbers = [], []
    for rows in args.rows:
        if args.compare is None:
            r = measure(code, rows, args.runs, flags)
            print(line(f"alignment {args.alignment}: ", r, args.runs), flush=True)
            cells.append(
                f"{rows:,} rows: {r['rows'] / r['median_s']:,.0f} triples/s, peak RSS "
                f"{r['peak_rss_mb'] / 1024:.2f} GB"
            )
            numbers.append(r)
            continue
        ratios, pairs = [], []
        for round_ in range(args.rounds):
            other = measure(args.compare.resolve(), rows, args.runs, flags)
            print(line(f"round {round_ + 1} other: ", other, args.runs), flush=True)
            this = measure(code, rows, args.runs, flags)
            print(line(f"round {round_ + 1} this:  ", this, args.runs), flush=True)
            ratios.append(other["median_s"] / this["median_s"])
            pairs.append({"this": this, "other": other})
            print(f"round {round_ + 1}: this checkout's throughput / other's = {ratios[-1]:.3f}")
        this, other = pairs[-1]["this"], pairs[-1]["other"]
        cells.append(
            f"{rows:,} rows: **{statistics.median(ratios):.2f}x** the other checkout's throughput"
            f" (rounds {', '.join(f'{r:.2f}' for r in ratios)}); "
            f"{this['rows'] / this['median_s']:,.0f} vs {other['rows'] / other['median_s']:,.0f}"
            f" triples/s, peak RSS {this['peak_rss_mb'] / 1024:.2f} vs "
            f"{other['peak_rss_mb'] / 1024:.2f} GB"
        )
        numbers.append({"rows": rows, "ratios": ratios, "rounds": pairs})
    workers = f", {args.workers} workers" if args.workers else ""
    label = (
        f"{args.executor} executor{workers}, alignment {args.alignment}, medians of {args.runs}: "
    )
    result(label + "; ".join(cells), sizes=numbers)


if __name__ == "__main__":
    main()
