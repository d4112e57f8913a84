"""Peak resident memory of building a vector from N pairs, each N in a fresh interpreter.

``python -m bench.memory --pairs N`` loads the bundled model, builds a mean_diff vector over all
layers from N arithmetic pairs (rows repeated) and prints the peak RSS of the build in MB. Loading
the model peaks higher than building does (the weights pass through two copies), so a process-wide
peak would only measure the load: on Linux the peak is reset after loading (``clear_refs``) and
read from ``VmHWM`` after the build. The growth between 250 and 1000 pairs, per 1000 pairs, is
what the benchmark reports: memory that grows with the number of pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT


def child(pairs: int) -> None:
    import psutil

    from bench.common import load_rows
    from steering.build import build_vector
    from steering.engine.models import load_model

    loaded = load_model("default")
    examples = load_rows("arithmetic", pairs)
    load_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    before = psutil.Process().memory_info().rss / 2**20
    reset = _reset_peak()
    build_vector(loaded, examples, layers="all")
    peak = _peak_mb() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "pairs": pairs,
                "peak_rss_mb": peak,
                "peak_is_build_only": reset,
                "load_peak_rss_mb": load_peak,
                "rss_before_build_mb": before,
            }
        )
    )


def _reset_peak() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("VmHWM missing from /proc/self/status")


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
        "_peak_is_build_only": all(v["peak_is_build_only"] for v in results.values()),
        "_load_peak_rss_mb": {str(k): v["load_peak_rss_mb"] for k, v in results.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, required=True)
    child(parser.parse_args().pairs)
