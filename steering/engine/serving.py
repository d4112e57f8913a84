"""Serving many callers from one loaded model: a micro-batcher over one batched decoding loop.

Requests that arrive within ``window_s`` (20 ms) of the first waiting one, up to ``max_batch``
(8), are decoded together: one forward pass per generated token serves every row, whatever vector
each row uses (or none). Each row's steering becomes a row of the per-block delta tensors built
once per batch by :func:`steering.engine.steer.row_deltas`; the hooks only add them.

The loop is our own rather than ``model.generate`` because rows differ in what ``generate`` fixes
per call: temperature, top-p, seed, token budget, and because every token is handed out as soon as
it exists (streaming) with its log-probability. Greedy rows (temperature 0) take the argmax, as
``generate`` does, so a greedy answer equals the engine's own (:func:`generate_texts`). A row's
log-probabilities do not depend on its batch neighbours beyond float rounding: left padding is
masked out of attention and the position ids count real tokens only.

No web, no store here: the API (``dashboard/api/service.py``) turns tickets into HTTP answers.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from steering.engine.activations import pad_batch
from steering.engine.models import LoadedModel, cache_kwarg_name
from steering.engine.steer import RowSteering, steer_rows
from steering.engine.text import Encoded, TextTooLongError, context_length
from steering.errors import SteeringError

WINDOW_S = 0.020
MAX_BATCH = 8


@dataclass(frozen=True)
class ServeRequest:
    """One caller's generation: prompt tokens, budget, sampling and (optionally) steering.

    ``temperature`` 0 is greedy; otherwise tokens are drawn from ``softmax(logits / temperature)``
    restricted to the ``top_p`` nucleus, with a generator seeded by ``seed`` (fresh when None), so a
    seeded request draws the same tokens however it is batched.
    """

    prompt_ids: tuple[int, ...]
    max_new_tokens: int
    steering: RowSteering | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop_at_eos: bool = True  # False: exactly max_new_tokens (benchmarks compare equal work)


@dataclass(frozen=True)
class Token:
    """A generated token and its log-probability under the (steered) model, before temperature."""

    id: int
    logprob: float


@dataclass(frozen=True)
class Completion:
    """What a request produced: its tokens and why it stopped ("stop" or "length")."""

    tokens: tuple[Token, ...]
    finish_reason: str


@dataclass(frozen=True)
class _Done:
    finish_reason: str


@dataclass(frozen=True)
class _Failed:
    error: BaseException


@dataclass(eq=False)
class Ticket:
    """A request's place in the batcher; its tokens arrive as they are generated."""

    request: ServeRequest
    events: queue.Queue[Token | _Done | _Failed] = field(default_factory=queue.Queue, repr=False)
    finish_reason: str | None = None

    def stream(self, timeout: float | None = None) -> Iterator[Token]:
        """Yield tokens as they come; afterwards ``finish_reason`` is set. Re-raises a failure."""
        while True:
            event = self.events.get(timeout=timeout)
            if isinstance(event, Token):
                yield event
            elif isinstance(event, _Done):
                self.finish_reason = event.finish_reason
                return
            else:
                raise event.error

    def result(self, timeout: float | None = None) -> Completion:
        """Wait for the whole answer."""
        tokens = tuple(self.stream(timeout))
        return Completion(tokens, self.finish_reason or "stop")


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


