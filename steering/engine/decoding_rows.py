"""The rows one decoding loop runs together, and the key/value cache they share.

Rows join between steps: their prompts are prefilled together (a batch of their own, left
padded), and their caches are then merged into the running one; every step then runs one token
of every row; a row leaves as soon as it ends and is dropped from the cache. One cache for all
rows, left padded: row ``b``'s real tokens sit at the right of every layer's keys and values,
the attention mask hides its padding, and its position ids count its real tokens only, so what
a row computes does not depend on its neighbours beyond float rounding (in float32, log-
probabilities within 1e-4 of the same request alone).

Why a plain ``DynamicCache`` (no config): its layers are tensors of shape ``[rows, heads,
length, head_dim]`` that we pad, concatenate, select and trim between steps. Built from the
config, sliding-window layers would drop old keys per index, not per row; with one full cache,
the sliding-window mask works on index differences, which left padding leaves intact per row.

Steering: each row's vector, strength and layers become one row of the per-block deltas
(:func:`steering.engine.steer.steer_rows`); they are rebuilt only when rows join or leave.

A conditional vector's gate (:mod:`steering.engine.gate`) is decided once per row when it joins,
from an unsteered pass over the user's text (``ServeRequest.gate_text``) that stops at the
condition block, the joiners sharing a condition read in one batched call: open, the row is
steered for its whole answer, prompt included; closed, it runs unsteered (steering None), so a
closed row is the plain model and an open one is unconditional steering. The decision is not read
from the steered prefill even when the condition block lies below every steered block: that would
need the gate decided inside the prefill's forward pass, between blocks, for one shared pass.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import torch

from steering.engine.activations import pad_batch
from steering.engine.gate import GateDecision, decide
from steering.engine.models import LoadedModel, cache_kwarg_name
from steering.engine.steer import RowSteering, steer_rows
from steering.engine.text import Encoded, context_length
from steering.errors import SteeringError
from steering.vectors import GateCondition


@dataclass(frozen=True)
class ServeRequest:
    """One caller's generation: prompt tokens, budget, sampling and (optionally) steering.

    ``temperature`` 0 is greedy; otherwise tokens are drawn from ``softmax(logits / temperature)``
    restricted to the ``top_p`` nucleus, with a generator seeded by ``seed`` (fresh when None), so a
    seeded request draws the same tokens however it is batched.

    ``gate_text`` is what a conditional vector's gate reads: the user's text only (chat: the last
    user message; completions: the prompt text), never the rendered template around it. Required
    when the steering's vector has a condition; ignored otherwise.
    """

    prompt_ids: tuple[int, ...]
    max_new_tokens: int
    steering: RowSteering | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop_at_eos: bool = True  # False: exactly max_new_tokens (benchmarks compare equal work)
    gate_text: str | None = None


def gate_condition(steering: RowSteering | None) -> GateCondition | None:
    """The gate ``steering`` must pass (None: an unsteered row, strength 0 or no condition)."""
    if steering is None or steering.alpha == 0:
        return None
    return steering.vector.condition


def check_gate(loaded: LoadedModel, steering: RowSteering | None, gate_text: str | None) -> None:
    """Refuse a conditional row whose gate could not be decided: no text to read, or a condition
    that does not fit the model."""
    condition = gate_condition(steering)
    if condition is None:
        return
    if gate_text is None or not gate_text.strip():
        raise SteeringError(
            "This vector is conditional: its gate reads the user's text, and none was given "
            "(set gate_text to the user's message or the prompt text)."
        )
    if condition.layer >= loaded.num_layers or condition.direction.numel() != loaded.hidden_size:
        raise SteeringError(
            f"The vector's condition reads block {condition.layer} with size "
            f"{condition.direction.numel()}; the model has {loaded.num_layers} blocks of size "
            f"{loaded.hidden_size}: it was built for another model."
        )


def decide_gates(
    loaded: LoadedModel, steerings: Sequence[RowSteering | None], texts: Sequence[str | None]
) -> list[GateDecision | None]:
    """Each row's gate (None where its steering has no condition): one batched, unsteered
    :func:`steering.engine.gate.decide` call per condition. Call it with no steering active on
    this thread: the reading is the plain model's."""
    decisions: list[GateDecision | None] = [None] * len(steerings)
    groups: dict[int, tuple[GateCondition, list[int]]] = {}
    for b, steering in enumerate(steerings):
        condition = gate_condition(steering)
        if condition is not None:
            groups.setdefault(id(condition), (condition, []))[1].append(b)
    for condition, members in groups.values():
        read = [texts[b] for b in members]
        if any(text is None for text in read):
            raise SteeringError("A conditional row needs the user's text (gate_text).")
        found = decide(loaded, condition, [str(text) for text in read])
        for b, decision in zip(members, found, strict=True):
            decisions[b] = decision
    return decisions


def gated_steering(
    steering: RowSteering | None, decision: GateDecision | None
) -> RowSteering | None:
    """The steering a row runs with: none where its gate closed."""
    return None if decision is not None and not decision.applied else steering


