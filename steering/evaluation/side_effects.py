"""Side effects of a control vector on text that has nothing to do with the task.

Two measurements, each at every strength in one batched pass (row ``b`` steered by its own
strength):

- **perplexity** of the neutral paragraphs in ``assets/neutral/paragraphs.txt`` (blank-line
  separated), each tokenized as plain text (no chat template: it is prose, not a conversation).
  Corpus perplexity: ``exp(total negative log-likelihood / total predicted tokens)``, every token
  after the first predicted from the ones before it.
- **changed answers**: the share of the neutral prompts in ``assets/neutral/prompts.txt`` whose
  greedy answer (``max_new_tokens`` tokens, the text rule) differs from the unsteered answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch

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
    """Corpus perplexity of ``texts`` (default: the neutral paragraphs) at each strength."""
    texts = list(texts) if texts is not None else neutral_paragraphs()
    tokenizer, model, device = loaded.tokenizer, loaded.model, loaded.device
    encoded = [list(tokenizer(t)["input_ids"]) for t in texts]
    rows = [(a, ids) for a in alphas for ids in encoded]
    nll = {float(a): 0.0 for a in alphas}
    count = {float(a): 0 for a in alphas}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(ids) for _, ids in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for b, (_, row) in enumerate(chunk):
            ids[b, : len(row)] = torch.tensor(row)
            mask[b, : len(row)] = 1
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        chunk_alphas = [float(a) for a, _ in chunk]
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
            for b, (alpha, row) in enumerate(chunk):
                logits = loaded.float32_logits(hidden[b, : len(row) - 1])
                logp = torch.log_softmax(logits, dim=-1)
                target = torch.tensor(row[1:], device=device)
                nll[float(alpha)] -= float(logp.gather(1, target[:, None]).sum())
                count[float(alpha)] += len(row) - 1
    return {a: math.exp(nll[a] / max(count[a], 1)) for a in nll}


def changed_answers(
    loaded: LoadedModel,
    vector: ControlVector | None,
    alphas: Sequence[float],
    *,
    prompts: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
    max_new_tokens: int = 24,
) -> tuple[dict[float, float], tuple[NeutralAnswer, ...]]:
    """Share of ``prompts`` whose greedy answer differs from the unsteered one, per strength.

    Also returns the answers themselves, one record per prompt, for a reviewer to read.
    """
    prompts = list(prompts) if prompts is not None else neutral_prompts()
    strengths = [0.0] + [float(a) for a in alphas if a != 0]
    texts = generate_texts(
        loaded,
        [p for _ in strengths for p in prompts],
        vector=vector,
        alphas=[a for a in strengths for _ in prompts],
        layers=layers,
        max_new_tokens=max_new_tokens,
    )
    by_alpha = {
        a: texts[i * len(prompts) : (i + 1) * len(prompts)] for i, a in enumerate(strengths)
    }
    base = by_alpha[0.0]
    share = {
        float(a): sum(x != y for x, y in zip(base, by_alpha[float(a) if a else 0.0], strict=True))
        / len(prompts)
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
    """Perplexity of neutral text and the share of changed neutral answers, at each strength."""
    ppl = perplexities(loaded, vector, alphas, layers=layers)
    share, records = changed_answers(
        loaded, vector, alphas, layers=layers, max_new_tokens=max_new_tokens
    )
    return SideEffects(perplexity=ppl, changed_share=share, answers=records)
