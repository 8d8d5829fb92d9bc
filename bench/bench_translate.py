"""Translation throughput against a LibreTranslate-API server on 127.0.0.1 answering after 50 ms.

Baseline: deep-translator's own `LibreTranslator.translate_batch` (one request per text, one
after another). plugdata: `translate_file` with 16 requests in flight and a fresh cache, then the
same rows again from the cache. Both translate the same 2,000 GPT4-Alpaca-like rows (instruction and
response) to one language in one run.

    python bench/bench_translate.py [--rows 2000] [--runs 1] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from corpus import make_pair_files  # noqa: E402

from plugdata.pipeline.config import RunConfig  # noqa: E402
from plugdata.pipeline.translate_file import TranslateOptions, translate_file  # noqa: E402
from plugdata.sources.read import join_instruction  # noqa: E402
from tests.servers import LibreServer  # noqa: E402

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


def baseline(url: str, texts: list[str]) -> float:
    from deep_translator import LibreTranslator

    client = LibreTranslator(source="en", target="it", api_key="bench", custom_url=url + "/")
    started = time.perf_counter()
    client.translate_batch(texts)
    return time.perf_counter() - started


def ours(url: str, corpus: Path, out: Path, cache: Path, concurrency: int) -> tuple[float, object]:
    started = time.perf_counter()
    options = TranslateOptions(
        in_file=corpus,
        out=out,
        target="it",
        backend="deep-translator",
        options=["provider=libre", f"base_url={url}"],
        cache_path=cache,
        concurrency=concurrency,
    )
    result = translate_file(options, RunConfig(quiet=True))
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    os.environ.setdefault("LIBRE_API_KEY", "bench")
    results = {"baseline": [], "ours": [], "cached": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        en, _ = make_pair_files(args.rows, tmp / "corpus", vary_output=True)
        rows = [json.loads(line) for line in en.read_text("utf-8").splitlines()]
        texts = [
            t for r in rows for t in (join_instruction(r["instruction"], r["input"]), r["output"])
        ]
        for run in range(args.runs):
            with LibreServer(translate=fake_italian, delay=args.latency) as server:
                base_t = baseline(server.url, texts)
                base_requests = len(server.requests)
                base_chars = sum(len(r["q"]) for r in server.requests)
                server.requests.clear()
                cache = tmp / f"cache{run}.sqlite"
                ours_t, first = ours(server.url, en, tmp / "it.jsonl", cache, args.concurrency)
                ours_requests = len(server.requests)
                server.requests.clear()
                cached_t, _second = ours(server.url, en, tmp / "it2.jsonl", cache, args.concurrency)
                cached_requests = len(server.requests)
            results["baseline"].append(base_t)
            results["ours"].append(ours_t)
            results["cached"].append(cached_t)
            print(
                f"run {run + 1}: baseline {base_t:.1f}s ({base_requests} requests, "
                f"{base_chars:,} chars); plugdata {ours_t:.1f}s ({ours_requests} requests, "
                f"{first.report.stats.chars_sent:,} chars); from cache {cached_t:.2f}s "
                f"({cached_requests} requests)"
            )
    med = {k: statistics.median(v) for k, v in results.items()}
    speedups = [b / o for b, o in zip(results["baseline"], results["ours"], strict=True)]
    cache_speedups = [o / c for o, c in zip(results["ours"], results["cached"], strict=True)]
    latency = f"{args.latency * 1000:.0f} ms server latency"
    print(f"{args.rows} rows, {latency}, {args.concurrency} requests in flight")
    print(
        f"plugdata vs deep-translator loop: {statistics.median(speedups):.1f}x "
        f"(median {med['ours']:.1f}s vs {med['baseline']:.1f}s)"
    )
    print(
        f"cached rerun vs first pass: {statistics.median(cache_speedups):.0f}x "
        f"(median {med['cached']:.2f}s)"
    )


if __name__ == "__main__":
    main()
