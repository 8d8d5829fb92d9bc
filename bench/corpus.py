"""Paper-scale benchmark corpora made from ../shared/data (realistic lengths, not translations).

GPT4-Alpaca English rows are repeated with small variations up to N items; each is paired with
a Chinese Alpaca row of matching length so that length-ratio checks behave as on real pairs.
Benchmarks may read ../shared; tests never do.
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ALPACA = SHARED / "alpaca-demo"
XAE = SHARED / "plug-upstream" / "x-alpacaeval"


def make_pair_files(
    n: int, out: Path, *, vary_output: bool = False, unique: bool = False
) -> tuple[Path, Path]:
    """Write en.jsonl and zh.jsonl with `n` aligned rows (ids en/zh identical). Repeated rows
    get a variant suffix on the instruction (and, with `vary_output`, on the response too, so
    that no two English rows share a text). With `unique`, every text of both files carries its
    row's number: no two rows share a text on either side."""
    en = json.loads((ALPACA / "alpaca_en_demo.json").read_text(encoding="utf-8"))
    zh = json.loads((ALPACA / "alpaca_zh_demo.json").read_text(encoding="utf-8"))
    zh_sorted = sorted(zh, key=lambda r: len(r["output"]))
    zh_lengths = [len(r["output"]) for r in zh_sorted]
    out.mkdir(parents=True, exist_ok=True)
    en_path, zh_path = out / "en.jsonl", out / "zh.jsonl"
    with en_path.open("w", encoding="utf-8") as fe, zh_path.open("w", encoding="utf-8") as fz:
        for i in range(n):
            base = en[i % len(en)]
            round_ = i // len(en)
            # Chinese runs about 0.32 characters per English character.
            j = min(
                bisect.bisect_left(zh_lengths, int(len(base["output"]) * 0.32)), len(zh_sorted) - 1
            )
            partner = zh_sorted[(j + round_) % len(zh_sorted)] if round_ else zh_sorted[j]
            suffix = f" (variant {round_})" if round_ else ""
            if unique:
                suffix = f" (item {i})"
            for fh, row in ((fe, base), (fz, partner)):
                item = {
                    "id": i,
                    "instruction": row["instruction"] + suffix,
                    "input": row["input"],
                    "output": row["output"] + (suffix if vary_output or unique else ""),
                }
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return en_path, zh_path


# The benchmark's pairs are not translations: a benchmark that needs the rows (training,
# padding) builds them without the agreement check, which would refuse nearly all of them.
UNSCORED = "{alignment: off}"


def write_recipe(folder: Path, en: Path, zh: Path, *, validation: str = "") -> Path:
    """The benchmark's recipe; `validation`: the settings, as YAML flow text (e.g.
    `{alignment: off}`; default: every build's defaults)."""
    recipe = folder / "bench.yaml"
    validation = f"validation: {validation}\n" if validation else ""
    recipe.write_text(
        f"""name: bench-scale
source: {{name: gpt4-alpaca, path: {en}}}
targets:
  zh: {{align: {{path: {zh}, join: id}}}}
card: {{pretty_name: Benchmark, license: cc-by-nc-4.0}}
{validation}""",
        encoding="utf-8",
    )
    return recipe
