"""Serving many callers from one loaded model: a continuous-batching decoding loop.

One :class:`DecodingLoop` per model runs on its own thread. Before every step it admits waiting
requests, up to ``max_batch`` rows (their prompts are prefilled, then they join the running rows),
and drops the rows whose caller cancelled or whose time ran out; every step then makes one token
for every row, whatever vector each row uses (or none), and a row leaves the moment it ends (end
of text or its budget), its answer complete on its :class:`Ticket` at once. The rows, their shared
cache and their per-row steering deltas are :class:`steering.engine.decoding_rows.DecodingRows`.

The loop is our own rather than ``model.generate`` because rows differ in what ``generate`` fixes
per call: temperature, top-p, seed, token budget, and because every token is handed out as soon as
it exists (streaming) with its log-probability. Greedy rows (temperature 0) take the argmax, as
``generate`` does, so a greedy answer equals the engine's own (:func:`generate_texts`). A row's
log-probabilities do not depend on who joins or leaves around it beyond float rounding.

A conditional vector's gate is decided when its row is admitted (one batched, unsteered pass for
the joiners of a step; :class:`~steering.engine.decoding_rows.DecodingRows`): the decision is on
the :class:`Ticket` (``gate``) before its first event, and on the :class:`Completion`.

No web, no store here: the API (``dashboard/api/service.py``) turns tickets into HTTP answers.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from steering.engine.decoding_rows import (
    DecodingRows,
    Ending,
    ServeRequest,
    Token,
    check_gate,
    stop_ids,
)
from steering.engine.gate import GateDecision
from steering.engine.models import LoadedModel
from steering.engine.steer import row_deltas
from steering.engine.text import TextTooLongError, context_length
from steering.errors import SteeringError

__all__ = [
    "Completion",
    "DecodingLoop",
    "Departure",
    "Failed",
    "Finished",
    "GateDecision",
    "RequestTimedOut",
    "ServeRequest",
    "Ticket",
    "Token",
    "decode_batch",
    "stop_ids",
]

MAX_BATCH = 16
RECENT_STEPS = 1_000  # steps and departures remembered: a window for tests and checks
IDLE_POLL_S = 1.0  # how often an idle loop looks at the deadlines of nothing (cheap)


class RequestTimedOut(SteeringError):
    """A request's time ran out before its answer was complete."""


@dataclass(frozen=True)
class Completion:
    """What a request produced: its tokens, why it stopped ("stop" or "length") and its
    vector's gate (None: unsteered, or an unconditional vector; closed: the row ran unsteered)."""

    tokens: tuple[Token, ...]
    finish_reason: str
    gate: GateDecision | None = None


@dataclass(frozen=True)
class Finished:
    """The last event of an answer: why it ended ("stop", "length" or "cancelled"), and the
    end-of-text token that ended a "stop" (None otherwise)."""

    reason: str
    end: Token | None = None


@dataclass(frozen=True)
class Failed:
    """The last event of a request that could not be answered."""

    error: BaseException


Event = Token | Finished | Failed


@dataclass(frozen=True)
class Departure:
    """A row that left the loop: its ticket, why, and how many tokens it had made."""

    ticket: Ticket
    reason: str  # "stop", "length", "cancelled", "timeout" or "error"
    produced: int


@dataclass(eq=False)
class Ticket:
    """A request's place in the loop; its tokens arrive as they are generated.

    ``deadline`` (a ``time.monotonic()`` value) ends the request with :class:`RequestTimedOut`
    when it is still unfinished then; :meth:`cancel` frees its row at the next step. A consumer
    that is not a thread (an event loop) registers a listener, called from the loop's thread
    after each event, and drains the events without blocking.

    ``gate`` is a conditional vector's decision, set on the loop's thread when the row is
    admitted, before its first event (a token, or the end): read it once an event has arrived.
    None for an unsteered row or an unconditional vector.
    """

    request: ServeRequest
    deadline: float | None = None
    finish_reason: str | None = None
    end_token: Token | None = None  # set with finish_reason: the end-of-text token picked, if any
    produced: int = 0
    gate: GateDecision | None = None
    _events: queue.Queue[Event] = field(default_factory=queue.Queue, repr=False)
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    _listener: Callable[[], None] | None = field(default=None, repr=False)

    def cancel(self) -> None:
        """Give up this request: its row (or queue place) is freed at the loop's next step."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def listen(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener()`` (from the loop's thread) after every event from now on."""
        self._listener = listener
        if listener is not None and not self._events.empty():
            listener()

    def drain(self) -> list[Event]:
        """The events that arrived so far, without waiting."""
        events: list[Event] = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def _put(self, event: Event) -> None:
        if isinstance(event, Token):
            self.produced += 1
        self._events.put(event)
        listener = self._listener
        if listener is not None:
            listener()

    def stream(self, timeout: float | None = None) -> Iterator[Token]:
        """Yield tokens as they come; afterwards ``finish_reason`` is set. Re-raises a failure."""
        while True:
            event = self._events.get(timeout=timeout)
            if isinstance(event, Token):
                yield event
            elif isinstance(event, Finished):
                self.finish_reason = event.reason
                return
            else:
                raise event.error

    def result(self, timeout: float | None = None) -> Completion:
        """Wait for the whole answer."""
        tokens = tuple(self.stream(timeout))
        return Completion(tokens, self.finish_reason or "stop", self.gate)


