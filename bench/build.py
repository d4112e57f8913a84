"""Vector building: ours vs the paper's protocol, vs a plain forward pass, and prefix sharing.

- the paper's protocol: one text per forward pass of the whole model (LM head included) with
  ``output_hidden_states=True``, the last token of every layer kept and summed;
- the forward floor: the same texts in the same length-sorted batches through the base model, all
  layers, nothing captured, no cache;
- ours: ``build_vector`` (mean_diff, all layers) as shipped, and forced with and without prefix
  sharing for ``build_prefix_sharing_gain``.
"""

from __future__ import annotations

from typing import Any

import torch

import steering.engine.activations as activations
from bench.common import compare
from steering.build import build_vector
from steering.engine.activations import length_sorted_batches, pad_batch
from steering.engine.models import LoadedModel, has_chat_template
from steering.engine.text import encode, format_text


def paper_protocol(loaded: LoadedModel, examples: list[Any]) -> list[torch.Tensor]:
    """Mean positive-minus-negative at every layer, one example per forward pass."""
    tok, model = loaded.tokenizer, loaded.model
    add_special = not has_chat_template(tok)
    sums: list[torch.Tensor] | None = None
    with torch.inference_mode():
        for example in examples:
            for sign, completion in ((1.0, example.positive), (-1.0, example.negative)):
                text = format_text(tok, example.prompt, completion)
                ids = tok(text, add_special_tokens=add_special, return_tensors="pt")["input_ids"]
                out = model(input_ids=ids.to(loaded.device), output_hidden_states=True)
                states = [h[0, -1].double() for h in out.hidden_states[1:]]
                sums = (
                    states
                    if sums is None
                    else [s + sign * h for s, h in zip(sums, states, strict=True)]
                )
    return [s / len(examples) for s in sums or []]


def forward_floor(loaded: LoadedModel, examples: list[Any], batch_size: int) -> None:
    """A plain batched forward pass over the same texts that captures nothing."""
    tok = loaded.tokenizer
    texts = [encode(tok, e.prompt, e.positive) for e in examples]
    texts += [encode(tok, e.prompt, e.negative) for e in examples]
    pad = tok.pad_token_id
    with torch.inference_mode():
        for group in length_sorted_batches([len(t.ids) for t in texts], batch_size):
            batch = pad_batch(texts, group, pad, device=loaded.device)
            loaded.model.base_model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
            )
    if loaded.device.type == "cuda":
        torch.cuda.synchronize()  # the other sides end by copying readings to the host


def ours(loaded: LoadedModel, examples: list[Any], batch_size: int, share: bool | None) -> None:
    """``build_vector``; ``share`` forces prefix sharing on or off (None: the engine's default)."""
    default = activations.SHARE_PREFIX
    activations.SHARE_PREFIX = default if share is None else share
    try:
        build_vector(loaded, examples, layers="all", batch_size=batch_size)
    finally:
        activations.SHARE_PREFIX = default


def run(loaded: LoadedModel, examples: list[Any], reps: int, batch_size: int = 16) -> dict:
    # "ours" is the engine's default; the other prefix-sharing setting is timed once more, so
    # the gain costs one extra side rather than two.
    default = activations.SHARE_PREFIX
    other = "ours_shared" if not default else "ours_unshared"
    medians = compare(
        {
            "paper": lambda: paper_protocol(loaded, examples),
            "floor": lambda: forward_floor(loaded, examples, batch_size),
            "ours": lambda: ours(loaded, examples, batch_size, share=None),
            other: lambda: ours(loaded, examples, batch_size, share=not default),
        },
        reps,
    )
    shared = medians["ours" if default else "ours_shared"]
    unshared = medians["ours_unshared" if default else "ours"]
    n = len(examples)
    return {
        "build_speedup_vs_per_example": medians["paper"] / medians["ours"],
        "build_vs_forward_floor": medians["ours"] / medians["floor"],
        "build_prefix_sharing_gain": unshared / shared,
        "_seconds": medians,
        "_share_prefix_default": default,
        "_pairs_per_s": n / medians["ours"],
    }
