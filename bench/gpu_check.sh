#!/usr/bin/env bash
# Run the benchmark ratios on a lent GPU with a randomly initialised ~1B Llama in bfloat16.
# Usage (repository root):  bash bench/gpu_check.sh            # on the GPU machine, < 5 minutes
#                           bash bench/gpu_check.sh --dry-run  # tiny model on the CPU, seconds
# Writes bench/results/gpu.json (and $OUT/gpu.json when $OUT is set, as on the lent machine).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ]; then PY=.venv/bin/python; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ "${1:-}" != "--dry-run" ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
target=bench/results/gpu.json
[ "${1:-}" = "--dry-run" ] && target=bench/results/gpu-dry-run.json
timeout 290 "$PY" -m bench.gpu_check --out "$target" "$@"
if [ -n "${OUT:-}" ]; then cp "$target" "$OUT/"; fi
