"""Every CPU benchmark, one after another, into one table: the numbers the README and
docs/benchmarks.md quote come from its output, re-measured, never edited by hand.

    python bench/run_all.py [--baseline CHECKOUT] [--only build judge ...] [--skip train]

Each benchmark runs in its own process (its servers in theirs), alone on the machine as far as
this script is concerned, with the machine's load recorded before and after it. `--baseline`
gives the benchmarks that can alternate two checkouts (build, translate, judge) the code to
measure against, in the same sitting. Writes bench/results/<date>.md (the table, the machine, the
commit) and <date>.json, and each benchmark's whole output beside them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import load, parse  # noqa: E402

# name: (script, its arguments, how a baseline checkout is measured beside it: the flag that
# alternates two checkouts, "--code" for a second run of the script on the baseline's code, or
# None where the baseline does not apply)
BENCHMARKS: dict[str, tuple[str, list[str], str | None]] = {
    "startup": ("bench_startup.py", ["--runs", "10"], "--compare"),
    "lid": ("bench_lid.py", ["--rows", "2000", "--runs", "3"], None),
    "build": (
        "bench_build.py",
        ["--rows", "52000", "--runs", "3", "--alignment", "off"],
        "--compare",
    ),
    "build-1-worker": (
        "bench_build.py",
        ["--rows", "52000", "--runs", "3", "--alignment", "off", "--workers", "1"],
        None,
    ),
    "build-1m": (
        "bench_build.py",
        ["--rows", "1000000", "--runs", "1", "--alignment", "off"],
        "--compare",
    ),
    "build-ray": (
        "bench_build.py",
        # One build a process: each pays Ray's start, as a user's run does.
        [
            "--rows",
            "52000",
            "--runs",
            "1",
            "--rounds",
            "2",
            "--alignment",
            "off",
            "--executor",
            "ray",
        ],
        "--compare",
    ),
    "translate": ("bench_translate.py", ["--rows", "500", "--runs", "3"], "--code"),
    "judge": ("bench_judge.py", ["--items", "805", "--runs", "3"], "--compare"),
    "alignment": ("bench_alignment.py", [], None),
    "padding": ("bench_padding.py", ["--runs", "3"], None),
    "train": ("bench_train.py", ["--runs", "3"], None),
}


BASELINE: Path | None = None  # --baseline


def machine() -> dict:
    cpu = ""
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
        memory = Path("/proc/meminfo").read_text().split()[1]
        memory_gib = f"{int(memory) / 2**20:.0f} GiB"
    except OSError:
        memory_gib = "?"
    return {
        "cores": len(os.sched_getaffinity(0)),
        "memory": memory_gib,
        "cpu": cpu,
        "python": platform.python_version(),
    }


def commit(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "?"


def run_one(name: str, baseline: Path | None, logs: Path) -> list[dict]:
    """The benchmark's row, and with a baseline that `--code` measures, the baseline's row."""
    script, args, compare = BENCHMARKS[name]
    command = [sys.executable, str(HERE / script), *args]
    if baseline is None or compare is None:
        return [_run(name, command, logs)]
    if compare == "--code":
        return [
            _run(name, command, logs),
            _run(f"{name}-baseline", [*command, "--code", str(baseline)], logs),
        ]
    return [_run(name, [*command, compare, str(baseline)], logs)]


def scrub(text: str, baseline: Path | None) -> str:
    """`text` without a local path: this checkout is `.`, the baseline `BASELINE`, a temporary
    folder `<tmp>` (results are committed and published with the docs)."""
    if baseline is not None:
        text = text.replace(str(baseline.resolve()), "BASELINE").replace(str(baseline), "BASELINE")
    text = text.replace(str(HERE.parent), ".")
    return re.sub(r"(?<![\w.])/tmp/[^\s\"',;)]*", "<tmp>", text)


def shown(command: list[str]) -> str:
    """The command as the table shows it: no local path (the baseline is named in the header)."""
    words = ["python", f"bench/{Path(command[1]).name}"]
    for word in command[2:]:
        words.append("BASELINE" if Path(word).is_absolute() else word)
    return " ".join(words)


def _run(name: str, command: list[str], logs: Path) -> dict:
    before, started = load(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
    seconds, after = time.perf_counter() - started, load()
    (logs / f"{name}.log").write_text(scrub(done.stdout + done.stderr, BASELINE), "utf-8")
    found = parse(done.stdout) if done.returncode == 0 else None
    return {
        "name": name,
        "command": shown(command),
        "exit": done.returncode,
        "seconds": round(seconds, 1),
        "load_before": before,
        "load_after": after,
        "result": found,
    }


def table(rows: list[dict], header: dict) -> str:
    lines = [
        f"# Benchmarks of {header['date']}",
        "",
        f"Commit {header['commit']}"
        + (f", against BASELINE = {header['baseline']}" if header.get("baseline") else "")
        + f"; {header['machine']['cores']} cores, {header['machine']['memory']}, "
        f"{header['machine']['cpu']}, Python {header['machine']['python']}.",
        "",
        "| benchmark | result | load before / after | minutes |",
        "|---|---|---|---|",
    ]
    for row in rows:
        if row["result"] is None:
            cell = f"failed (exit {row['exit']}): see {row['name']}.log"
        else:
            cell = row["result"].get("headline") or json.dumps(row["result"])
        lines.append(
            f"| `{row['command']}` | {cell} | {row['load_before']:.2f} / "
            f"{row['load_after']:.2f} | {row['seconds'] / 60:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a checkout to measure against")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--skip", nargs="+", choices=list(BENCHMARKS), default=[])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    global BASELINE
    BASELINE = args.baseline
    date = datetime.date.today().isoformat()
    logs = args.out / date
    logs.mkdir(parents=True, exist_ok=True)
    header = {
        "date": date,
        "commit": commit(HERE.parent),
        "baseline": commit(args.baseline) if args.baseline else None,
        "machine": machine(),
    }
    rows = []
    for name in args.only:
        if name in args.skip:
            continue
        print(f"{name} ...", file=sys.stderr, flush=True)
        for row in run_one(name, args.baseline, logs):
            rows.append(row)
            cell = (row["result"] or {}).get("headline", "failed")
            print(f"  {row['name']}: {cell}", file=sys.stderr, flush=True)
    text = json.dumps({**header, "benchmarks": rows}, indent=2, ensure_ascii=False) + "\n"
    (args.out / f"{date}.json").write_text(scrub(text, args.baseline), encoding="utf-8")
    (args.out / f"{date}.md").write_text(table(rows, header), encoding="utf-8")
    print(table(rows, header))
    return 0 if all(row["result"] is not None for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
