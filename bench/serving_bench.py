"""Serving throughput: 8 concurrent requests with 4 different vectors vs the same 8 unsteered,
and vs serving the 8 steered ones one after another.

All three go through ``steering.engine.serving.DecodingLoop`` on one loaded model: "mixed" submits
the 8 requests at once, rows 2k and 2k+1 steered by vector k (per-row deltas in one batch);
"unsteered" submits the same 8 prompts without vectors; "sequential" submits the 8 steered ones
one at a time, each waiting for the last. Every request makes exactly ``--tokens`` tokens (no
early end), so the three do the same work. Repetitions interleave the sides (bench.common.compare).

    python bench/serving_bench.py [--model default] [--tokens 32] [--reps 5]

Prints a table and writes ``bench/results/serving.json``. Goal: mixed / unsteered throughput
ratio >= 0.9.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import compare, machine, write_json  # noqa: E402
from steering.engine.models import load_model  # noqa: E402
from steering.engine.serving import DecodingLoop, ServeRequest  # noqa: E402
from steering.engine.steer import RowSteering  # noqa: E402
from steering.engine.text import encode  # noqa: E402
from steering.vectors import ControlVector  # noqa: E402

PROMPTS = [
    "What is 17 plus 25?",
    "Name three colours of the rainbow.",
    "Explain in one sentence why the sky is blue.",
    "Write a haiku about autumn.",
    "What is the capital of France?",
    "List two prime numbers larger than ten.",
    "How many legs does a spider have?",
    "Translate 'good morning' into French.",
]
GOAL = 0.9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="model spec (default: bundled)")
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per request")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "serving.json"))
    args = parser.parse_args()

    loaded = load_model(args.model)
    generator = torch.Generator().manual_seed(0)
    layers = tuple(range(loaded.num_layers // 3, 2 * loaded.num_layers // 3))
    vectors = [
        ControlVector({i: torch.randn(loaded.hidden_size, generator=generator) for i in layers})
        for _ in range(4)
    ]
    ids = [encode(loaded.tokenizer, p).ids for p in PROMPTS]

    def request(row: int, steered: bool) -> ServeRequest:
        steering = RowSteering(vectors[row // 2], 4.0) if steered else None
        return ServeRequest(ids[row], args.tokens, steering, stop_at_eos=False)

    mixed = [request(row, True) for row in range(8)]
    plain = [request(row, False) for row in range(8)]
    batcher = DecodingLoop(loaded)

    def together(requests: list[ServeRequest]) -> None:
        tickets = [batcher.submit(r) for r in requests]
        for ticket in tickets:
            ticket.result(timeout=600)

    def one_by_one() -> None:
        for r in mixed:
            batcher.submit(r).result(timeout=600)

    try:
        times = compare(
            {
                "mixed": lambda: together(mixed),
                "unsteered": lambda: together(plain),
                "sequential": one_by_one,
            },
            reps=args.reps,
        )
    finally:
        batcher.close()
    tokens = 8 * args.tokens
    ratio = times["unsteered"] / times["mixed"]
    speedup = times["sequential"] / times["mixed"]
    print(f"model {loaded.name} on {loaded.device}, 8 requests x {args.tokens} tokens")
    print(f"{'case':<34}{'median s':>10}{'tokens/s':>10}")
    labels = {
        "mixed": "8 together, 4 vectors",
        "unsteered": "8 together, unsteered",
        "sequential": "8 steered, one after another",
    }
    for name, label in labels.items():
        print(f"{label:<34}{times[name]:>10.3f}{tokens / times[name]:>10.1f}")
    verdict = "meets" if ratio >= GOAL else "misses"
    print(f"throughput ratio mixed/unsteered: {ratio:.3f} ({verdict} the goal >= {GOAL})")
    print(f"speed-up of one batch over one after another: {speedup:.2f}x")
    write_json(
        Path(args.out),
        {
            "model": loaded.name,
            "device": str(loaded.device),
            "tokens_per_request": args.tokens,
            "reps": args.reps,
            "median_s": times,
            "throughput_ratio_mixed_vs_unsteered": ratio,
            "goal": GOAL,
            "speedup_vs_sequential": speedup,
            "machine": machine(),
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
