"""Delivering an answer: waiting for its tokens, sending them whole or streamed, and counting it.

An :class:`Answer` is what :meth:`dashboard.api.service.ApiService.start` returns once a request
is admitted; :class:`Delivery` turns its ticket's tokens into the ``chat.completion`` body or
server-sent events (:mod:`dashboard.api.waiting`: on the event loop, holding no thread), records
the use (on the API's lane), gives the key's place in flight back and counts the request in the
metrics, however it ended.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from steering.engine.serving import RequestTimedOut, Ticket, Token
from storage import StoredApiKey
from storage.api_keys import UNSTEERED

from .admission import Admission
from .host import ModelHost
from .lane import ApiLane
from .metrics import ApiMetrics
from .protocol import DONE_EVENT, ApiError, ChatRequest, chunk_event, completion_body, logprob_entry
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
        self.host.store.record_api_use(answer.key.id, submission, sample)

    async def complete(self, answer: Answer) -> dict[str, Any]:
        """Wait for the whole answer; count it; the ``chat.completion`` body (504 past the
        request's time limit)."""
        tokenizer = answer.tokenizer
        done: list[Token] = []
        try:
            async for token in tokens(answer.ticket, answer.deadline):
                self._first(answer)
                done.append(token)
        except RequestTimedOut:
            answer.status = 504
            raise self._timeout() from None
        except Exception as error:  # the loop could not run it: OpenAI's shape, saying why
            answer.status = 500
            raise ApiError(500, f"The answer could not be completed: {error}") from None
        ids = [t.id for t in done]
        text = tokenizer.decode(ids, skip_special_tokens=True)
        logprobs = None
        if answer.request.logprobs:
            logprobs = [logprob_entry(tokenizer.decode([t.id]), t.logprob) for t in done]
        await self.lane.run(self._count, answer, text)
        answer.status = 200
        return completion_body(
            ident=answer.ident,
            model=answer.model,
            content=text,
            finish_reason=answer.ticket.finish_reason or "stop",
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=len(ids),
            logprobs=logprobs,
            steering=answer.steering,
        )

    async def stream(self, answer: Answer) -> AsyncIterator[str]:
        """Server-sent events: the role, text as it is decoded, the finish reason, ``[DONE]``;
        past the request's time limit, an error event (504 ``timeout``) ends the stream."""
        tokenizer = answer.tokenizer
        ident, name = answer.ident, answer.model
        yield chunk_event(ident, name, {"role": "assistant", "content": ""})
        ids: list[int] = []
        sent, held = "", 0
        try:
            async for token in tokens(answer.ticket, answer.deadline):
                self._first(answer)
                ids.append(token.id)
                text = tokenizer.decode(ids, skip_special_tokens=True)
                # Hold back a partly decoded character until its last byte arrives (a UTF-8
                # character has at most 4 bytes: after that a replacement character is final).
                held += 1
                if (text.endswith("\ufffd") and held < UTF8_MAX_BYTES) or not text.startswith(sent):
                    continue
                piece, sent, held = text[len(sent) :], text, 0
                entries = None
                if answer.request.logprobs:
                    entries = [logprob_entry(tokenizer.decode([token.id]), token.logprob)]
                if piece or entries:
                    yield chunk_event(ident, name, {"content": piece}, logprobs=entries)
        except RequestTimedOut:  # the stream has started: report in-band, as OpenAI does
            answer.status = 504
            yield f"data: {json.dumps(self._timeout().body())}\n\n"
            return
        except Exception as error:
            answer.status = 500
            failure = ApiError(500, f"The answer could not be completed: {error}")
            yield f"data: {json.dumps(failure.body())}\n\n"
            return
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if text.startswith(sent) and len(text) > len(sent):
            yield chunk_event(ident, name, {"content": text[len(sent) :]})
        await self.lane.run(self._count, answer, text)
        answer.status = 200  # the answer is complete: what is left to send is its end
        # A client that asks again as soon as it reads [DONE] must find its key's place free.
        self._release(answer)
        yield chunk_event(ident, name, {}, finish_reason=answer.ticket.finish_reason)
        yield DONE_EVENT
