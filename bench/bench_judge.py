"""Judging throughput: 805 items x 2 orders against a scripted OpenAI-compatible judge on
127.0.0.1 answering after 100 ms. Baseline: one request at a time (FastChat's loop, same SDK).
plugdata: `plugdata judge` with 32 concurrent requests; then the same run again from the cache.

    python bench/bench_judge.py [--items 805] [--latency 0.1] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.servers import ChatServer  # noqa: E402
from trainer.judge.run import JudgeOptions, judge  # noqa: E402
from trainer.judge.verdicts import DEFAULT_PROMPT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=805)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    with (
        tempfile.TemporaryDirectory() as tmp,
        ChatServer(
            translate=lambda text: "Both are fine, A is clearer. [[A]]", delay=args.latency
        ) as server,
    ):
        tmp = Path(tmp)
        ids = [f"x{i}" for i in range(args.items)]
        for name, rows in (
            ("q", [{"id": i, "instruction": f"Question {i}"} for i in ids]),
            ("a", [{"id": i, "output": f"answer one {i}"} for i in ids]),
            ("b", [{"id": i, "output": f"answer two {i}"} for i in ids]),
        ):
            (tmp / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
        from openai import OpenAI

        client = OpenAI(base_url=f"{server.url}/v1", api_key="bench", max_retries=0)
        started = time.perf_counter()
        for i in ids:
            for a, b in (
                (f"answer one {i}", f"answer two {i}"),
                (f"answer two {i}", f"answer one {i}"),
            ):
                client.chat.completions.create(
                    model="judge",
                    temperature=0,
                    messages=[
                        {"role": "system", "content": DEFAULT_PROMPT.system},
                        {"role": "user", "content": DEFAULT_PROMPT.render(f"Question {i}", a, b)},
                    ],
                )
        baseline = time.perf_counter() - started
        base_requests = len(server.requests)
        server.requests.clear()
        options = JudgeOptions(
            answers=tmp / "a.jsonl",
            baseline=tmp / "b.jsonl",
            questions=str(tmp / "q.jsonl"),
            judge_model="judge",
            base_url=f"{server.url}/v1",
            out=tmp / "out",
            concurrency=args.concurrency,
        )
        started = time.perf_counter()
        judge(options)
        ours = time.perf_counter() - started
        ours_requests = len(server.requests)
        server.requests.clear()
        started = time.perf_counter()
        judge(options)
        cached = time.perf_counter() - started
        cached_requests = len(server.requests)
    print(f"{args.items} items x 2 orders, {args.latency * 1000:.0f} ms judge latency")
    print(f"sequential loop: {baseline:.1f}s ({base_requests} requests)")
    print(
        f"plugdata, {args.concurrency} concurrent: {ours:.1f}s ({ours_requests} requests): "
        f"{baseline / ours:.1f}x"
    )
    print(f"plugdata from the cache: {cached:.2f}s ({cached_requests} requests)")


if __name__ == "__main__":
    main()
