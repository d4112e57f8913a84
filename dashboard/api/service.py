"""The API's service: who is asking, which model, which steering, and the answer itself.

``GET /v1/models`` lists the models this process has loaded (by the name the dashboard shows);
``POST /v1/chat/completions`` answers with one of them, steered by ``control_vector.submission``
when the request names one (the routes are in :mod:`dashboard.api.routes`). Order of checks: API
key (401; the dashboard's cookie is never read here), the key's rate limit (429), the body (400,
``max_tokens`` above ``STEERING_API_MAX_TOKENS`` included), the model (404; 503
``model_loading`` while it loads), then the gate in
:func:`storage.api_keys.served_submission` (403 unless approved and allowed to this key, and
``record_mismatch`` when the row says approved but the signed audit trail does not; 503
while an admin has steering switched off), the vector's fit to the model (403) and the format
it was evaluated in (:mod:`dashboard.api.formats`: 403 ``format_mismatch`` when the model cannot
run in it here), the prompt's length (400) and admission (:mod:`dashboard.api.admission`: 429
past the key's requests in flight, 503 when too many wait). What is applied is exactly the
submission's approved strength and layers, read from the store on every request, so a
revocation takes effect on the next request.

Generation goes through the model's decoding loop (``steering.engine.serving``): concurrent
requests share forward passes whatever vectors they use, joining and leaving at every step. A
request waits for its tokens on the event loop (:mod:`dashboard.api.waiting`), holding no
thread; a caller that goes away frees its row at the next step, and a request unfinished
``STEERING_API_TIMEOUT_S`` after it arrived ends with 504 ``timeout``. Each answered request
increments a (key, submission, hour) counter; prompts and answers are kept only while sampling
is on.

Loaded models are reached through :class:`~dashboard.api.host.ModelHost` (the dashboard's
context); the prompt is rendered, tokenized and measured against the model's context by the
engine's text rule (:mod:`steering.engine.text`), as everywhere else in the lab.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from steering.engine.models import LoadedModel, fingerprint
from steering.engine.serving import RequestTimedOut, ServeRequest, Ticket
from steering.engine.steer import RowSteering
from steering.engine.text import ChatTemplateError, context_length, prompt_ids, render_messages
from steering.vectors import ControlVector
from storage import (
    PermissionDeniedError,
    RecordMismatchError,
    ServedSubmission,
    SteeringOffError,
    StorageError,
    Store,
    StoredApiKey,
)
from storage.api_keys import UNSTEERED

from .admission import Admission
from .formats import model_for_submission
from .host import ModelHost
from .protocol import (
    DONE_EVENT,
    ApiError,
    ChatRequest,
    chunk_event,
    completion_body,
    logprob_entry,
    new_id,
)
from .rate import RateLimiter
from .readiness import not_ready
from .settings import ApiSettings
from .settings import settings as api_settings
from .waiting import tokens

UTF8_MAX_BYTES = 4
_log = logging.getLogger(__name__)
LOADING_RETRY_S = 5  # a model load takes seconds; coming back sooner only asks again
UNAVAILABLE_RETRY_S = 60  # an admin acts (steering switched back on, the model loaded again)


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
    released: bool = False  # the key's place in flight was given back


@dataclass
class ApiService:
    """The API's state: the host (store and loaded models), caches and the rate limiter."""

    host: ModelHost
    settings: ApiSettings = field(default_factory=api_settings)
    limiter: RateLimiter | None = None
    admission: Admission | None = None
    _vectors: dict[int, ControlVector] = field(default_factory=dict)
    _fingerprints: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limiter is None:
            self.limiter = RateLimiter(self.settings.rate_per_minute)
        if self.admission is None:
            self.admission = Admission(self.settings.key_concurrency, self.settings.queue)

    @property
    def store(self) -> Store:
        return self.host.store

    # ------------------------------------------------------------------ who and how much

    def authenticate(self, request: Request) -> StoredApiKey:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(
                401,
                "This API needs an API key: send 'Authorization: Bearer <key>'. An admin creates "
                "keys with 'python -m storage add-api-key NAME'.",
                "missing_api_key",
            )
        key = self.store.api_key_for(secret.strip())
        if key is None:
            raise ApiError(401, "This API key is unknown or revoked.", "invalid_api_key")
        return key

    def check_rate(self, key: StoredApiKey) -> None:
        assert self.limiter is not None
        if not self.limiter.allow(key.id):
            wait = self.limiter.retry_after(key.id)
            raise ApiError(
                429,
                f"Rate limit reached for key {key.name!r}: {self.limiter.per_minute} requests per "
                f"minute. Try again in {wait} s.",
                "rate_limit_exceeded",
                retry_after=wait,
            )

    def not_ready(self) -> str | None:
        """Why this process should not be sent requests yet (None: it is ready)."""
        return not_ready(self.store, self.host)

    # ------------------------------------------------------------------ models and vectors

    def loaded_models(self) -> list[LoadedModel]:
        return list(self.host.loaded_models())

    def listed_models(self) -> list[str]:
        """What ``GET /v1/models`` lists: the default model from the start (loaded or not), then
        every model loaded since."""
        default = self.host.model_status().default
        names = [default] if default is not None else []
        return names + [m.name for m in self.loaded_models() if m.name not in names]

    def model(self, name: str) -> LoadedModel:
        """The loaded model called ``name``: 503 while it loads (the default model's load starts
        here when nothing loaded it yet), 404 when this server does not have it."""
        for loaded in self.loaded_models():
            if name in (loaded.name, loaded.spec):
                return loaded
        status = self.host.model_status()
        if name in status.failed:
            raise ApiError(
                503,
                f"The model {name!r} could not be loaded here; an admin can load it again from "
                "the dashboard's Model tab.",
                "model_unavailable",
                retry_after=UNAVAILABLE_RETRY_S,
            )
        if name == status.default and name not in status.loading:
            self.host.load_default()  # --no-preload: the first request starts the load
            status = self.host.model_status()
        if name in status.loading:
            raise ApiError(
                503,
                f"The model {name!r} is still loading. Try again in a few seconds.",
                "model_loading",
                retry_after=LOADING_RETRY_S,
            )
        names = ", ".join(self.listed_models()) or "none is loaded yet"
        raise ApiError(
            404, f"The model {name!r} is not loaded here; available: {names}.", "model_not_found"
        )

    def _fingerprint(self, loaded: LoadedModel) -> str:
        key = id(loaded.model)
        if key not in self._fingerprints:
            self._fingerprints[key] = fingerprint(loaded)
        return self._fingerprints[key]

    def _vector(self, vector_id: int) -> ControlVector:
        # Stored vector files never change (content-addressed, hash-checked on read).
        if vector_id not in self._vectors:
            self._vectors[vector_id] = ControlVector.from_bytes(
                self.store.read_vector_file(vector_id)
            )
        return self._vectors[vector_id]

    def steering(
        self, key: StoredApiKey, submission_id: int, loaded: LoadedModel
    ) -> tuple[RowSteering, ServedSubmission]:
        """The approved submission as this row's steering; refusals as ApiErrors."""
        try:
            served = self.store.served_submission(key, submission_id)
        except SteeringOffError as error:
            raise ApiError(
                503, str(error), "steering_off", retry_after=UNAVAILABLE_RETRY_S
            ) from None
        except RecordMismatchError as error:  # the row says approved, the signed trail does not
            _log.warning("refused to serve: %s", error.detail)
            raise ApiError(403, str(error), "record_mismatch") from None
        except PermissionDeniedError as error:
            raise ApiError(403, str(error), "submission_not_allowed") from None
        except StorageError as error:
            raise ApiError(400, str(error)) from None
        built_for = served.model_fingerprint
        vector = self._vector(served.vector_id)
        fits = (
            vector.hidden_size == loaded.hidden_size
            and all(i in vector.directions and i < loaded.num_layers for i in served.layers)
            and (built_for is None or built_for == self._fingerprint(loaded))
        )
        if not fits:
            raise ApiError(
                403,
                f"Submission {submission_id} was built for another model "
                f"({served.model_id or 'unknown'}), not {loaded.name}; it cannot steer it.",
                "wrong_model",
            )
        return RowSteering(vector, served.strength, served.layers), served

    # ------------------------------------------------------------------ answering

    def start(self, key: StoredApiKey, chat: ChatRequest, arrived: float) -> Answer:
        """Check everything, then queue the generation; returns the request's answer handle,
        which holds one of the key's places in flight until :meth:`finish`. ``arrived``: the
        request's ``time.monotonic()`` on arrival, from which its time limit runs."""
        loaded = self.model(chat.model)
        row, steering = None, None
        if chat.submission is not None:
            row, served = self.steering(key, chat.submission, loaded)
            # What is served is what was evaluated: the model in the evaluation's number format.
            loaded = model_for_submission(self.host, loaded, served)
            steering = {
                "submission": served.submission_id,
                "strength": served.strength,
                "layers": list(served.layers),
            }
        try:
            text = render_messages(loaded.tokenizer, chat.messages)
        except ChatTemplateError as error:
            raise ApiError(400, str(error)) from None
        ids = prompt_ids(loaded.tokenizer, text)
        limit = self.settings.max_prompt_tokens
        if len(ids) > limit:
            raise ApiError(
                400,
                f"The messages are {len(ids)} tokens long; the limit is {limit}. Shorten them.",
                "context_length_exceeded",
            )
        room = context_length(loaded.model)
        budget = min(chat.max_tokens, limit)
        if room is not None:
            if len(ids) >= room:
                raise ApiError(
                    400,
                    f"The messages are {len(ids)} tokens long; {loaded.name} reads at most "
                    f"{room}. Shorten them.",
                    "context_length_exceeded",
                )
            budget = min(budget, room - len(ids))
        request = ServeRequest(
            prompt_ids=ids,
            max_new_tokens=budget,
            steering=row,
            temperature=chat.temperature,
            top_p=chat.top_p,
            seed=chat.seed,
        )
        assert self.admission is not None
        loop = self.host.batcher(loaded)
        deadline = arrived + self.settings.timeout_s
        ticket = self.admission.admit(key, loop, lambda: loop.submit(request, deadline))
        return Answer(
            ident=new_id(),
            model=loaded.name,
            key=key,
            request=chat,
            ticket=ticket,
            prompt_tokens=len(ids),
            steering=steering,
            tokenizer=loaded.tokenizer,
            deadline=deadline,
        )

    def finish(self, answer: Answer) -> None:
        """The request is over, however it ended: its row (if any) and its key's place are
        given back. Safe to call more than once."""
        answer.ticket.cancel()  # no-op for a finished answer; frees the row of an abandoned one
        if not answer.released:
            answer.released = True
            assert self.admission is not None
            self.admission.release(answer.key)

    def _timeout(self) -> ApiError:
        return ApiError(
            504,
            f"The answer was not complete {self.settings.timeout_s:g} s after the request "
            "arrived (STEERING_API_TIMEOUT_S), waiting time included. Ask for fewer tokens, or "
            "try again when the server is less busy.",
            "timeout",
        )

    def _count(self, answer: Answer, text: str) -> None:
        submission = answer.request.submission or UNSTEERED
        sample = ([dict(m) for m in answer.request.messages], text)
        self.store.record_api_use(answer.key.id, submission, sample)

    async def complete(self, answer: Answer) -> dict[str, Any]:
        """Wait for the whole answer; count it; the ``chat.completion`` body (504 past the
        request's time limit)."""
        tokenizer = answer.tokenizer
        try:
            done = [token async for token in tokens(answer.ticket, answer.deadline)]
        except RequestTimedOut:
            raise self._timeout() from None
        except Exception as error:  # the loop could not run it: OpenAI's shape, saying why
            raise ApiError(500, f"The answer could not be completed: {error}") from None
        ids = [t.id for t in done]
        text = tokenizer.decode(ids, skip_special_tokens=True)
        logprobs = None
        if answer.request.logprobs:
            logprobs = [logprob_entry(tokenizer.decode([t.id]), t.logprob) for t in done]
        await run_in_threadpool(self._count, answer, text)
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
            yield f"data: {json.dumps(self._timeout().body())}\n\n"
            return
        except Exception as error:
            failure = ApiError(500, f"The answer could not be completed: {error}")
            yield f"data: {json.dumps(failure.body())}\n\n"
            return
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if text.startswith(sent) and len(text) > len(sent):
            yield chunk_event(ident, name, {"content": text[len(sent) :]})
        await run_in_threadpool(self._count, answer, text)
        yield chunk_event(ident, name, {}, finish_reason=answer.ticket.finish_reason)
        yield DONE_EVENT
