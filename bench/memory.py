"""Peak resident memory of building a vector from N pairs, each N in a fresh interpreter.

``python -m bench.memory --pairs N`` loads the bundled model, builds a mean_diff vector over all
layers from N arithmetic pairs (rows repeated) and prints its peak RSS (``ru_maxrss``) in MB, and
the RSS before building. The growth between 250 and 1000 pairs, per 1000 pairs, is what the
benchmark reports: memory that grows with the number of pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

from bench.common import ROOT


def child(pairs: int) -> None:
    import psutil

    from bench.common import load_rows
    from steering.models import load_model
    from steering.vectors import build_vector

    loaded = load_model("default")
    examples = load_rows("arithmetic", pairs)
    before = psutil.Process().memory_info().rss / 2**20
    build_vector(loaded, examples, layers="all")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"pairs": pairs, "peak_rss_mb": peak, "rss_before_build_mb": before}))


def measure(pairs_list: tuple[int, ...] = (250, 1000)) -> dict[int, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results = {}
    for pairs in pairs_list:
        out = subprocess.run(
            [sys.executable, "-m", "bench.memory", "--pairs", str(pairs)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        results[pairs] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


def run() -> dict:
    small, large = 250, 1000
    results = measure((small, large))
    growth = results[large]["peak_rss_mb"] - results[small]["peak_rss_mb"]
    return {
        "build_peak_rss_growth_mb_per_1000_pairs": growth * 1000 / (large - small),
        "_peak_rss_mb": {str(k): v["peak_rss_mb"] for k, v in results.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, required=True)
    child(parser.parse_args().pairs)
