"""Translation throughput against a LibreTranslate-API server on 127.0.0.1 (the tests'
`LibreServer`, in its own process, speaking HTTP/1.1 keep-alive as a real server does; each
answer after `--latency` seconds).

plugdata: `translate_file` with `--concurrency` requests in flight, each repetition with a fresh
cache in a temporary folder, then the same rows again from that cache. Reported against the
bound a perfect client reaches, requests x latency / concurrency: "share of bound" = bound /
measured (1.0 = nothing but the server's latency). Baseline: deep-translator's own
`LibreTranslator.translate_batch` (one request per text, one after another), timed on the first
`--baseline-texts` texts and scaled per request to the requests plugdata sent (`--skip-baseline`
leaves it out). "A bare client": the share that threads doing nothing but POST reach against
the same server, what the machine and server allow. `--code PATH` imports plugdata from another
checkout (A/B); the server, corpus and this script are this checkout's. Ends with one line
`RESULT {json}` for scripts.

    python bench/bench_translate.py [--rows 500] [--runs 3] [--latency 0.05]
        [--concurrency 16 64] [--baseline-texts 100 | --skip-baseline] [--code ../other-checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_ITALIAN = [
    "il",
    "la",
    "che",
    "di",
    "un",
    "una",
    "per",
    "con",
    "non",
    "sono",
    "questo",
    "quella",
    "molto",
    "come",
    "anche",
    "quando",
    "dove",
    "perché",
    "tutto",
    "sempre",
    "ancora",
    "nostro",
    "vostro",
    "loro",
    "essere",
    "avere",
    "fare",
    "dire",
]
_KEPT = re.compile(r"⟦\d+⟧|\S*\d\S*")  # protected tokens and numbers, which checks compare


def fake_italian(text: str) -> str:
    """Stands in for a model: keeps every line, protected token and number, and writes Italian
    words for the rest, so that the content checks pass its rows as a real translation's (an
    answer they rejected would stop the run as a broken service)."""

    def line(words: str) -> str:
        return " ".join(
            w if _KEPT.fullmatch(w) else _ITALIAN[i % len(_ITALIAN)]
            for i, w in enumerate(words.split(" "))
        )

    return "\n".join(line(x) if x.strip() else x for x in text.split("\n"))


# The server process: this checkout's LibreServer, answering with `fake_italian`, HTTP/1.1.
_SERVER = """
import sys, time
sys.path[:0] = [{root!r}, {bench!r}]
from bench_translate import fake_italian
from tests.servers import LibreServer
server = LibreServer(translate=fake_italian, delay={latency!r})
handler = server.httpd.RequestHandlerClass
handler.protocol_version = "HTTP/1.1"  # keep-alive, as a real server
# It writes headers and body apart: without TCP_NODELAY, Nagle's algorithm and the client's
# delayed ACK would hold every answer on a kept-alive connection for 40 ms more.
handler.disable_nagle_algorithm = True
server.httpd.socket.listen(256)  # room for every connection opened at once (default: 5)
with server:
    print(server.url, flush=True)
    sys.stdin.read()  # until the benchmark closes it
"""


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    code = _SERVER.format(root=str(ROOT), bench=str(ROOT / "bench"), latency=latency)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    return proc, proc.stdout.readline().strip()


def baseline(url: str, texts: list[str]) -> float:
    """Seconds per request of deep-translator's own loop over `texts`."""
    from deep_translator import LibreTranslator

    client = LibreTranslator(source="en", target="it", api_key="bench", custom_url=url + "/")
    started = time.perf_counter()
    client.translate_batch(texts)
    return (time.perf_counter() - started) / len(texts)


