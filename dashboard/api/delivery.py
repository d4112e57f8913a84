"""Delivering an answer: waiting for its tokens, sending them whole or streamed, and counting it.

An :class:`Answer` is what :meth:`dashboard.api.service.ApiService.start` returns once a request
is admitted; :class:`Delivery` turns its ticket's tokens into the ``chat.completion`` body or
server-sent events (:mod:`dashboard.api.waiting`: on the event loop, holding no thread), records
the use (on the API's lane), gives the key's place in flight back and counts the request in the
metrics, however it ended.

A conditional vector's gate is decided when the row is admitted (``Ticket.gate``, set before the
row's first event): the answer's ``control_vector`` says whether it was applied
(:func:`~dashboard.api.protocol.applied_steering`), and a stream of such a request waits for its
first event before sending the first chunk, which carries it. The usage counter adds the request
to the applied or the not-applied count.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from steering.engine.decoding_rows import gate_condition
from steering.engine.serving import RequestTimedOut, Ticket, Token
from storage import StoredApiKey
from storage.api_keys import UNSTEERED

from .admission import Admission
from .host import ModelHost
from .lane import ApiLane
from .metrics import ApiMetrics
from .protocol import (
    DONE_EVENT,
    ApiError,
    ChatRequest,
    applied_counts,
    applied_steering,
    chunk_event,
    completion_body,
    logprob_entry,
)
from .stops import StopText
from .waiting import tokens

UTF8_MAX_BYTES = 4
CLIENT_GONE = 499  # the status a request is counted under when its caller left before the end


@dataclass
class Answer:
    """What one request is producing: its ticket, and how to describe and count it."""

    ident: str
    model: str
    key: StoredApiKey
    request: ChatRequest
    ticket: Ticket
    prompt_tokens: int
    steering: dict[str, Any] | None
    tokenizer: Any  # the answering model's, to turn tokens into text
    deadline: float  # time.monotonic() by which the answer must be complete
    arrived: float  # time.monotonic() when the request arrived
    released: bool = False  # the key's place in flight was given back
    counted: bool = False  # the metrics counted it as over
    status: int | None = None  # the HTTP status it ended with (None: not ended, or caller gone)
    first_token_seen: bool = False

    @property
    def gated(self) -> bool:
        """Whether a conditional vector steers it (its gate is known from its first event)."""
        return gate_condition(self.ticket.request.steering) is not None

    def control_vector(self) -> dict[str, Any] | None:
        """What the answer says was applied, with its gate (read after the first event)."""
        return applied_steering(self.steering, self.ticket.gate)


@dataclass
class Delivery:
    """Sends answers and accounts for them: the key's place, the usage counter, the metrics."""

    host: ModelHost
    lane: ApiLane
    metrics: ApiMetrics
    admission: Admission
    timeout_s: float

    def finish(self, answer: Answer) -> None:
        """The request is over, however it ended: its row (if any) and its key's place are
        given back, and it is counted. Safe to call more than once."""
        answer.ticket.cancel()  # no-op for a finished answer; frees the row of an abandoned one
        self._release(answer)
        if not answer.counted:
            answer.counted = True
            self.metrics.request_over(
                answer.model,
                answer.status or CLIENT_GONE,
                time.monotonic() - answer.arrived,
                tokens=answer.ticket.produced,
            )

    def _release(self, answer: Answer) -> None:
        """Give the key's place in flight back (once)."""
        if not answer.released:
            answer.released = True
            self.admission.release(answer.key)

    def _first(self, answer: Answer) -> None:
        if not answer.first_token_seen:
            answer.first_token_seen = True
            self.metrics.first_token(time.monotonic() - answer.arrived)

    def _timeout(self) -> ApiError:
        return ApiError(
            504,
            f"The answer was not complete {self.timeout_s:g} s after the request "
            "arrived (STEERING_API_TIMEOUT_S), waiting time included. Ask for fewer tokens, or "
            "try again when the server is less busy.",
            "timeout",
        )

    def _count(self, answer: Answer, text: str) -> None:
        submission = answer.request.submission or UNSTEERED
        sample = ([dict(m) for m in answer.request.messages], text)
        applied, not_applied = applied_counts(answer.steering, [answer.ticket.gate])
        self.host.store.record_api_use(
            answer.key.id, submission, sample, applied=applied, not_applied=not_applied
        )
        if answer.steering is not None:
            self.metrics.applied(answer.model, applied, not_applied)

    async def complete(self, answer: Answer) -> dict[str, Any]:
        """Wait for the whole answer; count it; the ``chat.completion`` body (504 past the
        request's time limit)."""
        tokenizer = answer.tokenizer
        try:
            done, text, stopped = await collect(
                answer.ticket,
                answer.deadline,
                tokenizer,
                StopText(answer.request.stop),
                lambda: self._first(answer),
            )
        except RequestTimedOut:
            answer.status = 504
            raise self._timeout() from None
        except Exception as error:  # the loop could not run it: OpenAI's shape, saying why
            answer.status = 500
            raise ApiError(500, f"The answer could not be completed: {error}") from None
        logprobs = None
        if answer.request.logprobs:
            kept = done[: within(tokenizer, done, len(text))] if stopped else done
            logprobs = [logprob_entry(tokenizer.decode([t.id]), t.logprob) for t in kept]
        await self.lane.run(self._count, answer, text)
        answer.status = 200
        finish = "stop" if stopped else answer.ticket.finish_reason or "stop"
        return completion_body(
            ident=answer.ident,
            model=answer.model,
            content=text,
            finish_reason=finish,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=len(done),
            logprobs=logprobs,
            steering=answer.control_vector(),
        )

    async def stream(self, answer: Answer) -> AsyncIterator[str]:
        """Server-sent events: the role (with ``control_vector``), text as it is decoded, the
        finish reason, ``[DONE]``; past the request's time limit, an error event (504
        ``timeout``) ends the stream. Text that may begin a stop string is held back until the
        next tokens settle it. A conditional vector's first chunk waits for the row's first
        event, which comes after its gate is decided."""
        tokenizer = answer.tokenizer
        ident, name = answer.ident, answer.model
        stop = StopText(answer.request.stop)
        ids: list[int] = []
        sent, held, stopped = "", 0, False
        arriving = tokens(answer.ticket, answer.deadline)
        try:
            early: list[Token] = []
            if answer.gated:
                try:
                    early.append(await anext(arriving))
                except StopAsyncIteration:  # it ended before a token (its gate is decided)
                    pass
            role = {"role": "assistant", "content": ""}
            yield chunk_event(ident, name, role, first=True, steering=answer.control_vector())
            while True:
                if early:
                    token = early.pop()
                else:
                    try:
                        token = await anext(arriving)
                    except StopAsyncIteration:
                        break
                self._first(answer)
                ids.append(token.id)
                text = tokenizer.decode(ids, skip_special_tokens=True)
                visible, stopped = stop.settle(text)
                # Hold back a partly decoded character until its last byte arrives (a UTF-8
                # character has at most 4 bytes: after that a replacement character is final).
                held += 1
                partial = text.endswith("\ufffd") and held < UTF8_MAX_BYTES and not stopped
                if partial or not visible.startswith(sent):
                    if stopped:
                        break
                    continue
                piece, sent, held = visible[len(sent) :], visible, 0
                entries = None
                if answer.request.logprobs and not stopped:
                    entries = [logprob_entry(tokenizer.decode([token.id]), token.logprob)]
                if piece or entries:
                    yield chunk_event(ident, name, {"content": piece}, logprobs=entries)
                if stopped:
                    break
            await arriving.aclose()  # after a stop: cancels the ticket, the row leaves next step
        except RequestTimedOut:  # the stream has started: report in-band, as OpenAI does
            answer.status = 504
            yield f"data: {json.dumps(self._timeout().body())}\n\n"
            return
        except Exception as error:
            answer.status = 500
            failure = ApiError(500, f"The answer could not be completed: {error}")
            yield f"data: {json.dumps(failure.body())}\n\n"
            return
        text = sent
        if not stopped:  # the answer ended on its own: what was held back is the answer's end
            text = tokenizer.decode(ids, skip_special_tokens=True)
            if text.startswith(sent) and len(text) > len(sent):
                yield chunk_event(ident, name, {"content": text[len(sent) :]})
        await self.lane.run(self._count, answer, text)
        answer.status = 200  # the answer is complete: what is left to send is its end
        # A client that asks again as soon as it reads [DONE] must find its key's place free.
        self._release(answer)
        finish = "stop" if stopped else answer.ticket.finish_reason
        yield chunk_event(ident, name, {}, finish_reason=finish)
        yield DONE_EVENT


