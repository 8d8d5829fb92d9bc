"""`bench/run_all.py`: the table it writes names no local path, and it reads each benchmark's
last RESULT line."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import run_all  # noqa: E402
from report import parse  # noqa: E402


def test_results_name_no_local_path():
    baseline = Path("/home/someone/plugdata-old")
    text = (
        f'{{"code": "{ROOT}", "other": "{baseline}/plugdata", '
        '"log": "wrote /tmp/tmpab12cd/out/zh.jsonl, done"}'
    )
    assert run_all.scrub(text, baseline) == (
        '{"code": ".", "other": "BASELINE/plugdata", "log": "wrote <tmp>, done"}'
    )
    command = [sys.executable, str(ROOT / "bench/bench_build.py"), "--rows", "5", "--compare"]
    assert run_all.shown([*command, str(baseline)]) == (
        "python bench/bench_build.py --rows 5 --compare BASELINE"
    )


def test_the_last_result_line_is_the_benchmark_s():
    out = 'warming up\nRESULT {"headline": "old"}\nmore\nRESULT {"headline": "x", "n": 2}\n'
    assert parse(out) == {"headline": "x", "n": 2}
    assert parse("no result here\n") is None