def check_request(loaded: LoadedModel, request: ServeRequest) -> None:
    """Refuse, on the caller's thread, what the loop could not run: an empty prompt, one that
    fills the model's context, a vector that does not fit the model, or a conditional vector
    whose gate has no text to read."""
    if not request.prompt_ids:
        raise SteeringError("A prompt has no tokens: send some text.")
    context = context_length(loaded.model)
    if context is not None and len(request.prompt_ids) >= context:
        raise TextTooLongError(
            f"The prompt is {len(request.prompt_ids):,} tokens long; this model reads at most "
            f"{context:,}. Shorten it."
        )
    if request.steering is not None:
        row_deltas(loaded, [request.steering])  # raises SteeringError when it does not fit
    check_gate(loaded, request.steering, request.gate_text)


def decode_batch(
    loaded: LoadedModel,
    requests: Sequence[ServeRequest],
    emit: Callable[[int, Token], None],
    on_gate: Callable[[int, GateDecision], None] | None = None,
) -> list[str]:
    """Generate every request's answer, all rows starting together; ``emit(row, token)`` as
    tokens appear, ``on_gate(row, decision)`` for each conditional row before its first token.
    Returns each row's finish reason: "stop" (an end-of-text token, not emitted) or "length". A row's budget never runs past the model's context; a prompt that fills it is
    refused. The same rows as the loop's: a request decoded here alone is the reference its
    answers under continuous batching are compared with."""
    for request in requests:
        check_request(loaded, request)
    if not requests:
        return []

    def emit_row(owner: Hashable, token: Token) -> None:
        emit(int(owner), token)  # type: ignore[call-overload]

    def gated_row(owner: Hashable, decision: GateDecision) -> None:
        if on_gate is not None:
            on_gate(int(owner), decision)  # type: ignore[call-overload]

    rows = DecodingRows(loaded)
    ended: list[Ending] = []
    try:
        with torch.inference_mode():
            ended += rows.join(list(range(len(requests))), requests, emit_row, gated_row)
            while len(rows):
                ended += rows.step(emit_row)
    finally:
        rows.close()
    reasons = {ending.owner: ending.reason for ending in ended}
    return [reasons[b] for b in range(len(requests))]