def decode_batch(
    loaded: LoadedModel,
    requests: Sequence[ServeRequest],
    emit: Callable[[int, Token], None],
) -> list[str]:
    """Generate every request's answer in one batch; ``emit(row, token)`` as tokens appear.

    Returns each row's finish reason: "stop" (an end-of-text token, not emitted) or "length".
    A row's budget never runs past the model's context; a prompt that fills it is refused.
    """
    if not requests:
        return []
    if any(not r.prompt_ids for r in requests):
        raise SteeringError("A prompt has no tokens: send some text.")
    context = context_length(loaded.model)
    longest = max(len(r.prompt_ids) for r in requests)
    if context is not None and longest >= context:
        raise TextTooLongError(
            f"The prompt is {longest:,} tokens long; this model reads at most {context:,}. "
            "Shorten it."
        )
    model, device = loaded.model, loaded.device
    rows = len(requests)
    batch = pad_batch(
        [Encoded(r.prompt_ids, len(r.prompt_ids)) for r in requests],
        list(range(rows)),
        loaded.tokenizer.pad_token_id,
        padding_side="left",
        device=device,
    )
    mask, positions = batch.attention_mask, batch.position_ids
    generators: list[torch.Generator | None] = []
    for r in requests:
        if r.temperature <= 0:
            generators.append(None)
            continue
        generator = torch.Generator(device=device)
        generator.manual_seed(r.seed if r.seed is not None else int(torch.seed()) % 2**63)
        generators.append(generator)
    stops = stop_ids(loaded)
    budget = [max(1, r.max_new_tokens) for r in requests]
    if context is not None:
        budget = [
            min(b, context - len(r.prompt_ids)) for b, r in zip(budget, requests, strict=True)
        ]
    produced = [0] * rows
    reasons: list[str | None] = [None] * rows
    cache_arg = cache_kwarg_name(model)
    cache = None
    inputs = batch.input_ids
    pad = loaded.tokenizer.pad_token_id
    with steer_rows(loaded, [r.steering for r in requests]), torch.inference_mode():
        while any(reason is None for reason in reasons):
            out = model(
                input_ids=inputs,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,
                **({cache_arg: cache} if cache is not None else {}),
            )
            cache = out.cache if "cache" in out else out.past_key_values
            logits = out.logits[:, -1, :].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            chosen = []
            for b, request in enumerate(requests):
                if reasons[b] is not None:
                    chosen.append(pad)  # a finished row idles until the batch ends
                    continue
                token = int(_pick(logits[b], request, generators[b]))
                chosen.append(token)
                if token in stops and request.stop_at_eos:
                    reasons[b] = "stop"
                    continue
                produced[b] += 1
                emit(b, Token(token, float(logprobs[b, token])))
                if produced[b] >= budget[b]:
                    reasons[b] = "length"
            inputs = torch.tensor(chosen, device=device)[:, None]
            mask = torch.cat([mask, torch.ones((rows, 1), dtype=mask.dtype, device=device)], 1)
            positions = positions[:, -1:] + 1
    return [reason or "length" for reason in reasons]


def _emitter(batch: Sequence[Ticket]) -> Callable[[int, Token], None]:
    """``emit`` for :func:`decode_batch`: row ``b``'s tokens go to ``batch[b]``'s ticket."""

    def emit(row: int, token: Token) -> None:
        batch[row].events.put(token)

    return emit


class MicroBatcher:
    """Collects requests for ``window_s`` after the first, up to ``max_batch``, and decodes them
    together on one worker thread; callers wait on their :class:`Ticket`."""

    def __init__(
        self, loaded: LoadedModel, *, window_s: float = WINDOW_S, max_batch: int = MAX_BATCH
    ) -> None:
        if max_batch < 1:
            raise SteeringError("A batch holds at least one request.")
        self.loaded = loaded
        self.window_s = window_s
        self.max_batch = max_batch
        self.batch_sizes: list[int] = []  # one entry per batch run: how many requests shared it
        self._pending: queue.Queue[Ticket | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="serving-batcher", daemon=True)
        self._worker.start()

    def submit(self, request: ServeRequest) -> Ticket:
        """Queue ``request``; its tokens arrive on the returned ticket."""
        ticket = Ticket(request)
        self._pending.put(ticket)
        return ticket

    def close(self) -> None:
        """Stop the worker after the batch in progress (waiting requests are failed)."""
        self._pending.put(None)
        self._worker.join(timeout=60)

    def _collect(self, first: Ticket) -> tuple[list[Ticket], bool]:
        batch, deadline = [first], time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                ticket = self._pending.get(timeout=remaining)
            except queue.Empty:
                break
            if ticket is None:
                return batch, True
            batch.append(ticket)
        return batch, False

    def _run(self) -> None:
        closing = False
        while not closing:
            first = self._pending.get()
            if first is None:
                break
            batch, closing = self._collect(first)
            self.batch_sizes.append(len(batch))
            try:
                reasons = decode_batch(
                    self.loaded,
                    [t.request for t in batch],
                    _emitter(batch),
                )
            except BaseException as error:  # the callers report it; the worker keeps serving
                for ticket in batch:
                    ticket.events.put(_Failed(error))
                continue
            for ticket, reason in zip(batch, reasons, strict=True):
                ticket.events.put(_Done(reason))
        while True:  # fail whatever arrived after close
            try:
                left = self._pending.get_nowait()
            except queue.Empty:
                return
            if left is not None:
                left.events.put(_Failed(SteeringError("The server is shutting down.")))
