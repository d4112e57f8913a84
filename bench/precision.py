"""bfloat16 where the hardware has it (issue 24): float32 against ``auto``, side by side.

The same three workloads as the other cases, each timed on the bundled model loaded twice, once
in float32 and once in the format ``auto`` picks on this machine (bfloat16 with native support,
float32 without, where the ratios are 1 within noise):

- ``bf16_build_speedup``: float32 time / auto time of the build case's ``build_vector`` (R-C, all
  layers, batches of 16) on its 100 pairs;
- ``bf16_eval_speedup``: the sweep case's ``score_choices`` (7 strengths x 100 questions x their
  choices, layers 8-15);
- ``bf16_decode_speedup``: ``generate_texts`` on 8 rows x 64 new tokens (end of text disabled).

In the same run it measures what the speed costs: the cosine of each block's R-C vector built in
the two formats (``bf16_vector_cosine_min`` over blocks 1 and up, ``bf16_vector_cosine_block0``)
and the share of the sweep's (question, strength) answers that agree
(``bf16_answer_agreement``). ``native_bf16`` says whether this CPU does bfloat16 natively.
"""

from __future__ import annotations

from typing import Any

import torch

from bench.common import compare, fixed_length
from bench.sweep import STRENGTHS
from steering.build import build_vector
from steering.engine.generate import generate_texts
from steering.engine.models import LoadedModel, load_model
from steering.engine.precision import native_bf16_cpu
from steering.evaluation.choice_table import score_choices
from steering.vectors import ControlVector


def _cosines(a: ControlVector, b: ControlVector) -> dict[int, float]:
    return {
        i: float(
            torch.nn.functional.cosine_similarity(
                a.directions[i].double(), b.directions[i].double(), dim=0
            )
        )
        for i in a.layers
    }


def run(
    plain: LoadedModel,
    pairs: list[Any],
    rows: list[Any],
    prompts: list[str],
    vector: ControlVector,
    reps: int,
    layers: list[int],
    new_tokens: int = 64,
) -> dict[str, Any]:
    """``plain`` is the bundled model in float32; the auto one is loaded here."""
    if plain.dtype != torch.float32:
        plain = load_model(plain.spec, dtype="float32")
    auto = load_model(plain.spec, dtype="auto")
    models = {"float32": plain, "auto": auto}
    built: dict[str, ControlVector] = {}
    answers: dict[str, Any] = {}

    def build(name: str) -> None:
        built[name] = build_vector(models[name], pairs, layers="all", batch_size=16).vector

    def sweep(name: str) -> None:
        answers[name] = score_choices(
            models[name], rows, vector=vector, alphas=STRENGTHS, layers=layers
        )

    builds = compare({name: (lambda n=name: build(n)) for name in models}, reps)
    sweeps = compare({name: (lambda n=name: sweep(n)) for name in models}, reps)
    batch = prompts[:8]
    with fixed_length(plain), fixed_length(auto):
        decodes = compare(
            {
                name: (lambda n=name: generate_texts(models[n], batch, max_new_tokens=new_tokens))
                for name in models
            },
            reps,
        )
    cosines = _cosines(built["float32"], built["auto"])
    f32, fast = (answers[n].sort_values(["alpha", "question"]) for n in ("float32", "auto"))
    agree = float((f32.predicted.to_numpy() == fast.predicted.to_numpy()).mean())
    return {
        "bf16_build_speedup": builds["float32"] / builds["auto"],
        "bf16_eval_speedup": sweeps["float32"] / sweeps["auto"],
        "bf16_decode_speedup": decodes["float32"] / decodes["auto"],
        "native_bf16": native_bf16_cpu(),
        "bf16_vector_cosine_min": min(v for i, v in cosines.items() if i > 0),
        "bf16_vector_cosine_block0": cosines.get(0),
        "bf16_answer_agreement": agree,
        "_auto_dtype": auto.precision.name,
        "_auto_reason": auto.precision.reason,
        "_seconds": {
            **{f"build_{k}": v for k, v in builds.items()},
            **{f"sweep_{k}": v for k, v in sweeps.items()},
            **{f"decode_{k}": v for k, v in decodes.items()},
        },
        "_cosine_per_block": {str(i): round(v, 6) for i, v in cosines.items()},
        "_answers_compared": len(f32),
        "_decode_tokens_per_s": {
            name: len(batch) * new_tokens / seconds for name, seconds in decodes.items()
        },
    }
