"""Judging throughput of the whole `plugdata judge` command: ITEMS x 2 orders against a scripted
OpenAI-compatible judge on 127.0.0.1 answering after LATENCY, CONCURRENCY requests in flight.

What is timed is the command as a user runs it, in a fresh process (`python -m plugdata.cli
judge ...`): start-up and imports, reading and checking the answers, sending, the summary and the
chart. Its bound is requests x latency / concurrency (the judge's own time, perfectly
overlapped); the share of the bound is bound / measured (1.0: no overhead at all). Then the same
command again, every judgment from the cache.

Baseline: one request at a time (FastChat's loop, the same SDK). At 805 items it takes minutes,
so by default it runs on the first `--baseline-items` items and is scaled per request (said in
the output); `--skip-baseline` leaves it out.

Each run has its own temporary folder: the answers, OUT and a fresh judgment cache, with
$PLUGDATA_CACHE_DIR and $XDG_CACHE_HOME pointed there too, so a run never reads or writes the
user's cache. The judge runs in its own process, as a real server would, so it does not share
our GIL, and like one it keeps connections alive and accepts 32 at once (the tests' server
closes each and queues 5). `--code PATH` runs the command from another checkout
(PYTHONPATH=PATH); `--compare PATH` runs a second checkout in the same sitting, runs
interleaved, for an A/B.

    python bench/bench_judge.py [--items 805] [--latency 0.1] [--concurrency 32] [--runs 3]
        [--code PATH] [--compare PATH] [--baseline-items 50 | --skip-baseline]

The last line is `RESULT {json}`, for a runner script.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from report import result  # noqa: E402

from tests.servers import ChatServer  # noqa: E402

VERDICT = "Both are fine, A is clearer. [[A]]"  # what the scripted judge answers


def serve(conn, latency: float) -> None:
    """Child process: the scripted judge. "clear" answers the number of requests seen since
    the last "clear", then forgets them."""
    with ChatServer(translate=lambda text: VERDICT, delay=latency) as server:
        # A backlog of 5 connections (socketserver's default) drops the SYNs of the rest of 32
        # clients connecting at once, and each one dropped waits a second for the kernel's
        # retry; served judges (vLLM's uvicorn: 2048) do not.
        server.httpd.socket.listen(1024)
        # Connections kept alive, each answer sent at once (no Nagle delay behind its headers),
        # as served judges answer; the tests' server closes each connection.
        server.httpd.RequestHandlerClass.protocol_version = "HTTP/1.1"
        server.httpd.RequestHandlerClass.disable_nagle_algorithm = True
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


def write_inputs(folder: Path, items: int) -> None:
    ids = [f"x{i}" for i in range(items)]
    for name, rows in (
        ("q", [{"id": i, "instruction": f"Question {i}"} for i in ids]),
        ("a", [{"id": i, "output": f"answer one {i}"} for i in ids]),
        ("b", [{"id": i, "output": f"answer two {i}"} for i in ids]),
    ):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(code: Path, folder: Path, url: str, concurrency: int, out: str) -> dict:
    """`plugdata judge` from checkout `code`, in a fresh process: wall and CPU seconds."""
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "OPENAI_API_KEY": "bench",
        "PLUGDATA_CACHE_DIR": str(folder / "cache"),
        "XDG_CACHE_HOME": str(folder / "xdg"),
    }
    command = [
        sys.executable, "-m", "plugdata.cli", "judge",
        "--answers", folder / "a.jsonl", "--baseline", folder / "b.jsonl",
        "--questions", folder / "q.jsonl", "--judge-model", "judge", "--base-url", f"{url}/v1",
        "--out", folder / out, "--cache", folder / "cache" / "judgments.sqlite",
        "--concurrency", str(concurrency), "--quiet",
    ]  # fmt: skip
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run([str(c) for c in command], env=env, cwd=code, capture_output=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"plugdata judge ({code}) failed:\n{done.stderr.decode()[-3000:]}")
    return {"wall": wall, "cpu": children_cpu() - cpu}


def sequential_loop(url: str, items: int) -> float:
    """FastChat's loop: one request at a time, both orders of each item; seconds."""
    from openai import OpenAI

    from trainer.judge.verdicts import DEFAULT_PROMPT

    client = OpenAI(base_url=f"{url}/v1", api_key="bench", max_retries=0)
    started = time.perf_counter()
    for i in range(items):
        one, two = f"answer one x{i}", f"answer two x{i}"
        for a, b in ((one, two), (two, one)):
            client.chat.completions.create(
                model="judge",
                temperature=0,
                messages=[
                    {"role": "system", "content": DEFAULT_PROMPT.system},
                    {"role": "user", "content": DEFAULT_PROMPT.render(f"Question x{i}", a, b)},
                ],
            )
    return time.perf_counter() - started


