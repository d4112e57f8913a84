"""Answers with and without a control vector, from one batched ``generate`` call.

Row ``b`` of the batch is steered with strength ``alphas[b]``; the unsteered answer is the row with
strength 0. Greedy by default; sampling takes a seed so that a demo can be replayed. Each answer
knows whether it stopped at the token limit rather than ending by itself (``Answer.cut``), so a
screen can say that an answer is unfinished instead of letting it stop mid-sentence unexplained.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, Unpack, cast

import torch

from steering.engine.activations import pad_batch
from steering.engine.gate import GateDecision, decisions_for
from steering.engine.models import LoadedModel
from steering.engine.steer import steer
from steering.engine.text import Encoded, TextTooLongError, context_length, encode
from steering.errors import SteeringError
from steering.vectors import ControlVector

if TYPE_CHECKING:
    from transformers import GenerationMixin

# Seeded sampling reseeds torch's global generator; one sampling call at a time keeps it replayable.
_sampling_lock = threading.Lock()


@dataclass(frozen=True)
class Answer:
    """One generated answer: its text, and whether it was cut at ``limit`` new tokens."""

    text: str
    cut: bool  # the model was still writing when the token limit stopped it
    limit: int  # the token limit it was generated under
    # A conditional vector's gate for this row (None: no vector, strength 0 or no gate); when
    # closed, the row was not steered.
    gate: GateDecision | None = None


class GenerationOptions(TypedDict, total=False):
    """The keywords every generating function here takes; the defaults are ``_generate``'s.

    One list for :func:`generate_texts`, :func:`generate_answers`, :func:`side_by_side` and
    :func:`side_by_side_answers`, so a new knob is added once and type-checked at every call.
    """

    layers: Sequence[int] | None  # which of the vector's layers to steer (None: all of them)
    preserve_norm: bool  # rescale each steered token to its unsteered norm
    max_new_tokens: int  # at least 1; 64 by default
    do_sample: bool  # greedy unless True
    temperature: float  # when sampling; 0.7 by default
    top_p: float  # when sampling; 0.95 by default
    seed: int | None  # when sampling: the same seed replays the same answers


def generate_texts(
    loaded: LoadedModel,
    prompts: Sequence[str],
    *,
    vector: ControlVector | None = None,
    alphas: Sequence[float] | float = 0.0,
    **options: Unpack[GenerationOptions],
) -> list[str]:
    """Generate one answer per prompt in a single batched call, row ``b`` steered by ``alphas[b]``.

    The texts of :func:`generate_answers`.
    """
    answers = generate_answers(loaded, prompts, vector=vector, alphas=alphas, **options)
    return [answer.text for answer in answers]


def generate_answers(
    loaded: LoadedModel,
    prompts: Sequence[str],
    *,
    vector: ControlVector | None = None,
    alphas: Sequence[float] | float = 0.0,
    **options: Unpack[GenerationOptions],
) -> list[Answer]:
    """One answer per prompt from a single batched call, row ``b`` steered by ``alphas[b]``."""
    return _generate(loaded, prompts, vector, alphas, **options)


def _generate(
    loaded: LoadedModel,
    prompts: Sequence[str],
    vector: ControlVector | None,
    alphas: Sequence[float] | float,
    *,
    layers: Sequence[int] | None = None,
    preserve_norm: bool = False,
    max_new_tokens: int = 64,
    do_sample: bool = False,
    temperature: float = 0.7,
    top_p: float = 0.95,
    seed: int | None = None,
) -> list[Answer]:
    if not prompts:
        return []
    if any(not p.strip() for p in prompts):
        raise SteeringError("The prompt is empty: type a question first.")
    if max_new_tokens < 1:
        raise SteeringError("The number of new tokens must be at least 1.")
    row_alphas = [float(alphas)] * len(prompts) if isinstance(alphas, (int, float)) else alphas
    if len(row_alphas) != len(prompts):
        raise SteeringError(f"{len(row_alphas)} strengths were given for {len(prompts)} prompts.")
    tokenizer = loaded.tokenizer
    encoded = [encode(tokenizer, p) for p in prompts]
    _check_context(loaded, encoded, max_new_tokens)
    steered_rows = [b for b, a in enumerate(row_alphas) if a != 0]
    gates: list[GateDecision | None] = [None] * len(prompts)
    decided = decisions_for(loaded, vector, [prompts[b] for b in steered_rows])
    if decided is not None:
        for b, decision in zip(steered_rows, decided, strict=True):
            gates[b] = decision
        row_alphas = [
            0.0 if g is not None and not g.applied else a
            for a, g in zip(row_alphas, gates, strict=True)
        ]
    batch = pad_batch(
        encoded,
        list(range(len(encoded))),
        tokenizer.pad_token_id,
        padding_side="left",  # generation appends on the right
        device=loaded.device,
    )
    # Explicit None for the unused knobs, so a model's generation_config cannot turn them on.
    sampling = (
        {"temperature": temperature, "top_p": top_p}
        if do_sample
        else {"temperature": None, "top_p": None}
    )
    steering = (
        steer(loaded, vector, row_alphas, layers=layers, preserve_norm=preserve_norm)
        if vector is not None and any(a != 0 for a in row_alphas)
        else nullcontext()
    )
    seeded = _sampling_lock if (do_sample and seed is not None) else nullcontext()
    with seeded, steering, torch.inference_mode():
        if do_sample and seed is not None:
            torch.manual_seed(seed)
        output = cast("GenerationMixin", loaded.model).generate(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            top_k=None,
            pad_token_id=tokenizer.pad_token_id,
            **sampling,
        )
    new_tokens = output[:, batch.input_ids.shape[1] :]
    texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    stops = _stop_ids(loaded)
    # Cut: every one of the allowed new tokens was used and none of them ends the answer (a row
    # that finished early is padded after its end token, so it always holds one).
    full = new_tokens.shape[1] >= max_new_tokens
    return [
        Answer(text.strip(), full and not (stops & set(row.tolist())), max_new_tokens, gate)
        for text, row, gate in zip(texts, new_tokens, gates, strict=True)
    ]


def _stop_ids(loaded: LoadedModel) -> set[int]:
    """The token ids that end an answer: the tokenizer's and the generation config's end tokens."""
    ids: set[int] = set()
    config = getattr(loaded.model, "generation_config", None)
    for value in (loaded.tokenizer.eos_token_id, getattr(config, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


def _check_context(loaded: LoadedModel, encoded: Sequence[Encoded], max_new_tokens: int) -> None:
    """The prompt and the answer asked for must fit the model's context together."""
    context = context_length(loaded.model)
    if context is None:
        return
    longest = max(len(e.ids) for e in encoded)
    if longest + max_new_tokens > context:
        raise TextTooLongError(
            f"The prompt is {longest:,} tokens and {max_new_tokens:,} more were asked for, but "
            f"this model reads at most {context:,} tokens at once. Shorten the prompt or ask for "
            "a shorter answer."
        )


def side_by_side(
    loaded: LoadedModel,
    prompt: str,
    vector: ControlVector,
    alpha: float,
    **options: Unpack[GenerationOptions],
) -> dict[str, str]:
    """``{"unsteered": ..., "steered": ...}`` for one prompt, both rows in one batch."""
    answers = side_by_side_answers(loaded, prompt, vector, alpha, **options)
    return {key: answer.text for key, answer in answers.items()}


def side_by_side_answers(
    loaded: LoadedModel,
    prompt: str,
    vector: ControlVector,
    alpha: float,
    **options: Unpack[GenerationOptions],
) -> dict[str, Answer]:
    """Like :func:`side_by_side`, each answer with whether it stopped at the token limit."""
    unsteered, steered = _generate(loaded, [prompt, prompt], vector, [0.0, alpha], **options)
    return {"unsteered": unsteered, "steered": steered}
