"""GPU training throughput: padded batches (the paper's collator) vs plugdata's padding-free
packing, on a random-init Llama (~0.9B parameters, no download), sequence window 4096, bf16.

Reports tokens/s (real tokens only), MFU against the card's dense bf16 peak (989 TFLOP/s for
H100/H200 SXM) and peak memory, both variants in one run on the same GPU.

    python bench/gpu_train.py [--steps 20] [--window 4096] [--batch 4]
    python bench/gpu_train.py --tiny --steps 2     # CPU smoke test of the script itself
"""

from __future__ import annotations

import argparse
import random
import time

PEAK_FLOPS = 989e12  # H100/H200 SXM, dense bf16


def lengths_like_plug(n: int, seed: int = 0) -> list[int]:
    """Row lengths shaped like zh-plug rows of GPT4-Alpaca (bench_padding.py measures the real
    ones: median about 250 tokens, long tail to ~1,600)."""
    rng = random.Random(seed)
    return [max(16, min(4096, int(rng.lognormvariate(5.5, 0.7)))) for _ in range(n)]


def model_and_params(tiny: bool, device: str):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if tiny:
        config = LlamaConfig(
            vocab_size=1000,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=8192,
        )
        attn = "sdpa"
    else:
        config = LlamaConfig(
            vocab_size=32000,
            hidden_size=2048,
            intermediate_size=5632,
            num_hidden_layers=16,
            num_attention_heads=16,
            num_key_value_heads=16,
            max_position_embeddings=8192,
        )
        attn = "flash_attention_2"
    config._attn_implementation = attn
    model = LlamaForCausalLM(config).to(device, dtype=torch.bfloat16 if not tiny else torch.float32)
    model.gradient_checkpointing_enable()
    params = sum(p.numel() for p in model.parameters())
    return model, params, config.vocab_size


def padded_batches(lengths, batch):
    for i in range(0, len(lengths), batch):
        yield lengths[i : i + batch]


def packed_rows(lengths, window):
    """Best-fit decreasing into windows, as TRL's `pack_dataset(strategy="bfd")`."""
    bins: list[list[int]] = []
    for n in sorted(lengths, reverse=True):
        best = None
        for b in bins:
            room = window - sum(b)
            if n <= room and (best is None or room < window - sum(best)):
                best = b
        if best is None:
            bins.append([n])
        else:
            best.append(n)
    return bins


def run(model, vocab, groups, mode, device, steps):
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    real_tokens, started = 0, None
    for step, group in enumerate(groups[: steps + 2]):
        if step == 2:  # two warm-up steps (kernels, allocator)
            if device == "cuda":
                torch.cuda.synchronize()
            started, real_tokens = time.perf_counter(), 0
        if mode == "padded":
            width = max(group)
            ids = torch.randint(0, vocab, (len(group), width), device=device)
            mask = torch.zeros_like(ids)
            for r, n in enumerate(group):
                mask[r, :n] = 1
            labels = ids.masked_fill(mask == 0, -100)
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
        else:
            total = sum(group)
            ids = torch.randint(0, vocab, (1, total), device=device)
            positions = torch.cat([torch.arange(n, device=device) for n in group]).unsqueeze(0)
            out = model(input_ids=ids, position_ids=positions, labels=ids)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        real_tokens += sum(group)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return real_tokens / seconds, peak


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--window", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=4, help="rows per padded batch")
    parser.add_argument("--tiny", action="store_true", help="small model on CPU: smoke test")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    lengths = lengths_like_plug(4000)
    model, params, vocab = model_and_params(args.tiny, device)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"device {name}; model {params / 1e9:.2f}B parameters; window {args.window}")
    results = {}
    for mode in ("padded", "packed"):
        if mode == "padded":
            # Same memory budget: rows per batch so that a full batch of the longest rows fits
            # the window budget, in data order as the paper's loader does.
            groups = list(padded_batches(lengths, args.batch))
        else:
            groups = packed_rows(lengths, args.window)
            random.Random(0).shuffle(groups)
        tokens_per_s, peak = run(model, vocab, groups, mode, device, args.steps)
        mfu = 6 * params * tokens_per_s / PEAK_FLOPS
        results[mode] = tokens_per_s
        print(
            f"{mode:>7}: {tokens_per_s:,.0f} real tokens/s, MFU {mfu:.1%}, "
            f"peak memory {peak:.1f} GiB"
        )
    print(f"packed / padded: {results['packed'] / results['padded']:.2f}x")


if __name__ == "__main__":
    main()