async def collect(
    ticket: Ticket,
    deadline: float,
    tokenizer: Any,
    stop: StopText,
    on_first: Callable[[], None] | None = None,
) -> tuple[list[Token], str, bool]:
    """Wait for a whole answer: its tokens, its text, and whether a stop string ended it (then
    the text ends before it, and the tokens are those read until it appeared; leaving the
    tokens early cancels the ticket, so its row leaves at the next step). Raises what
    :func:`~dashboard.api.waiting.tokens` raises; ``on_first()`` is called at the first token."""
    done: list[Token] = []
    async with aclosing(tokens(ticket, deadline)) as arriving:  # closed at once when left
        async for token in arriving:
            if on_first is not None and not done:
                on_first()
            done.append(token)
            if stop.stops:
                text, stopped = stop.settle(
                    tokenizer.decode([t.id for t in done], skip_special_tokens=True)
                )
                if stopped:
                    return done, text, True
    return done, tokenizer.decode([t.id for t in done], skip_special_tokens=True), False


def within(tokenizer: Any, done: list[Token], length: int) -> int:
    """How many of the first tokens decode to at most ``length`` characters (the tokens of an
    answer cut before a stop string)."""
    count = 0
    while count < len(done):
        ids = [t.id for t in done[: count + 1]]
        if len(tokenizer.decode(ids, skip_special_tokens=True)) > length:
            break
        count += 1
    return count
