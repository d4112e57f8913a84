"""Generation: steered vs unsteered throughput, and side-by-side A/B in one batch vs two calls.

Both sides generate exactly ``new_tokens`` tokens per row (end-of-sequence disabled), greedy.
"""

from __future__ import annotations

from typing import Any

from bench.common import compare, fixed_length
from steering.engine.generate import generate_texts, side_by_side
from steering.engine.models import LoadedModel
from steering.vectors import ControlVector


def run(
    loaded: LoadedModel,
    vector: ControlVector,
    prompts: list[str],
    reps: int,
    alpha: float = 1.0,
    new_tokens: int = 64,
) -> dict[str, Any]:
    batch = prompts[:8]
    alphas = [alpha] * len(batch)
    with fixed_length(loaded):
        gen = compare(
            {
                "unsteered": lambda: generate_texts(loaded, batch, max_new_tokens=new_tokens),
                "steered": lambda: generate_texts(
                    loaded, batch, vector=vector, alphas=alphas, max_new_tokens=new_tokens
                ),
            },
            reps,
        )
        prompt = prompts[0]
        ab = compare(
            {
                "one_batch": lambda: side_by_side(
                    loaded, prompt, vector, alpha, max_new_tokens=new_tokens
                ),
                "sequential": lambda: (
                    generate_texts(loaded, [prompt], max_new_tokens=new_tokens),
                    generate_texts(
                        loaded, [prompt], vector=vector, alphas=[alpha], max_new_tokens=new_tokens
                    ),
                ),
            },
            reps,
        )
    tokens = len(batch) * new_tokens
    return {
        # tokens/s steered / tokens/s unsteered = time unsteered / time steered (same tokens)
        "steered_generate_throughput_ratio": gen["unsteered"] / gen["steered"],
        "ab_one_batch_vs_sequential": ab["one_batch"] / ab["sequential"],
        "_tokens_per_s": {
            "unsteered": tokens / gen["unsteered"],
            "steered": tokens / gen["steered"],
        },
        "_seconds": {**gen, **{f"ab_{k}": v for k, v in ab.items()}},
    }