@dataclass(frozen=True)
class Token:
    """A generated token and its log-probability under the (steered) model, before temperature."""

    id: int
    logprob: float


def stop_ids(loaded: LoadedModel) -> frozenset[int]:
    """Token ids that end an answer: the tokenizer's EOS and the generation config's."""
    ids: set[int] = set()
    configured = getattr(loaded.model.generation_config, "eos_token_id", None)
    for value in (loaded.tokenizer.eos_token_id, configured):
        if isinstance(value, int):
            ids.add(value)
        elif value is not None:
            ids.update(int(v) for v in value)
    return frozenset(ids)


def _pick(
    logits: torch.Tensor, request: ServeRequest, generator: torch.Generator | None
) -> torch.Tensor:
    """The next token of one row: argmax when greedy, else a draw from the top-p nucleus."""
    if request.temperature <= 0 or generator is None:
        return logits.argmax()
    probs = torch.softmax(logits / request.temperature, dim=-1)
    if request.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        # Keep the smallest prefix whose mass reaches top_p (always at least the top token).
        keep = sorted_probs.cumsum(-1) - sorted_probs < request.top_p
        keep[0] = True
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return torch.multinomial(probs, 1, generator=generator)[0]


@dataclass(eq=False)
class _Row:
    owner: Hashable  # whoever gets this row's tokens (the loop's ticket, a list index)
    request: ServeRequest
    generator: torch.Generator | None
    budget: int
    steering: RowSteering | None = None  # what the row runs with: the request's, once gated
    produced: int = 0
    next_input: int = 0
    position: int = 0  # the position id of next_input: real tokens before it


@dataclass(frozen=True)
class Ending:
    """A row that ended: its owner, why ("stop" or "length"), and for "stop" the end-of-text
    token it picked (never emitted as part of the answer; OpenAI's completions ``logprobs``
    still list it as the last token generated)."""

    owner: Hashable
    reason: str
    end: Token | None = None


Emit = Callable[[Hashable, Token], None]
Gated = Callable[[Hashable, GateDecision], None]


