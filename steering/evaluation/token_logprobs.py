"""Log-probabilities of every token of a text given the tokens before it, under steering.

What an evaluation harness asks of a completions API with ``echo`` (lm-evaluation-harness'
log-likelihood requests): the text's tokens, each one's log-probability given everything before
it (the first has none), and the most likely tokens at each position. Computed as the lab's own
candidate scoring computes its numbers (:mod:`steering.evaluation.scoring`): one forward pass of
the base model inside :func:`~steering.engine.steer.steer`, log-probabilities from float32 logits
(:func:`~steering.evaluation.scoring.head_logprobs`), so a candidate's summed log-probability
here equals its score there.

A conditional vector steers the text only where its gate opens on the user's text
(``gate_text``), as in the decoding loop: open, the whole text is steered; closed, it is scored
by the plain model. A caller that already has the decision for this text (the loop's, on its
ticket) passes it as ``gate`` so that the scores and the generated answer agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import torch

from steering.engine.decoding_rows import check_gate, decide_gates, gate_condition, gated_steering
from steering.engine.gate import GateDecision
from steering.engine.models import LoadedModel
from steering.engine.steer import RowSteering, steer
from steering.errors import SteeringError
from steering.evaluation.scoring import head_logprobs

HEAD_POSITIONS = 128  # positions per output-layer call: full-vocabulary rows are large
MAX_TOP = 20


@dataclass(frozen=True)
class TextLogprobs:
    """Per token of the text: its log-probability (None for the first token, which has nothing
    before it) and the ``top`` most likely tokens there as (id, log-probability), best first;
    ``gate``: a conditional vector's decision (None: unsteered or an unconditional vector)."""

    ids: tuple[int, ...]
    logprobs: tuple[float | None, ...]
    top: tuple[tuple[tuple[int, float], ...], ...]
    gate: GateDecision | None = None


def token_logprobs(
    loaded: LoadedModel,
    ids: Sequence[int],
    *,
    steering: RowSteering | None = None,
    top: int = 0,
    gate_text: str | None = None,
    gate: GateDecision | None = None,
) -> TextLogprobs:
    """Score ``ids`` (one text's tokens) with the model, steered by ``steering`` (None: not).

    A conditional ``steering`` is gated: by ``gate`` when given, else decided on ``gate_text``
    (the user's text; required then)."""
    if not ids:
        raise SteeringError("The text has no tokens: send some text.")
    if not 0 <= top <= MAX_TOP:
        raise SteeringError(f"At most {MAX_TOP} top tokens per position can be listed.")
    decision: GateDecision | None = None
    if gate_condition(steering) is not None:
        if gate is None:
            check_gate(loaded, steering, gate_text)
            with torch.inference_mode():
                gate = decide_gates(loaded, [steering], [gate_text])[0]
        decision = gate
        steering = gated_steering(steering, decision)
    model, device = loaded.model, loaded.device
    tokens = torch.tensor([list(ids)], dtype=torch.long, device=device)
    with ExitStack() as stack, torch.inference_mode():
        if steering is not None and steering.alpha != 0:
            stack.enter_context(
                steer(loaded, steering.vector, [steering.alpha], layers=steering.layers)
            )
        hidden = model.base_model(
            input_ids=tokens,
            attention_mask=torch.ones_like(tokens),
            position_ids=torch.arange(len(ids), device=device)[None, :],
            use_cache=False,
        ).last_hidden_state[0]
    picked: list[float | None] = [None]
    best: list[tuple[tuple[int, float], ...]] = [()]
    with torch.inference_mode():
        # Position p predicts token p + 1; the last position predicts nothing in the text.
        for start in range(0, len(ids) - 1, HEAD_POSITIONS):
            end = min(start + HEAD_POSITIONS, len(ids) - 1)
            logp = head_logprobs(loaded, hidden[start:end]).double().cpu()
            targets = tokens[0, start + 1 : end + 1].cpu()
            picked.extend(float(x) for x in logp.gather(1, targets[:, None])[:, 0])
            if top:
                values, indices = logp.topk(top, dim=-1)
                for row_values, row_ids in zip(values, indices, strict=True):
                    pairs = zip(row_ids.tolist(), row_values.tolist(), strict=True)
                    best.append(tuple((int(i), float(v)) for i, v in pairs))
            else:
                best.extend(() for _ in range(end - start))
    return TextLogprobs(tuple(ids), tuple(picked), tuple(best), decision)
