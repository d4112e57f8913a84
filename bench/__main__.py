"""``python -m bench``: run the performance cases side by side, print a table, write JSON.

Options: ``--quick`` (fewer repetitions; for a smoke run, not for the record), ``--only CASES``
(comma-separated: build, generate, sweep, load, memory; results are merged into the existing JSON),
``--out PATH`` (default ``bench/results/latest.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, load_rows, machine, write_json

CASES = ("build", "generate", "sweep", "load", "memory")
GOALS = {
    "build_speedup_vs_per_example": (">=", 3),
    "build_vs_forward_floor": ("<=", 1.15),
    "steered_generate_throughput_ratio": (">=", 0.97),
    "ab_one_batch_vs_sequential": ("<=", 0.65),
    "eval_speedup_vs_per_example": (">=", 3),
    "load_cached_s": ("<=", 3),
    "load_cold_s": (None, None),
    "build_peak_rss_growth_mb_per_1000_pairs": ("<=", 50),
    "build_prefix_sharing_gain": (None, None),
}
KEYS = tuple(GOALS)
SWEEP_LAYERS = list(range(8, 16))


def met(key: str, value: float | None) -> str:
    op, goal = GOALS[key]
    if value is None:
        return "not run"
    if op is None:
        return "-"
    ok = value >= goal if op == ">=" else value <= goal
    return "yes" if ok else "NO"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 repetitions instead of 5")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--only", default=",".join(CASES))
    parser.add_argument("--pairs", type=int, default=100, help="build pairs (the issue: 100)")
    parser.add_argument(
        "--questions", type=int, default=100, help="sweep questions (the issue: 100)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args(argv)
    reps = args.reps or (3 if args.quick else 5)
    cases = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s) {sorted(unknown)}; choose from {CASES}")

    previous: dict[str, Any] = {}
    if args.out.is_file() and set(cases) != set(CASES):
        previous = json.loads(args.out.read_text())
    results: dict[str, Any] = {k: previous.get(k) for k in KEYS}
    details: dict[str, Any] = dict(previous.get("details") or {})
    started = time.perf_counter()

    needs_model = {"build", "generate", "sweep"} & set(cases)
    if needs_model:
        from steering.build import build_vector
        from steering.engine.models import configure_threads, load_model

        configure_threads()
        loaded = load_model("default")
        pairs = load_rows("arithmetic", args.pairs)
        vector = build_vector(loaded, pairs[:16], layers="all").vector

    done: list[str] = list((previous.get("machine") or {}).get("cases_run") or [])

    def save() -> dict[str, Any]:
        info = machine()
        info.update(reps=reps, cases_run=done, pairs=args.pairs, questions=args.questions)
        write_json(args.out, {**results, "machine": info, "details": details})
        return info

    def record(name: str, out: dict[str, Any]) -> None:
        # Written after every case, so a run stopped part-way keeps what it measured.
        for key, value in out.items():
            if key.startswith("_"):
                details.setdefault(name, {})[key[1:]] = value
            else:
                results[key] = value
        # Cases merged from earlier runs may differ in scale or load; each keeps its own.
        details.setdefault(name, {})["run"] = {
            "reps": reps,
            "pairs": args.pairs,
            "questions": args.questions,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        if name not in done:
            done.append(name)
        save()
        print(f"  {name}: done at {time.perf_counter() - started:.0f}s", file=sys.stderr)

    if "build" in cases:
        from bench import build

        record("build", build.run(loaded, pairs, reps))
    if "generate" in cases:
        from bench import generation

        prompts = [e.prompt for e in load_rows("arithmetic", 8)]
        record("generate", generation.run(loaded, vector, prompts, reps))
    if "sweep" in cases:
        from bench import sweep

        rows = load_rows("arithmetic", args.questions)
        record("sweep", sweep.run(loaded, rows, vector, reps, SWEEP_LAYERS))
    if "load" in cases:
        from bench import load_time

        record("load", load_time.run(reps))
    if "memory" in cases:
        from bench import memory

        record("memory", memory.run())

    info = save()
    print(f"\n{'key':<42} {'value':>10}  goal      met")
    for key in KEYS:
        value = results[key]
        op, goal = GOALS[key]
        shown = f"{value:10.3f}" if isinstance(value, (int, float)) else f"{'-':>10}"
        goal_text = f"{op} {goal}" if op else ""
        print(f"{key:<42} {shown}  {goal_text:<9} {met(key, value)}")
    print(
        f"\nmachine: {info['cores']} cores, {info['threads']} threads, torch {info['torch']}, "
        f"load average {info['load_average']}; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
