"""Language validation: plugdata's validator against a langdetect-once-per-field baseline.

Speed: both judge the same training rows in one run: en/zh triples with GPT4-Alpaca lengths
(see corpus.py); the baseline runs langdetect on each of the four fields, plugdata runs its
whole `Validator.check` (language-ID on prose plus every other check) on the build's executor,
in one process and in as many as the build uses.
Accuracy: the 805 X-AlpacaEval instructions in en/zh/ko/it/es (professional translations):
share of fields accepted as their own language, and share flagged when checked against another
language (a Spanish text in an Italian field, ...); and the 999 GPT4-Alpaca English instructions
(short, plain English: "Create an AI chatbot") accepted as English.

    python bench/bench_lid.py [--rows 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import ALPACA, XAE, make_pair_files
from report import result

from plugdata.checks.validate import Validator
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.executor import make_executor

LANGS = ["en", "zh", "ko", "it", "es"]


FIELDS = {
    "pivot_instruction": "en",
    "pivot_response": "en",
    "target_instruction": "zh",
    "target_response": "zh",
}


def load_xae() -> dict[str, list[str]]:
    return {
        lang: [r["instruction"] for r in json.loads((XAE / f"{lang}.json").read_text("utf-8"))]
        for lang in LANGS
    }


def load_alpaca_instructions() -> list[str]:
    rows = json.loads((ALPACA / "alpaca_en_demo.json").read_text("utf-8"))
    return [r["instruction"] for r in rows]


def load_triples(n: int) -> list[dict[str, str]]:
    from plugdata.sources.read import join_instruction

    with tempfile.TemporaryDirectory() as tmp:
        en_path, zh_path = make_pair_files(n, Path(tmp))
        en = [json.loads(x) for x in en_path.read_text("utf-8").splitlines()]
        zh = [json.loads(x) for x in zh_path.read_text("utf-8").splitlines()]
    return [
        {
            "id": str(a["id"]),
            "pivot_lang": "en",
            "target_lang": "zh",
            "pivot_instruction": join_instruction(a["instruction"], a["input"]),
            "pivot_response": a["output"],
            "target_instruction": join_instruction(b["instruction"], b["input"]),
            "target_response": b["output"],
        }
        for a, b in zip(en, zh, strict=True)
    ]


class Baseline:
    """What a one-off script does: langdetect on the raw field, pass when the label matches."""

    def __init__(self) -> None:
        from langdetect import DetectorFactory

        DetectorFactory.seed = 0

    def passes(self, text: str, expected: str) -> bool:
        from langdetect import detect
        from langdetect.lang_detect_exception import LangDetectException

        try:
            label = detect(text)
        except LangDetectException:
            return False
        return label.split("-")[0] == expected


class Ours:
    def __init__(self) -> None:
        self.validator = Validator()

    def passes(self, text: str, expected: str) -> bool:
        return self.validator.check_language(text, expected).passed


def time_baseline(judge: Baseline, triples) -> float:
    started = time.perf_counter()
    for triple in triples:
        for name, lang in FIELDS.items():
            judge.passes(triple[name], lang)
    return time.perf_counter() - started


class CheckJob:
    """Every check a build makes of a triple, as a job of the build's executor."""

    def __init__(self, validator: Validator) -> None:
        self.validator = validator

    def run(self, triples: list[dict]) -> list:
        return [self.validator.check(t) for t in triples]


def time_ours(triples, workers: int) -> float:
    """Every check, over `workers` processes of the executor a build uses (its parts of
    `task_rows` triples, as a build's chunks are cut); with more than one, in the workers even
    where the build would check so few rows in its own process (`inline_rows`)."""
    config = RunConfig(workers=workers, quiet=True, inline_rows=0 if workers > 1 else 512)
    job = CheckJob(Validator())  # fresh: no verdicts remembered
    started = time.perf_counter()
    with make_executor(config) as executor:
        if executor.runs_here(len(triples)):
            verdicts = job.run(triples)
        else:
            pool = executor.pool(job)
            size = config.task_rows
            parts = [pool.submit(triples[i : i + size]) for i in range(0, len(triples), size)]
            verdicts = [v for part in parts for v in part.get()]
            pool.close()
    elapsed = time.perf_counter() - started
    assert len(verdicts) == len(triples)
    return elapsed


def accuracy(judge, xae) -> dict[str, tuple[float, float]]:
    out = {}
    for lang in LANGS:
        accepted = sum(judge.passes(t, lang) for t in xae[lang]) / len(xae[lang])
        swapped = [(t, lang) for other in LANGS if other != lang for t in xae[other]]
        flagged = sum(not judge.passes(t, lang) for t, lang in swapped) / len(swapped)
        out[lang] = (accepted, flagged)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    xae, triples = load_xae(), load_triples(args.rows)
    ours, base = Ours(), Baseline()
    for judge in (ours, base):  # load models and profiles before timing (and forking)
        judge.passes("Load the model first.", "en")
    workers = make_executor(RunConfig()).workers
    times: dict[str, list[float]] = {"serial": [], "parallel": [], "baseline": []}
    for _ in range(args.runs):
        times["serial"].append(time_ours(triples, 1))
        times["parallel"].append(time_ours(triples, workers))
        times["baseline"].append(time_baseline(base, triples))
    fields = len(triples) * len(FIELDS)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{len(triples)} triples ({fields} fields), {args.runs} runs, medians")
    print(
        f"langdetect once per field:            {med['baseline']:6.2f}s "
        f"({fields / med['baseline']:,.0f} fields/s)"
    )
    here = make_executor(RunConfig()).runs_here(len(triples))
    print(f"the build's default for {len(triples)} triples: {'1 process' if here else 'workers'}")
    for key, label in (
        ("serial", "plugdata, 1 process"),
        ("parallel", f"plugdata, {workers} processes"),
    ):
        ratios = [b / o for b, o in zip(times["baseline"], times[key], strict=True)]
        print(
            f"{label + ':':<38}{med[key]:6.2f}s ({fields / med[key]:,.0f} fields/s), "
            f"speed-up {statistics.median(ratios):.0f}x "
            f"(per run: {', '.join(f'{r:.0f}x' for r in ratios)})"
        )
    ratio = {
        key: statistics.median(b / o for b, o in zip(times["baseline"], times[key], strict=True))
        for key in ("serial", "parallel")
    }
    print()
    print(
        "| lang | ours: accepted | ours: swapped flagged | langdetect: accepted | "
        "langdetect: swapped flagged |"
    )
    print("|---|---|---|---|---|")
    acc_o, acc_b = accuracy(ours, xae), accuracy(base, xae)
    for lang in LANGS:
        print(
            f"| {lang} | {acc_o[lang][0]:.2%} | {acc_o[lang][1]:.2%} | {acc_b[lang][0]:.2%} | "
            f"{acc_b[lang][1]:.2%} |"
        )
    alpaca = load_alpaca_instructions()
    print()
    for label, judge in (("plugdata", ours), ("langdetect", base)):
        accepted = sum(judge.passes(t, "en") for t in alpaca) / len(alpaca)
        print(f"GPT4-Alpaca English instructions accepted, {label}: {accepted:.2%}")
    result(
        f"{fields:,} fields: langdetect {med['baseline']:.2f} s; plugdata, every check, "
        f"1 process {med['serial']:.2f} s (**{ratio['serial']:.0f}x**), {workers} processes "
        f"{med['parallel']:.2f} s (**{ratio['parallel']:.0f}x**); medians of {args.runs}",
        fields=fields,
        seconds=med,
        speedup=ratio,
        workers=workers,
    )


if __name__ == "__main__":
    main()
