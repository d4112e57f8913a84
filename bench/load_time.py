"""Model load time, each in a fresh interpreter: from the GGUF (empty cache) and from the cache.

The number is the engine's own ``load_seconds`` (tokenizer + weights, GGUF conversion included
when cold, and the transformers modules that the first load imports); the subprocess's wall time,
interpreter start included, and a second load in the same interpreter are kept alongside.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT

# A second load in the same interpreter shows what is left once transformers' modules are imported.
CHILD = (
    "import json; from steering.engine.models import load_model; m = load_model('default'); "
    "again = load_model('default').load_seconds; "
    "print(json.dumps({'load_seconds': m.load_seconds, 'source': m.source, 'again': again}))"
)


def load_once(cache_dir: str) -> dict:
    env = {**os.environ, "STEERING_CACHE_DIR": cache_dir, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - started
    return result


def run(reps: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="cvl-bench-cache-") as cache:
        cold = load_once(cache)  # converts the GGUF into the empty cache
        assert cold["source"] == "gguf", cold
        cached = [load_once(cache) for _ in range(reps)]
        assert all(c["source"] == "gguf-cache" for c in cached), cached
    return {
        "load_cold_s": cold["load_seconds"],
        "load_cached_s": statistics.median(c["load_seconds"] for c in cached),
        "_wall_seconds": {
            "cold": cold["wall_seconds"],
            "cached": statistics.median(c["wall_seconds"] for c in cached),
        },
        # The same cached load, in an interpreter that has already loaded the model once.
        "_cached_again_in_process_s": statistics.median(c["again"] for c in cached),
    }
