"""Batched candidate scoring under per-row steering, and the paper's first-answer-token diagnostics.

For a question with formatted prompt ``P`` and candidates ``c_1..c_k``, each candidate's tokens are
those of ``encode(tokenizer, prompt, c)`` after its ``prompt_len`` (the text rule). Its score is
the **sum** of the log-probabilities of those tokens, each given everything before it; the
length-normalised score is that sum divided by the number of tokens (lm-evaluation-harness'
``acc`` and ``acc_norm``, the latter per token rather than per character).

Work is organised in *units*: one (question, condition) pair, a condition being a strength and an
optional set of layers. Units of many questions and conditions share one batch; each batch row is
steered with its own strength (and, for layer sweeps, only at its own layers, by nesting one
``steer`` per layer set with zero strength on the other rows). Per batch:

1. one forward pass over the left-padded prompts (``use_cache``), which gives the next-token
   distribution right after every prompt and the key/value cache of the prompt;
2. one forward pass over the candidates' remaining tokens (only when some candidate has more than
   one token), each candidate row reusing its prompt's cache, so a prompt is computed once per
   unit, not once per candidate.

Diagnostics, at the first answer token, i.e. the next-token distribution after the formatted
prompt (position ``D - 1`` where ``D`` is where the candidates' tokens begin):

- ``kl``: KL(unsteered || steered) = sum_v p0(v) (ln p0(v) - ln p(v)) over the whole vocabulary, in
  **nats**; 0 for unsteered units.
- ``entropy_bits``: -sum_v p(v) log2 p(v) of the steered distribution, in **bits**.
- ``first_probs``: probability p(t_c) of each candidate's first token t_c. The evaluation turns
  these into ``mass_correct`` = p(t_correct) and ``mass_incorrect`` = the sum of p(t) over the
  *distinct* first tokens of the incorrect candidates that differ from t_correct (a token shared with
  the correct candidate, e.g. the "1" of 12 and 15 when digits are single tokens, counts as correct
  only). A candidate whose first token merged with the end of the prompt has no first token here.

A conditional vector (``ControlVector.condition``) is gated once per question, from its prompt
(``steering.engine.gate``): a steered unit of a question whose gate is closed is the unsteered
model's unit (KL 0), not recomputed; an open one is scored as under unconditional steering.
Every unit of a question carries the question's ``GateDecision`` (None for an unconditional
vector).

Equality with one question, one candidate, one strength per unpadded forward pass is tested.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

import torch

from steering.engine.gate import GateDecision, decisions_for
from steering.engine.models import LoadedModel, cache_kwarg_name
from steering.engine.steer import steer
from steering.engine.text import context_length, encode
from steering.errors import SteeringError
from steering.progress import ProgressCallback
from steering.vectors import ControlVector

LOG2 = math.log(2.0)


def kl_nats(logp_ref: torch.Tensor, logp: torch.Tensor) -> float:
    """KL(ref || p) in nats from two log-probability vectors over the same vocabulary."""
    ref = logp_ref.double()
    terms = torch.where(ref.isneginf(), torch.zeros_like(ref), ref.exp() * (ref - logp.double()))
    return float(terms.sum().clamp_min(0.0))


def entropy_bits(logp: torch.Tensor) -> torch.Tensor:
    """Entropy in bits of each distribution (last dimension) given as log-probabilities."""
    logp = logp.double()
    terms = torch.where(logp.isneginf(), torch.zeros_like(logp), logp.exp() * logp)
    return -terms.sum(dim=-1) / LOG2


@dataclass(frozen=True)
class Condition:
    """A strength, applied at ``layers`` (None: the layers given to the call, else all)."""

    alpha: float
    layers: tuple[int, ...] | None = None

    @property
    def steered(self) -> bool:
        return self.alpha != 0.0


@dataclass
class UnitScores:
    """Scores of one question under one condition."""

    logprobs: list[float]  # summed log-probability per candidate
    tokens: list[int]  # number of tokens per candidate
    first_probs: list[float]  # p(first token) per candidate, NaN when it has none
    kl: float
    entropy_bits: float
    gate: GateDecision | None = None  # the question's gate (None: the vector is unconditional)

    @property
    def mean_logprobs(self) -> list[float]:
        return [s / max(n, 1) for s, n in zip(self.logprobs, self.tokens, strict=True)]


@dataclass
class _Question:
    prompt_ids: list[int]
    answer_start: int  # D: where the candidates' tokens begin
    starts: list[int]  # per candidate: its prompt_len under the rule (<= len(prompt_ids))
    continuations: list[list[int]]  # per candidate: its tokens
    first_tokens: list[int | None]


def _prepare(
    tokenizer: Any, prompt: str, candidates: Sequence[str], context: int | None = None
) -> _Question:
    prompt_ids = list(encode(tokenizer, prompt, context=context).ids)
    starts, continuations = [], []
    for candidate in candidates:
        enc = encode(tokenizer, prompt, candidate, context=context)
        ids = list(enc.ids)
        start = 0
        for a, b in zip(ids, prompt_ids, strict=False):
            if a != b:
                break
            start += 1
        start = min(start, enc.prompt_len, len(ids) - 1)
        if start < 1:
            raise SteeringError("A candidate answer changes the very first token of the prompt.")
        starts.append(start)
        continuations.append(ids[start:])
    answer_start = max(starts)
    first = [
        c[0] if s == answer_start else None for s, c in zip(starts, continuations, strict=True)
    ]
    return _Question(prompt_ids[:answer_start], answer_start, starts, continuations, first)


def first_answer_tokens(tokenizer: Any, prompt: str, candidates: Sequence[str]) -> list[int | None]:
    """Each candidate's first answer token under the text rule (None: it merged into the prompt)."""
    return _prepare(tokenizer, prompt, candidates).first_tokens