def _left_pad(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    """``tensor`` with zeros added in front along ``dim`` up to ``width``."""
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


class DecodingRows:
    """The rows decoding together on one model, their shared cache, mask and steering.

    Not thread-safe: one thread (the decoding loop's) calls every method. Call them inside
    ``torch.inference_mode()``: the cache's tensors are inference tensors.
    """

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.rows: list[_Row] = []
        self._stops = stop_ids(loaded)
        self._cache_arg = cache_kwarg_name(loaded.model)
        self._context = context_length(loaded.model)
        self._cache: Any = None  # a transformers DynamicCache (its layers are edited here)
        self._mask: torch.Tensor | None = None  # [rows, cache length], 1 = a real token
        self._steering = ExitStack()
        self._steered_for: list[_Row] | None = None  # the rows the open steering was built for

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def owners(self) -> list[Hashable]:
        return [row.owner for row in self.rows]

    def close(self) -> None:
        """Remove this batch's steering hooks (the rows and cache are dropped)."""
        self._steering.close()
        self.rows, self._cache, self._mask, self._steered_for = [], None, None, None

    # ------------------------------------------------------------------ joining

    def _generator(self, request: ServeRequest) -> torch.Generator | None:
        if request.temperature <= 0:
            return None
        generator = torch.Generator(device=self.loaded.device)
        generator.manual_seed(
            request.seed if request.seed is not None else int(torch.seed()) % 2**63
        )
        return generator

    def _budget(self, request: ServeRequest) -> int:
        """The request's token budget, never past the model's context."""
        budget = max(1, request.max_new_tokens)
        if self._context is not None:
            budget = min(budget, self._context - len(request.prompt_ids))
        return budget

    def join(
        self,
        owners: Sequence[Hashable],
        requests: Sequence[ServeRequest],
        emit: Emit,
        gated: Gated | None = None,
    ) -> list[Ending]:
        """Decide the joiners' gates, prefill ``requests`` together, emit each one's first token,
        and keep the rows that go on. ``gated(owner, decision)`` hears each conditional row's
        gate before its first token. Returns the rows that already ended. On an error nothing
        changes (the running rows keep their cache)."""
        from transformers import DynamicCache

        self._unsteer()  # the gate reads the plain model; the prefill is steered by joiners only
        steerings = [r.steering for r in requests]
        decisions = decide_gates(self.loaded, steerings, [r.gate_text for r in requests])
        fresh = [
            _Row(
                owner,
                request,
                self._generator(request),
                self._budget(request),
                gated_steering(request.steering, decision),
            )
            for owner, request, decision in zip(owners, requests, decisions, strict=True)
        ]
        batch = pad_batch(
            [Encoded(r.prompt_ids, len(r.prompt_ids)) for r in requests],
            list(range(len(requests))),
            self.loaded.tokenizer.pad_token_id,
            padding_side="left",
            device=self.loaded.device,
        )
        cache = DynamicCache()
        with steer_rows(self.loaded, [row.steering for row in fresh]):
            out = self.loaded.model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=True,
                logits_to_keep=1,
                **{self._cache_arg: cache},
            )
        for row, request, decision in zip(fresh, requests, decisions, strict=True):
            row.position = len(request.prompt_ids)  # the first generated token's position
            if gated is not None and decision is not None:
                gated(row.owner, decision)
        ended = self._advance(fresh, out.logits[:, -1, :].float(), emit)
        gone = {ending.owner for ending in ended}
        keep = [b for b, row in enumerate(fresh) if row.owner not in gone]
        if keep:
            self._merge(cache, batch.attention_mask, [fresh[b] for b in keep], keep)
        return ended

    def _merge(self, cache: Any, mask: torch.Tensor, rows: list[_Row], keep: list[int]) -> None:
        """Add the joined rows ``keep`` of ``cache`` (and ``mask``) below the running ones."""
        if len(keep) < mask.shape[0]:
            index = torch.tensor(keep, device=mask.device)
            cache.batch_select_indices(index)
            mask = mask[index]
        if self._cache is None or self._mask is None:
            self._cache, self._mask, self.rows = cache, mask, rows
            return
        width = max(self._mask.shape[1], mask.shape[1])
        for old, new in zip(self._cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([_left_pad(old.keys, width, 2), _left_pad(new.keys, width, 2)])
            old.values = torch.cat(
                [_left_pad(old.values, width, 2), _left_pad(new.values, width, 2)]
            )
        self._mask = torch.cat([_left_pad(self._mask, width, 1), _left_pad(mask, width, 1)])
        self.rows = self.rows + rows

    # ------------------------------------------------------------------ stepping

    def step(self, emit: Emit) -> list[Ending]:
        """One token for every row; returns the rows that ended, already dropped."""
        assert self._cache is not None and self._mask is not None and self.rows
        self._steer()
        device = self.loaded.device
        inputs = torch.tensor([[row.next_input] for row in self.rows], device=device)
        positions = torch.tensor([[row.position] for row in self.rows], device=device)
        for row in self.rows:
            row.position += 1  # the next input sits one further on
        ones = torch.ones((len(self.rows), 1), dtype=self._mask.dtype, device=device)
        self._mask = torch.cat([self._mask, ones], dim=1)
        out = self.loaded.model(
            input_ids=inputs,
            attention_mask=self._mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_arg: self._cache},
        )
        ended = self._advance(self.rows, out.logits[:, -1, :].float(), emit)
        if ended:
            self.leave({ending.owner for ending in ended})
        return ended

    def _advance(self, rows: list[_Row], logits: torch.Tensor, emit: Emit) -> list[Ending]:
        """Pick, emit and count each row's next token; the rows that ended and why."""
        logprobs = torch.log_softmax(logits, dim=-1)
        ended: list[Ending] = []
        for b, row in enumerate(rows):
            token = int(_pick(logits[b], row.request, row.generator))
            picked = Token(token, float(logprobs[b, token]))
            if token in self._stops and row.request.stop_at_eos:
                ended.append(Ending(row.owner, "stop", picked))
                continue
            row.produced += 1
            row.next_input = token
            emit(row.owner, picked)
            if row.produced >= row.budget:
                ended.append(Ending(row.owner, "length"))
        return ended

    # ------------------------------------------------------------------ leaving

    def leave(self, owners: set[Hashable]) -> None:
        """Drop the rows of ``owners`` from the batch and the cache (and padding no row needs)."""
        keep = [b for b, row in enumerate(self.rows) if row.owner not in owners]
        if len(keep) == len(self.rows):
            return
        if not keep:
            self._unsteer()
            self.rows, self._cache, self._mask = [], None, None
            return
        assert self._cache is not None and self._mask is not None
        index = torch.tensor(keep, device=self._mask.device)
        self._cache.batch_select_indices(index)
        self._mask = self._mask[index]
        self.rows = [self.rows[b] for b in keep]
        # Columns that are padding in every remaining row (the longest left) are dead weight.
        lead = int(self._mask.any(dim=0).int().argmax())
        if lead > 0:
            for layer in self._cache.layers:
                layer.keys = layer.keys[:, :, lead:, :]
                layer.values = layer.values[:, :, lead:, :]
            self._mask = self._mask[:, lead:]

    # ------------------------------------------------------------------ steering

    def _steer(self) -> None:
        """Per-row deltas for the current rows, rebuilt only when the rows changed."""
        if self._steered_for is not None and self._steered_for == self.rows:
            return
        self._unsteer()
        self._steering.enter_context(steer_rows(self.loaded, [row.steering for row in self.rows]))
        self._steered_for = list(self.rows)

    def _unsteer(self) -> None:
        self._steering.close()
        self._steering = ExitStack()
        self._steered_for = None
