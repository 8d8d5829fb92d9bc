"""Judging throughput: 805 items x 2 orders against a scripted OpenAI-compatible judge on
127.0.0.1 answering after 100 ms. Baseline: one request at a time (FastChat's loop, same SDK).
plugdata: `plugdata judge` with 32 concurrent requests; then the same run again from the cache.
The judge runs in its own process, as a real server would, so it does not share our GIL.

    python bench/bench_judge.py [--items 805] [--latency 0.1] [--concurrency 32] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.servers import ChatServer  # noqa: E402
from trainer.judge.run import judge  # noqa: E402
from trainer.judge.verdicts import DEFAULT_PROMPT  # noqa: E402
from trainer.options import JudgeOptions  # noqa: E402


def serve(conn, latency: float) -> None:
    """Child process: the scripted judge. "clear" answers the number of requests seen since
    the last "clear", then forgets them."""
    with ChatServer(
        translate=lambda text: "Both are fine, A is clearer. [[A]]", delay=latency
    ) as server:
        conn.send(server.url)
        while (command := conn.recv()) != "stop":
            with server.lock:
                seen = len(server.requests)
                if command == "clear":
                    server.requests.clear()
            conn.send(seen)


class JudgeProcess:
    def __init__(self, latency: float):
        self._conn, child = multiprocessing.Pipe()
        self._proc = multiprocessing.get_context("fork").Process(
            target=serve, args=(child, latency), daemon=True
        )

    def __enter__(self):
        self._proc.start()
        self.url = self._conn.recv()
        return self

    def ask(self, command: str):
        self._conn.send(command)
        return self._conn.recv()

    def __exit__(self, *exc):
        self._conn.send("stop")
        self._proc.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=805)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    with (
        tempfile.TemporaryDirectory() as tmp,
        JudgeProcess(args.latency) as server,
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
        print(f"{args.items} items x 2 orders, {args.latency * 1000:.0f} ms judge latency")
        ratios = []
        for run in range(1, args.runs + 1):
            server.ask("clear")
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
                            {
                                "role": "user",
                                "content": DEFAULT_PROMPT.render(f"Question {i}", a, b),
                            },
                        ],
                    )
            baseline = time.perf_counter() - started
            base_requests = server.ask("clear")
            options = JudgeOptions(
                answers=tmp / "a.jsonl",
                baseline=tmp / "b.jsonl",
                questions=str(tmp / "q.jsonl"),
                judge_model="judge",
                base_url=f"{server.url}/v1",
                out=tmp / f"out{run}",
                # A fresh judgment cache per run, not the user's: the first judge() of each run
                # must ask every judgment, the second none.
                cache=tmp / f"judgments{run}.sqlite",
                concurrency=args.concurrency,
                quiet=True,
            )
            started = time.perf_counter()
            judge(options)
            ours = time.perf_counter() - started
            ours_requests = server.ask("clear")
            started = time.perf_counter()
            judge(options)
            cached = time.perf_counter() - started
            cached_requests = server.ask("clear")
            ratios.append(baseline / ours)
            print(
                f"run {run}: sequential loop {baseline:.1f}s ({base_requests} requests); "
                f"plugdata, {args.concurrency} concurrent, {ours:.1f}s ({ours_requests} "
                f"requests): {baseline / ours:.1f}x; from the cache {cached:.2f}s "
                f"({cached_requests} requests)"
            )
    print(f"median speed-up over {args.runs} run(s): {statistics.median(ratios):.1f}x")


if __name__ == "__main__":
    main()