class DecodingLoop:
    """One model's decoding loop: requests join and leave the running rows at every step.

    ``submit`` queues a request and returns its :class:`Ticket`. ``running`` and ``waiting`` say
    how many requests hold a row and how many wait for one; ``batch_sizes`` is how many rows
    each recent step ran, ``departures`` the recent rows that left and why (both bounded: a
    server runs for months and nothing needs its whole history). ``on_step`` listeners hear
    every step's row count, for counts that must not miss any (metrics).
    """

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        max_batch: int = MAX_BATCH,
        recent_steps: int = RECENT_STEPS,
    ) -> None:
        if max_batch < 1:
            raise SteeringError("A batch holds at least one request.")
        self.loaded = loaded
        self.max_batch = max_batch
        self._batch_sizes: deque[int] = deque(maxlen=recent_steps)
        self._departures: deque[Departure] = deque(maxlen=recent_steps)
        self._waiting: deque[Ticket] = deque()
        self._running: list[Ticket] = []
        self._step_listeners: list[Callable[[int], None]] = []
        self._changed = threading.Condition()
        self._closing = False
        self._worker = threading.Thread(target=self._run, name="decoding-loop", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------ what callers see

    @property
    def batch_sizes(self) -> list[int]:
        """How many rows each recent decoding step ran, oldest first."""
        return list(self._batch_sizes)

    @property
    def departures(self) -> list[Departure]:
        """The recent rows that left, oldest first."""
        return list(self._departures)

    @property
    def running(self) -> int:
        """Requests holding a row now."""
        with self._changed:
            return len(self._running)

    @property
    def waiting(self) -> int:
        """Requests waiting for a row."""
        with self._changed:
            return len(self._waiting)

    def on_step(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(rows)`` on the loop's thread before every decoding step, with the
        number of rows it runs. A listener must be quick and must not raise."""
        self._step_listeners.append(listener)

    def running_tickets(self) -> list[Ticket]:
        with self._changed:
            return list(self._running)

    def submit(self, request: ServeRequest, deadline: float | None = None) -> Ticket:
        """Queue ``request`` (checked first: see :func:`check_request`); its tokens arrive on the
        returned ticket. ``deadline`` is a ``time.monotonic()`` value (None: no limit)."""
        check_request(self.loaded, request)
        ticket = Ticket(request, deadline)
        with self._changed:
            if self._closing:
                raise SteeringError("The server is shutting down.")
            self._waiting.append(ticket)
            self._changed.notify()
        return ticket

    def close(self) -> None:
        """Stop the loop: running and waiting requests are failed."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        self._worker.join(timeout=60)

    # ------------------------------------------------------------------ the loop's thread

    def _run(self) -> None:
        rows = DecodingRows(self.loaded)
        try:
            with torch.inference_mode():
                while self._turn(rows):
                    pass
        finally:
            self._fail_all(rows, SteeringError("The server is shutting down."))
            rows.close()

    def _turn(self, rows: DecodingRows) -> bool:
        """Drop leavers, admit joiners, run one step; False once closing."""
        joiners = self._admit(rows)
        if joiners is None:
            return False
        if joiners:
            self._join(rows, joiners)
        if len(rows):
            self._step(rows)
        return True

    def _leave(self, ticket: Ticket, reason: str, event: Event) -> None:
        with self._changed:
            if ticket in self._running:
                self._running.remove(ticket)
        self._departures.append(Departure(ticket, reason, ticket.produced))
        if isinstance(event, Finished):
            ticket.finish_reason, ticket.end_token = event.reason, event.end
        ticket._put(event)

    @staticmethod
    def _why_leave(ticket: Ticket, now: float) -> tuple[str, Event] | None:
        """Why ``ticket`` must leave before the next step (None: it stays)."""
        if ticket.cancelled:
            return "cancelled", Finished("cancelled")
        if ticket.expired(now):
            return "timeout", Failed(RequestTimedOut("The request ran out of time."))
        return None

    def _admit(self, rows: DecodingRows) -> list[Ticket] | None:
        """Drop cancelled or expired rows and queue places; take joiners for the free rows.
        Waits while there is nothing to do; None once the loop is closing."""
        now = time.monotonic()
        leaving = [(t, why) for t in self.running_tickets() if (why := self._why_leave(t, now))]
        if leaving:
            rows.leave({t for t, _ in leaving})
            for ticket, (reason, event) in leaving:
                self._leave(ticket, reason, event)
        with self._changed:
            while True:
                if self._closing:
                    return None
                now = time.monotonic()
                gone = [(t, why) for t in self._waiting if (why := self._why_leave(t, now))]
                for ticket, (reason, event) in gone:
                    self._waiting.remove(ticket)
                    self._departures.append(Departure(ticket, reason, 0))
                    ticket._put(event)
                free = self.max_batch - len(rows)
                joiners = [self._waiting.popleft() for _ in range(min(free, len(self._waiting)))]
                if joiners or len(rows):
                    self._running.extend(joiners)
                    return joiners
                self._changed.wait(timeout=IDLE_POLL_S)

    def _join(self, rows: DecodingRows, joiners: list[Ticket]) -> None:
        try:
            ended = rows.join(joiners, [t.request for t in joiners], self._emit, self._gated)
        except Exception as error:  # those callers report it; the running rows go on
            for ticket in joiners:
                self._leave(ticket, "error", Failed(error))
            return
        self._finish(ended)

    def _step(self, rows: DecodingRows) -> None:
        self._batch_sizes.append(len(rows))
        for listener in self._step_listeners:
            listener(len(rows))
        try:
            ended = rows.step(self._emit)
        except Exception as error:  # the cache may be half updated: every row fails
            self._fail_all(rows, error)
            return
        self._finish(ended)

    def _finish(self, ended: list[Ending]) -> None:
        for ending in ended:
            assert isinstance(ending.owner, Ticket)
            self._leave(ending.owner, ending.reason, Finished(ending.reason, ending.end))

    @staticmethod
    def _gated(owner: Hashable, decision: GateDecision) -> None:
        assert isinstance(owner, Ticket)
        owner.gate = decision  # before the row's first event, which the consumer waits for

    @staticmethod
    def _emit(owner: Hashable, token: Token) -> None:
        assert isinstance(owner, Ticket)
        owner._put(token)

    def _fail_all(self, rows: DecodingRows, error: BaseException) -> None:
        """Fail every running request (and, when closing, every waiting one)."""
        with self._changed:
            running = list(self._running)
            waiting = list(self._waiting) if self._closing else []
            if self._closing:
                self._waiting.clear()
        rows.leave(set(rows.owners))
        for ticket in running:
            self._leave(ticket, "error", Failed(error))
        for ticket in waiting:
            self._departures.append(Departure(ticket, "error", 0))
            ticket._put(Failed(error))
