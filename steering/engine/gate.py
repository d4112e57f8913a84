"""The gate of a conditional vector: does this prompt look like the task the vector is for?

A prompt's *reading* at block ``i`` is the mean of block ``i``'s output over the tokens of the
user's prompt text only: the prompt is rendered by the text rule (steering.engine.text) and cut
right after the user's text, so the chat template's system prompt and turn markers before it are
run (they shape the hidden states) but not read, and nothing after it matters (attention is
causal). A prompt's *similarity* is the cosine between its reading and the condition direction;
the gate opens when it reaches the threshold (``steering.vectors.GateCondition``).

The decision is made once per request from an unsteered pass that stops at the condition block,
and then holds for the whole answer: an open row is steered everywhere (prompt included), a
closed one nowhere. Each batched path (side-by-side answers, sweeps, scoring, serving) turns a
closed gate into strength 0 for that row, so a gate is one more per-row choice, not a separate
code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from steering.engine.activations import common_prefix_length, iter_block_outputs
from steering.engine.models import LoadedModel
from steering.engine.text import Encoded, prompt_ids, prompt_text, token_limit
from steering.errors import SteeringError
from steering.vectors import ControlVector, GateCondition


@dataclass(frozen=True)
class GateDecision:
    """One prompt's gate: open or not, and the similarity that decided it."""

    applied: bool
    similarity: float


def prompt_reading_text(tokenizer: Any, prompt: str) -> Encoded:
    """The rendered prompt cut after the user's text; ``ids[prompt_len:]`` are the text's tokens.

    The boundary is the longest common prefix with the tokens of what precedes the user's text,
    so a token merged across it counts as the user's. Every prompt keeps at least one token read.
    """
    text = prompt.strip() or prompt
    if not text:
        raise SteeringError("An empty prompt cannot be read for the gate: give it some text.")
    rendered = prompt_text(tokenizer, text)
    start = rendered.find(text)
    if start < 0:  # a template that rewrites the content: read the whole rendered prompt
        before, upto = "", rendered
    else:
        before, upto = rendered[:start], rendered[: start + len(text)]
    ids = prompt_ids(tokenizer, upto)[: token_limit(tokenizer)]  # an overlong prompt: its start
    head = prompt_ids(tokenizer, before)
    return Encoded(ids, min(common_prefix_length([ids, head]), len(ids) - 1))


def prompt_readings(
    loaded: LoadedModel, prompts: Sequence[str], layers: Sequence[int], *, batch_size: int = 16
) -> dict[int, torch.Tensor]:
    """``{block: float32 [len(prompts), hidden]}``: each prompt's reading at each block, unsteered."""
    encoded = [prompt_reading_text(loaded.tokenizer, p) for p in prompts]
    out = {i: torch.zeros(len(prompts), loaded.hidden_size) for i in layers}
    if not prompts:
        return out
    for indices, readings in iter_block_outputs(
        loaded, encoded, layers, position="mean", batch_size=batch_size
    ):
        for i in layers:
            out[i][indices] = readings[i].cpu()
    return out


def similarities(readings: torch.Tensor, direction: torch.Tensor) -> list[float]:
    """Cosine of each row of ``readings`` with ``direction`` (float64 for a stable threshold)."""
    cosines = torch.nn.functional.cosine_similarity(
        readings.double(), direction.double()[None, :], dim=-1
    )
    return [float(c) for c in cosines]


def decide(
    loaded: LoadedModel, condition: GateCondition, prompts: Sequence[str], *, batch_size: int = 16
) -> list[GateDecision]:
    """The gate for each prompt, from one unsteered pass that stops at the condition block."""
    if condition.layer >= loaded.num_layers:
        raise SteeringError(
            f"The vector's condition reads block {condition.layer}, but the model has "
            f"{loaded.num_layers} blocks: it was built for another model."
        )
    readings = prompt_readings(loaded, prompts, [condition.layer], batch_size=batch_size)
    scores = similarities(readings[condition.layer], condition.direction)
    return [GateDecision(s >= condition.threshold, s) for s in scores]


def decisions_for(
    loaded: LoadedModel, vector: ControlVector | None, prompts: Sequence[str]
) -> list[GateDecision] | None:
    """The gate of ``vector`` for each prompt; None when the vector is unconditional (or absent)."""
    if vector is None or vector.condition is None:
        return None
    return decide(loaded, vector.condition, prompts)


def first_sentence(paragraph: str) -> str:
    """What the gate reads of a neutral paragraph: its first sentence (up to ., ! or ?)."""
    text = " ".join(paragraph.split())
    for index, char in enumerate(text):
        if char in ".!?" and (index + 1 == len(text) or text[index + 1] == " "):
            return text[: index + 1]
    return text