def head_logprobs(loaded: LoadedModel, hidden: torch.Tensor) -> torch.Tensor:
    """Log-probabilities from float32 logits, whatever format the model runs in: a bfloat16
    output layer would round logits of about 20 to steps of 0.125, swamping candidates' gaps."""
    logits = loaded.float32_logits(hidden)
    cap = getattr(loaded.model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.log_softmax(logits, dim=-1)


def _steering(
    stack: ExitStack,
    loaded: LoadedModel,
    vector: ControlVector | None,
    conditions: Sequence[Condition],
    default_layers: Sequence[int] | None,
) -> None:
    """Enter one ``steer`` per distinct layer set, each strong only on its own rows."""
    if vector is None or not any(c.steered for c in conditions):
        return
    layer_sets: dict[tuple[int, ...] | None, list[float]] = {}
    for row, condition in enumerate(conditions):
        if not condition.steered:
            continue
        key = condition.layers if condition.layers is not None else None
        layer_sets.setdefault(key, [0.0] * len(conditions))[row] = condition.alpha
    for key, alphas in layer_sets.items():
        chosen = list(key) if key is not None else default_layers
        stack.enter_context(steer(loaded, vector, alphas, layers=chosen))


def score_units(
    loaded: LoadedModel,
    prompts: Sequence[str],
    candidates: Sequence[Sequence[str]],
    conditions: Sequence[Condition],
    *,
    vector: ControlVector | None = None,
    layers: Sequence[int] | None = None,
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
) -> list[list[UnitScores]]:
    """``result[q][j]``: scores of question ``q`` under ``conditions[j]``.

    ``batch_size`` is the number of units (prompts) per forward pass; the candidate pass has about
    ``batch_size * k`` short rows.
    """
    if vector is None and any(c.steered for c in conditions):
        raise SteeringError("A strength other than 0 needs a control vector.")
    if len(prompts) != len(candidates):
        raise ValueError("one candidate list per prompt")
    if any(not cands for cands in candidates):
        raise SteeringError("Every question needs at least one candidate answer.")
    tokenizer, context = loaded.tokenizer, context_length(loaded.model)
    questions = [
        _prepare(tokenizer, p, c, context) for p, c in zip(prompts, candidates, strict=True)
    ]
    results: list[list[UnitScores | None]] = [[None] * len(conditions) for _ in questions]
    unsteered = [j for j, c in enumerate(conditions) if not c.steered]
    steered = [j for j, c in enumerate(conditions) if c.steered]
    gates = decisions_for(loaded, vector, prompts)  # None: unconditional (or no) vector
    # The unsteered distribution of every question is needed for KL: compute it first, once.
    base_units = [(q, -1) for q in range(len(questions))]
    # A closed gate leaves the question unsteered: its steered units are its baseline, below.
    steered_units = [
        (q, j) for q in range(len(questions)) if gates is None or gates[q].applied for j in steered
    ]
    total = len(base_units) + len(steered_units)
    baseline: dict[int, torch.Tensor] = {}
    base_units_of: dict[int, UnitScores] = {}
    done = 0
    base_condition = Condition(0.0)
    for phase in (base_units, steered_units):
        order = sorted(phase, key=lambda u: -len(questions[u[0]].prompt_ids))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            chunk_conditions = [conditions[j] if j >= 0 else base_condition for _, j in chunk]
            scored = _score_chunk(
                loaded, vector, layers, [questions[q] for q, _ in chunk], chunk_conditions
            )
            for (q, j), (unit, logp) in zip(chunk, scored, strict=True):
                if j < 0:
                    baseline[q] = logp
                    base_units_of[q] = unit
                    unit.kl = 0.0
                    for k in unsteered:
                        results[q][k] = unit
                else:
                    unit.kl = kl_nats(baseline[q], logp)
                    results[q][j] = unit
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    if gates is not None:
        for q, gate in enumerate(gates):
            for j, existing in enumerate(results[q]):
                # Unset: a steered unit of a closed question, which is the unsteered model's.
                own = existing if existing is not None else base_units_of[q]
                results[q][j] = replace(own, gate=gate)
    return results  # type: ignore[return-value]


def _score_chunk(
    loaded: LoadedModel,
    vector: ControlVector | None,
    layers: Sequence[int] | None,
    questions: Sequence[_Question],
    conditions: Sequence[Condition],
) -> list[tuple[UnitScores, torch.Tensor]]:
    model, device = loaded.model, loaded.device
    pad_id = loaded.tokenizer.pad_token_id
    width = max(len(q.prompt_ids) for q in questions)
    rows = len(questions)
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    for b, q in enumerate(questions):  # left padding: every prompt ends in the last column
        n = len(q.prompt_ids)
        ids[b, width - n :] = torch.tensor(q.prompt_ids)
        mask[b, width - n :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    offsets = [width - len(q.prompt_ids) for q in questions]

    # Candidate rows: (unit, candidate). The first token is predicted inside the prompt pass (at
    # the candidate's start - 1); the rest need the second pass.
    cand_rows = [(b, c) for b, q in enumerate(questions) for c in range(len(q.continuations))]
    first_positions = torch.tensor(
        [offsets[b] + questions[b].starts[c] - 1 for b, c in cand_rows], dtype=torch.long
    )
    with ExitStack() as stack, torch.inference_mode():
        _steering(stack, loaded, vector, conditions, layers)
        out = model.base_model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            use_cache=True,
        )
    hidden = out.last_hidden_state
    with torch.inference_mode():
        answer_logp = head_logprobs(
            loaded, hidden[:, -1]
        )  # [rows, vocab]: after the formatted prompt
        first_logp = head_logprobs(
            loaded, hidden[[b for b, _ in cand_rows], first_positions.to(device)]
        )
    first_ids = torch.tensor([questions[b].continuations[c][0] for b, c in cand_rows])
    token_logp = first_logp.gather(1, first_ids.to(device)[:, None])[:, 0].double().cpu()
    sums = token_logp.clone()

    longer = [r for r, (b, c) in enumerate(cand_rows) if len(questions[b].continuations[c]) > 1]
    if longer:
        sums += _continuation_logprobs(
            loaded, vector, layers, questions, conditions, cand_rows, longer, out, mask, offsets
        )
    del out

    answer_logp = answer_logp.cpu()
    entropy = entropy_bits(answer_logp)
    results = []
    row = 0
    for b, q in enumerate(questions):
        k = len(q.continuations)
        probs = []
        for c in range(k):
            token = q.first_tokens[c]
            probs.append(float(answer_logp[b, token].exp()) if token is not None else math.nan)
        unit = UnitScores(
            logprobs=[float(x) for x in sums[row : row + k]],
            tokens=[len(c) for c in q.continuations],
            first_probs=probs,
            kl=math.nan,
            entropy_bits=float(entropy[b]),
        )
        results.append((unit, answer_logp[b]))
        row += k
    return results


def _continuation_logprobs(
    loaded: LoadedModel,
    vector: ControlVector | None,
    layers: Sequence[int] | None,
    questions: Sequence[_Question],
    conditions: Sequence[Condition],
    cand_rows: list[tuple[int, int]],
    longer: list[int],
    out: Any,
    prompt_mask: torch.Tensor,
    offsets: list[int],
) -> torch.Tensor:
    """Log-probabilities of candidate tokens 2.. given the cached prompt, summed per candidate row."""
    model, device = loaded.model, loaded.device
    pad_id = loaded.tokenizer.pad_token_id
    units = [cand_rows[r][0] for r in longer]
    inputs = [questions[b].continuations[c] for b, c in (cand_rows[r] for r in longer)]
    starts = [questions[b].starts[c] for b, c in (cand_rows[r] for r in longer)]
    length = max(len(x) - 1 for x in inputs)
    width = prompt_mask.shape[1]
    ids = torch.full((len(longer), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(longer), width + length), dtype=torch.long)
    positions = torch.zeros((len(longer), length), dtype=torch.long)
    for r, (tokens, start, b) in enumerate(zip(inputs, starts, units, strict=True)):
        n = len(tokens) - 1
        ids[r, :n] = torch.tensor(tokens[:-1])
        # The candidate sees the prompt only up to its own start (a token merged across the
        # boundary replaces the prompt's last tokens).
        mask[r, offsets[b] : offsets[b] + start] = 1
        mask[r, width : width + n] = 1
        positions[r, :] = start + torch.arange(length)
    # transformers 5 names the output cache ``cache`` (``past_key_values`` warns).
    cache = out.cache if "cache" in out else out.past_key_values
    cache.batch_select_indices(torch.tensor(units, device=device))
    row_conditions = [conditions[b] for b in units]
    with ExitStack() as stack, torch.inference_mode():
        _steering(stack, loaded, vector, row_conditions, layers)
        second = model.base_model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            use_cache=True,
            **{cache_kwarg_name(model.base_model): cache},
        )
        hidden = second.last_hidden_state
    targets = torch.full((len(longer), length), 0, dtype=torch.long)
    valid = torch.zeros((len(longer), length), dtype=torch.bool)
    for r, tokens in enumerate(inputs):
        targets[r, : len(tokens) - 1] = torch.tensor(tokens[1:])
        valid[r, : len(tokens) - 1] = True
    picked = torch.zeros((len(longer), length), dtype=torch.float64)
    step = 16  # rows per head call: full-vocabulary logits of long candidates are large
    with torch.inference_mode():
        for r in range(0, len(longer), step):
            logp = head_logprobs(loaded, hidden[r : r + step])  # [step, length, vocab]
            chosen = targets[r : r + step].to(device)[:, :, None]
            picked[r : r + step] = logp.gather(2, chosen)[:, :, 0].double().cpu()
    per_row = (picked * valid).sum(dim=1)
    extra = torch.zeros(len(cand_rows), dtype=torch.float64)
    extra[longer] = per_row
    return extra