def bare_client(url: str, requests_: int, concurrency: int, latency: float) -> float:
    """Share of the bound that a client doing nothing but send reaches here (one kept
    connection per thread, a fixed text): what this machine and this server allow."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    local = threading.local()

    def one(i: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        form = {"q": f"Sentence {i}.", "source": "en", "target": "it"}
        local.session.post(url + "/translate", data=form, timeout=30).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests_)))
    return requests_ * latency / concurrency / (time.perf_counter() - started)


def ours(url: str, corpus: Path, out: Path, cache: Path, concurrency: int) -> tuple[float, object]:
    from plugdata.pipeline.config import RunConfig
    from plugdata.pipeline.translate_file import TranslateOptions, translate_file

    options = TranslateOptions(
        in_file=corpus,
        out=out,
        target="it",
        backend="deep-translator",
        options=["provider=libre", f"base_url={url}"],
        cache_path=cache,
        concurrency=concurrency,
    )
    started = time.perf_counter()
    result = translate_file(options, RunConfig(quiet=True))
    return time.perf_counter() - started, result


def measure(url: str, corpus: Path, tmp: Path, concurrency: int, latency: float) -> dict:
    """One repetition at one concurrency: a fresh cache, then the same rows from it."""
    with tempfile.TemporaryDirectory(dir=tmp) as rep:
        rep = Path(rep)
        cpu = time.process_time()
        seconds, first = ours(url, corpus, rep / "it.jsonl", rep / "cache.sqlite", concurrency)
        cpu = time.process_time() - cpu
        cached, _ = ours(url, corpus, rep / "it2.jsonl", rep / "cache.sqlite", concurrency)
    requests = first.report.stats.requests
    bound = requests * latency / concurrency
    return {
        "bare_client_share": bare_client(url, requests, concurrency, latency),
        "seconds": seconds,
        "requests": requests,
        "chars": first.report.stats.chars_sent,
        "bound": bound,
        "share_of_bound": bound / seconds,
        # CPU of this process (every thread) for the run: what load on the machine cannot blur.
        "cpu_seconds": cpu,
        "cached_seconds": cached,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--baseline-texts", type=int, default=100)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--code", type=Path, help="a checkout whose plugdata to measure")
    args = parser.parse_args()
    code = (args.code or ROOT).resolve()
    sys.path[:0] = [str(code), str(ROOT / "bench")]
    from corpus import make_pair_files

    import plugdata
    from plugdata.sources.read import join_instruction

    os.environ.setdefault("LIBRE_API_KEY", "bench")
    load_before = os.getloadavg()
    result: dict = {"code": str(code), "plugdata": str(Path(plugdata.__file__).parent)}
    result.update(rows=args.rows, latency=args.latency, runs=args.runs)
    server, url = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            en, _ = make_pair_files(args.rows, tmp / "corpus", vary_output=True)
            rows = [json.loads(line) for line in en.read_text("utf-8").splitlines()]
            texts = [
                t
                for r in rows
                for t in (join_instruction(r["instruction"], r["input"]), r["output"])
            ]
            runs = {c: [] for c in args.concurrency}
            for _ in range(args.runs):  # concurrencies alternate within each round
                for c in args.concurrency:
                    runs[c].append(measure(url, en, tmp, c, args.latency))
            per_request = None
            if not args.skip_baseline:
                per_request = baseline(url, texts[: args.baseline_texts])
    finally:
        server.stdin.close()
        server.wait()
    result["load_before"], result["load_after"] = load_before, os.getloadavg()
    result["concurrency"] = {}
    for c, reps in runs.items():
        med = {k: statistics.median(r[k] for r in reps) for k in reps[0]}
        med["share_of_bound_each"] = [round(r["share_of_bound"], 3) for r in reps]
        if per_request is not None:
            med["baseline_seconds_scaled"] = per_request * med["requests"]
            med["speedup_vs_baseline"] = med["baseline_seconds_scaled"] / med["seconds"]
        result["concurrency"][c] = med
        print(
            f"concurrency {c}: {med['seconds']:.2f} s (median of {len(reps)}), "
            f"{med['requests']:.0f} requests, bound {med['bound']:.2f} s, share of bound "
            f"{med['share_of_bound']:.2f} {med['share_of_bound_each']} (a bare client: "
            f"{med['bare_client_share']:.2f}); {med['cpu_seconds']:.2f} s of CPU; from cache "
            f"{med['cached_seconds']:.2f} s"
            + (
                f"; deep-translator loop (scaled) {med['baseline_seconds_scaled']:.1f} s, "
                f"{med['speedup_vs_baseline']:.1f}x"
                if per_request is not None
                else ""
            )
        )
    if per_request is not None:
        result["baseline_seconds_per_request"] = per_request
        result["baseline_texts"] = min(args.baseline_texts, len(texts))
        print(
            f"baseline: deep-translator loop, {per_request * 1000:.1f} ms a request over the "
            f"first {result['baseline_texts']} texts, scaled to plugdata's requests"
        )
    print(
        f"{args.rows} rows, {args.latency * 1000:.0f} ms latency, plugdata from {code}; load "
        f"{load_before[0]:.2f} before, {result['load_after'][0]:.2f} after"
    )
    cells = [
        f"{c}: **{m['share_of_bound']:.2f}** of the bound ({m['seconds']:.2f} s for "
        f"{m['requests']:.0f} requests; a bare client {m['bare_client_share']:.2f})"
        + (f", {m['speedup_vs_baseline']:.1f}x deep-translator's loop" if per_request else "")
        for c, m in result["concurrency"].items()
    ]
    headline = f"{args.rows} rows, {args.latency * 1000:.0f} ms a request, at concurrency "
    headline += "; ".join(cells) + f"; from the cache {med['cached_seconds']:.2f} s"
    print("RESULT " + json.dumps({"headline": headline, **result}))


if __name__ == "__main__":
    main()
