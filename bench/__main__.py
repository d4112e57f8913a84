"""``python -m bench``: run the performance cases side by side, print a table, write JSON.

Options: ``--quick`` (fewer repetitions; for a smoke run, not for the record), ``--only CASES``
(comma-separated: build, generate, sweep, load, memory, precision; results are merged into the
existing JSON), ``--out PATH`` (default ``bench/results/latest.json``).

Every case but ``precision`` runs in float32 (``STEERING_DTYPE=float32`` unless the variable is
set), so their figures compare with runs made before models had a format; ``precision`` loads the
model in float32 and in ``auto`` itself and compares the two.
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

CASES = ("build", "generate", "sweep", "load", "memory", "precision")
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
    # bench/precision.py; the goals hold on a CPU with native bfloat16 (on one without, auto
    # picks float32 and the ratios are 1 within noise).
    "bf16_build_speedup": (">=", 2.2),
    "bf16_eval_speedup": (">=", 1.8),
    "bf16_decode_speedup": (">=", 1.5),
    "native_bf16": (None, None),
    "bf16_vector_cosine_min": (None, None),
    "bf16_vector_cosine_block0": (None, None),
    "bf16_answer_agreement": (None, None),
}
NATIVE_ONLY = {"bf16_build_speedup", "bf16_eval_speedup", "bf16_decode_speedup"}
KEYS = tuple(GOALS)
SWEEP_LAYERS = list(range(8, 16))


def met(key: str, value: float | None, native_bf16: bool | None = None) -> str:
    op, goal = GOALS[key]
    if value is None:
        return "not run"
    if op is None:
        return "-"
    if key in NATIVE_ONLY and native_bf16 is False:
        return "n/a: no native bfloat16, auto is float32"
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
    # Inherited by the subprocess cases (load, memory) too; precision asks for its formats.
    os.environ.setdefault("STEERING_DTYPE", "float32")

    needs_model = {"build", "generate", "sweep", "precision"} & set(cases)
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
    if "precision" in cases:
        from bench import precision

        rows = load_rows("arithmetic", args.questions)
        prompts = [e.prompt for e in load_rows("arithmetic", 8)]
        record(
            "precision",
            precision.run(loaded, pairs, rows, prompts, vector, reps, SWEEP_LAYERS),
        )

    info = save()
    print(f"\n{'key':<42} {'value':>10}  goal      met")
    native = results.get("native_bf16")
    for key in KEYS:
        value = results[key]
        op, goal = GOALS[key]
        if isinstance(value, bool):
            shown = f"{str(value).lower():>10}"
        elif isinstance(value, (int, float)):
            shown = f"{value:10.3f}"
        else:
            shown = f"{'-':>10}"
        goal_text = f"{op} {goal}" if op else ""
        print(f"{key:<42} {shown}  {goal_text:<9} {met(key, value, native)}")
    print(
        f"\nmachine: {info['cores']} cores, {info['threads']} threads, torch {info['torch']}, "
        f"load average {info['load_average']}; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
