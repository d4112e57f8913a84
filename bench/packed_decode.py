"""A decoding step with bfloat16 linear layers multiplied by oneDNN's prepacked weights, against
the stock forward, in the same run (``steering/engine/packed_bf16.py``; issue 20's fixed cost per
step).

Loads the bundled model in bfloat16 once, and times ``DecodingRows.step`` (the API's decoding
loop) at 1, 8 and 16 rows, 64 prompt tokens' cache, EOS disabled, greedy, with the packed forward
installed and uninstalled in turn (interleaved, rotating which goes first; medians). Also checks
that both give the same tokens.

    python bench/packed_decode.py [--rows 1,8,16] [--steps 24] [--reps 3] [--json PATH]

Needs a CPU with native bfloat16 (on others there is nothing to compare: it says so and exits).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import compare, machine, write_json  # noqa: E402
from steering.engine import few_rows, packed_bf16  # noqa: E402
from steering.engine.decoding_rows import DecodingRows, ServeRequest  # noqa: E402
from steering.engine.models import LoadedModel, load_model  # noqa: E402

PROMPT = "Write a short story about a dog who finds a lost key."


def use_packed(loaded: LoadedModel, packed: bool) -> None:
    packed_bf16.uninstall(loaded.model)
    few_rows.uninstall(loaded.model)
    if packed:
        packed_bf16.install(loaded.model)
    few_rows.install(loaded.model)  # what load_model gives the layers left unpacked


def decode(loaded: LoadedModel, rows: int, steps: int) -> tuple[float, list[int]]:
    """Seconds per step over ``steps`` steps of ``rows`` rows, and row 0's tokens."""
    ids = tuple(
        loaded.tokenizer.apply_chat_template(
            [{"role": "user", "content": PROMPT}],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )
    )
    tokens: list[int] = []

    def emit(owner: object, token: Any) -> None:
        if owner == 0:
            tokens.append(token.id)

    with torch.inference_mode():
        batch = DecodingRows(loaded)
        request = ServeRequest(ids, steps + 8, stop_at_eos=False)
        batch.join(list(range(rows)), [request] * rows, emit)
        for _ in range(3):
            batch.step(emit)
        started = time.perf_counter()
        for _ in range(steps):
            batch.step(emit)
        return (time.perf_counter() - started) / steps, tokens


def measure(loaded: LoadedModel, rows: int, steps: int, reps: int) -> dict[str, Any]:
    """Median step time of both forwards at ``rows`` rows, interleaved, and whether they agree."""
    answers: dict[str, list[int]] = {}
    step_s: dict[str, list[float]] = {"stock": [], "packed": []}

    def side(name: str) -> None:
        use_packed(loaded, name == "packed")
        seconds, answers[name] = decode(loaded, rows, steps)
        step_s[name].append(seconds)

    compare({name: functools.partial(side, name) for name in step_s}, reps, warmup=0)
    median = {name: statistics.median(values) for name, values in step_s.items()}
    return {
        "step_ms": {name: round(value * 1000, 1) for name, value in median.items()},
        "speedup": round(median["stock"] / median["packed"], 3),
        "same_tokens": answers["stock"] == answers["packed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1,8,16")
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "packed_decode.json"))
    args = parser.parse_args()
    loaded = load_model("default", dtype="bfloat16")
    if not packed_bf16.installed(loaded.model):
        print("Nothing to compare: this CPU has no native bfloat16, or its oneDNN does not agree.")
        return
    out: dict[str, Any] = {"machine": machine(), "steps": args.steps, "reps": args.reps}
    for rows in [int(r) for r in args.rows.split(",")]:
        out[f"rows_{rows}"] = measure(loaded, rows, args.steps, args.reps)
        print(rows, "rows:", out[f"rows_{rows}"], flush=True)
    out["machine_after"] = machine()["load_average"]
    write_json(Path(args.json), out)


if __name__ == "__main__":
    main()