def one_run(code: Path, server: JudgeProcess, args, bound: float) -> dict:
    """The command, then again from the cache, in a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bench-judge-") as tmp:
        folder = Path(tmp)
        write_inputs(folder, args.items)
        server.ask("clear")
        first = run_command(code, folder, server.url, args.concurrency, "out1")
        first["requests"] = server.ask("clear")
        cached = run_command(code, folder, server.url, args.concurrency, "out2")
        cached["requests"] = server.ask("clear")
        outputs = sorted(p.name for p in (folder / "out1").iterdir())
    return {"first": first, "cached": cached, "share": bound / first["wall"], "outputs": outputs}


def median_of(runs: list[dict], *path: str) -> float:
    def get(run: dict) -> float:
        for key in path:
            run = run[key]
        return run

    return statistics.median(get(r) for r in runs)


def summarise(label: str, code: Path, runs: list[dict], bound: float) -> dict:
    result = {
        "code": str(code),
        "runs": len(runs),
        "median_wall_s": median_of(runs, "first", "wall"),
        "median_cpu_s": median_of(runs, "first", "cpu"),
        "median_share_of_bound": median_of(runs, "share"),
        "median_cached_wall_s": median_of(runs, "cached", "wall"),
        "requests": runs[0]["first"]["requests"],
        "cached_requests": runs[0]["cached"]["requests"],
        "outputs": runs[0]["outputs"],
    }
    print(
        f"{label} ({code}): median {result['median_wall_s']:.2f} s, "
        f"{result['median_share_of_bound']:.0%} of the bound, CPU {result['median_cpu_s']:.2f} s; "
        f"from the cache {result['median_cached_wall_s']:.2f} s "
        f"({result['cached_requests']} requests); writes {', '.join(result['outputs'])}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=805)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout to run (PYTHONPATH)")
    parser.add_argument("--compare", type=Path, help="a second checkout, runs interleaved")
    parser.add_argument("--baseline-items", type=int, default=50)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    requests = args.items * 2
    bound = requests * args.latency / args.concurrency
    codes = {"code": args.code.resolve()}
    if args.compare:
        codes["compare"] = args.compare.resolve()
    load_before = os.getloadavg()
    print(
        f"{args.items} items x 2 orders = {requests} requests, judge latency "
        f"{args.latency * 1000:.0f} ms, {args.concurrency} concurrent: bound {bound:.2f} s "
        f"(requests x latency / concurrency); load average {load_before[0]:.2f}"
    )
    results: dict = {"items": args.items, "requests": requests, "latency_s": args.latency}
    results.update(concurrency=args.concurrency, bound_s=bound, load_before=load_before)
    with JudgeProcess(args.latency) as server:
        runs: dict[str, list[dict]] = {label: [] for label in codes}
        for n in range(1, args.runs + 1):
            for label, code in codes.items():  # interleaved: both see the same machine load
                run = one_run(code, server, args, bound)
                runs[label].append(run)
                print(
                    f"run {n} {label}: {run['first']['wall']:.2f} s ({run['first']['requests']} "
                    f"requests, {run['share']:.0%} of the bound), from the cache "
                    f"{run['cached']['wall']:.2f} s"
                )
        for label, code in codes.items():
            results[label] = summarise(label, code, runs[label], bound)
        if not args.skip_baseline:
            items = min(args.baseline_items, args.items)
            server.ask("clear")
            seconds = sequential_loop(server.url, items) * args.items / items
            results["sequential_s"] = seconds
            results["sequential_items_measured"] = items
            scaled = f", measured on {items} items, scaled per request" * (items < args.items)
            print(
                f"sequential loop (FastChat's): {seconds:.1f} s{scaled}; plugdata "
                f"{seconds / results['code']['median_wall_s']:.1f}x faster"
            )
    results["load_after"] = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {results['load_after'][0]:.2f}")
    result(headline(results), **results)


def headline(results: dict) -> str:
    """The results table's cell: the share of the bound, before and after when compared."""
    ours = results["code"]
    text = (
        f"{results['requests']:,} requests, {results['concurrency']} concurrent, "
        f"{results['latency_s'] * 1000:.0f} ms judge: whole command {ours['median_wall_s']:.2f} s "
        f"= {ours['median_share_of_bound']:.0%} of the bound ({results['bound_s']:.2f} s)"
    )
    if "compare" in results:
        other = results["compare"]
        text += (
            f"; --compare: {other['median_wall_s']:.2f} s = {other['median_share_of_bound']:.0%}"
        )
    return text


if __name__ == "__main__":
    main()
