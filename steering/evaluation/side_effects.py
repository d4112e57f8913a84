"""Side effects of a control vector on text that has nothing to do with the task.

Two measurements, each at every strength in one batched pass (row ``b`` steered by its own
strength):

- **perplexity** of the neutral paragraphs in ``assets/neutral/paragraphs.txt`` (blank-line
  separated), each tokenized as plain text (no chat template: it is prose, not a conversation).
  Corpus perplexity: ``exp(total negative log-likelihood / total predicted tokens)``, every token
  after the first predicted from the ones before it.
- **changed answers**: the share of the neutral prompts in ``assets/neutral/prompts.txt`` whose
  greedy answer (``max_new_tokens`` tokens, the text rule) differs from the unsteered answer.

A conditional vector is measured with its gate deciding, as it would be used: each paragraph is
steered only when the gate opens on its first sentence (``gate.first_sentence``), and the changed
answers are counted on the held-out everyday half (``everyday_prompts("heldout")``, prompts the
gate was not chosen on), each answer steered only when the gate opens on its prompt. A text or
prompt whose gate is closed is unsteered at every strength, so its unsteered result is used
there rather than computed again (that is what keeps the ~200 everyday prompts affordable: only
the open ones are generated at each strength).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch

from steering.engine.gate import GateDecision, decisions_for, first_sentence
from steering.engine.generate import generate_texts
from steering.engine.models import LoadedModel
from steering.engine.steer import steer
from steering.evaluation.results import NeutralAnswer, SideEffects
from steering.vectors import ControlVector

NEUTRAL_DIR = Path(__file__).resolve().parents[2] / "assets" / "neutral"


def neutral_paragraphs() -> list[str]:
    text = (NEUTRAL_DIR / "paragraphs.txt").read_text(encoding="utf-8")
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]


def neutral_prompts() -> list[str]:
    text = (NEUTRAL_DIR / "prompts.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def perplexities(
    loaded: LoadedModel,
    vector: ControlVector | None,
    alphas: Sequence[float],
    *,
    texts: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
    batch_size: int = 16,
) -> dict[float, float]:
    """Corpus perplexity of ``texts`` (default: the neutral paragraphs) at each strength.

    A conditional vector steers a text only where its gate opens on the text's first sentence.
    """
    texts = list(texts) if texts is not None else neutral_paragraphs()
    tokenizer, model, device = loaded.tokenizer, loaded.model, loaded.device
    encoded = [list(tokenizer(t)["input_ids"]) for t in texts]
    gates = decisions_for(loaded, vector, [first_sentence(t) for t in texts])
    vector = _decided(vector, gates)
    strengths = [float(a) for a in alphas]
    # Per strength, the texts it is computed on; a closed text's is its strength-0 result.
    computed = list(dict.fromkeys(([0.0] if gates is not None else []) + strengths))
    rows = [
        (a, t)
        for a in computed
        for t in range(len(texts))
        if a == 0.0 or gates is None or gates[t].applied
    ]
    nll_of: dict[tuple[float, int], float] = {}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(encoded[t]) for _, t in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for b, (_, t) in enumerate(chunk):
            row = encoded[t]
            ids[b, : len(row)] = torch.tensor(row)
            mask[b, : len(row)] = 1
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        chunk_alphas = [a for a, _ in chunk]
        with torch.inference_mode():
            context = (
                steer(loaded, vector, chunk_alphas, layers=layers)
                if vector is not None and any(chunk_alphas)
                else nullcontext()
            )
            with context:
                hidden = model.base_model(
                    input_ids=ids.to(device),
                    attention_mask=mask.to(device),
                    position_ids=positions.to(device),
                    use_cache=False,
                ).last_hidden_state
            for b, (alpha, t) in enumerate(chunk):
                row = encoded[t]
                logits = loaded.float32_logits(hidden[b, : len(row) - 1])
                logp = torch.log_softmax(logits, dim=-1)
                target = torch.tensor(row[1:], device=device)
                nll_of[(alpha, t)] = -float(logp.gather(1, target[:, None]).sum())
    count = sum(len(row) - 1 for row in encoded)
    total = {
        a: sum(nll_of[(a, t) if (a, t) in nll_of else (0.0, t)] for t in range(len(texts)))
        for a in strengths
    }
    return {a: math.exp(total[a] / max(count, 1)) for a in strengths}


def answer_prompts(vector: ControlVector | None) -> list[str]:
    """The prompts "answers changed" is measured on: the held-out everyday half for a
    conditional vector (its gate decides), else the neutral prompts."""
    if vector is not None and vector.condition is not None:
        from steering.data.everyday import everyday_prompts

        return everyday_prompts("heldout")
    return neutral_prompts()


def _decided(
    vector: ControlVector | None, gates: Sequence[GateDecision] | None
) -> ControlVector | None:
    # Once the gate is decided per row, the rows it closed get strength 0 and the vector is
    # applied as an unconditional one (no second decision inside the generating function).
    return vector if gates is None or vector is None else replace(vector, condition=None)


def changed_answers(
    loaded: LoadedModel,
    vector: ControlVector | None,
    alphas: Sequence[float],
    *,
    prompts: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
    max_new_tokens: int = 24,
    batch_size: int = 64,
) -> tuple[dict[float, float], tuple[NeutralAnswer, ...]]:
    """Share of ``prompts`` (default: ``answer_prompts(vector)``) whose greedy answer differs
    from the unsteered one, per strength.

    A conditional vector steers a prompt only where its gate opens on it. Also returns the
    answers themselves, one record per prompt, for a reviewer to read.
    """
    prompts = list(prompts) if prompts is not None else answer_prompts(vector)
    gates = decisions_for(loaded, vector, prompts)
    steering = _decided(vector, gates)
    strengths = [0.0] + list(dict.fromkeys(float(a) for a in alphas if a != 0))
    units = [
        (a, i)
        for a in strengths
        for i in range(len(prompts))
        if a == 0.0 or gates is None or gates[i].applied
    ]
    texts: list[str] = []
    for start in range(0, len(units), batch_size):
        chunk = units[start : start + batch_size]
        texts += generate_texts(
            loaded,
            [prompts[i] for _, i in chunk],
            vector=steering,
            alphas=[a for a, _ in chunk],
            layers=layers,
            max_new_tokens=max_new_tokens,
        )
    made = dict(zip(units, texts, strict=True))
    by_alpha = {
        a: [made[(a, i)] if (a, i) in made else made[(0.0, i)] for i in range(len(prompts))]
        for a in strengths
    }
    base = by_alpha[0.0]
    share = {
        float(a): sum(x != y for x, y in zip(base, by_alpha[float(a)], strict=True))
        / max(len(prompts), 1)
        for a in alphas
    }
    records = tuple(
        NeutralAnswer(p, {a: by_alpha[a][i] for a in strengths}) for i, p in enumerate(prompts)
    )
    return share, records


def side_effects(
    loaded: LoadedModel,
    vector: ControlVector | None,
    alphas: Sequence[float],
    *,
    layers: Sequence[int] | None = None,
    max_new_tokens: int = 24,
) -> SideEffects:
    """Perplexity of neutral text and the share of changed answers, at each strength, with a
    conditional vector's gate deciding (see the module's docstring)."""
    ppl = perplexities(loaded, vector, alphas, layers=layers)
    share, records = changed_answers(
        loaded, vector, alphas, layers=layers, max_new_tokens=max_new_tokens
    )
    return SideEffects(perplexity=ppl, changed_share=share, answers=records)
