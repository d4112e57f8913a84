#!/usr/bin/env bash
# Run the benchmark ratios on a lent GPU with a randomly initialised ~1B Llama, in the format the
# engine's --dtype picks (auto, the default: bfloat16 on CUDA; float32 with --dry-run).
# Usage (repository root):  bash bench/gpu_check.sh            # on the GPU machine, < 5 minutes
#                           bash bench/gpu_check.sh --dtype float32   # the same in float32
#                           bash bench/gpu_check.sh --dry-run  # tiny model on the CPU, seconds
# Writes bench/results/gpu.json (and $OUT/gpu.json when $OUT is set, as on the lent machine),
# with the format and why in "dtype" and "dtype_reason", and prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ]; then PY=.venv/bin/python; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [[ " $* " != *" --dry-run "* ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
target=bench/results/gpu.json
for arg in "$@"; do [ "$arg" = "--dry-run" ] && target=bench/results/gpu-dry-run.json; done
timeout 290 "$PY" -m bench.gpu_check --out "$target" "$@"
"$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print("format:", r["dtype_reason"])' "$target"
if [ -n "${OUT:-}" ]; then cp "$target" "$OUT/"; fi
