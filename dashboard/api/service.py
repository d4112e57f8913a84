"""The API's service: who is asking, which model, which steering, and the answer itself.

``GET /v1/models`` lists the models this process has loaded (by the name the dashboard shows);
``POST /v1/chat/completions`` answers with one of them, steered by ``control_vector.submission``
when the request names one (the routes are in :mod:`dashboard.api.routes`). Order of checks: API key (401; the dashboard's cookie is never
read here), the key's rate limit (429), the body (400), the model (404), then the gate in
:func:`storage.api_keys.served_submission` (403 unless approved and allowed to this key; 503
while an admin has steering switched off) and the vector's fit to the model (403). What is
applied is exactly the submission's approved strength and layers, read from the store on every
request, so a revocation takes effect on the next request.

Generation goes through the model's micro-batcher (``steering.engine.serving``): concurrent
requests share forward passes whatever vectors they use. Each answered request increments a
(key, submission, hour) counter; prompts and answers are kept only while sampling is on.

Loaded models are reached through :class:`~dashboard.api.host.ModelHost` (the dashboard's
context); the prompt is rendered, tokenized and measured against the model's context by the
engine's text rule (:mod:`steering.engine.text`), as everywhere else in the lab.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from steering.engine.models import LoadedModel, fingerprint
from steering.engine.serving import ServeRequest, Ticket
from steering.engine.steer import RowSteering
from steering.engine.text import ChatTemplateError, context_length, prompt_ids, render_messages
from steering.vectors import ControlVector
from storage import (
    PermissionDeniedError,
    ServedSubmission,
    SteeringOffError,
    StorageError,
    Store,
    StoredApiKey,
)
from storage.api_keys import UNSTEERED

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
from .settings import ApiSettings
from .settings import settings as api_settings

ANSWER_TIMEOUT_S = 600.0
UTF8_MAX_BYTES = 4


@dataclass
class _Answer:
    """What one request is producing: its ticket, and how to describe and count it."""

    ident: str
    model: str
    key: StoredApiKey
    request: ChatRequest
    ticket: Ticket
    prompt_tokens: int
    steering: dict[str, Any] | None


@dataclass
class ApiService:
    """The API's state: the host (store and loaded models), caches and the rate limiter."""

    host: ModelHost
    settings: ApiSettings = field(default_factory=api_settings)
    limiter: RateLimiter | None = None
    _vectors: dict[int, ControlVector] = field(default_factory=dict)
    _fingerprints: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limiter is None:
            self.limiter = RateLimiter(self.settings.rate_per_minute)

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
            )

    # ------------------------------------------------------------------ models and vectors

    def loaded_models(self) -> list[LoadedModel]:
        return list(self.host.loaded_models())

    def model(self, name: str) -> LoadedModel:
        for loaded in self.loaded_models():
            if name in (loaded.name, loaded.spec):
                return loaded
        names = ", ".join(m.name for m in self.loaded_models()) or "none is loaded yet"
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
            raise ApiError(503, str(error), "steering_off") from None
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

    def start(self, key: StoredApiKey, chat: ChatRequest) -> _Answer:
        """Check everything, then queue the generation; returns the request's answer handle."""
        loaded = self.model(chat.model)
        row, steering = None, None
        if chat.submission is not None:
            row, served = self.steering(key, chat.submission, loaded)
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
        ticket = self.host.batcher(loaded).submit(request)
        return _Answer(new_id(), loaded.name, key, chat, ticket, len(ids), steering)

    def _count(self, answer: _Answer, text: str) -> None:
        submission = answer.request.submission or UNSTEERED
        sample = ([dict(m) for m in answer.request.messages], text)
        self.store.record_api_use(answer.key.id, submission, sample)

    def complete(self, answer: _Answer) -> dict[str, Any]:
        """Wait for the whole answer; count it; the ``chat.completion`` body."""
        tokenizer = self.model(answer.model).tokenizer
        done = answer.ticket.result(timeout=ANSWER_TIMEOUT_S)
        ids = [t.id for t in done.tokens]
        text = tokenizer.decode(ids, skip_special_tokens=True)
        logprobs = None
        if answer.request.logprobs:
            logprobs = [logprob_entry(tokenizer.decode([t.id]), t.logprob) for t in done.tokens]
        self._count(answer, text)
        return completion_body(
            ident=answer.ident,
            model=answer.model,
            content=text,
            finish_reason=done.finish_reason,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=len(ids),
            logprobs=logprobs,
            steering=answer.steering,
        )

    def stream(self, answer: _Answer) -> Iterator[str]:
        """Server-sent events: the role, text as it is decoded, the finish reason, ``[DONE]``."""
        tokenizer = self.model(answer.model).tokenizer
        ident, name = answer.ident, answer.model
        yield chunk_event(ident, name, {"role": "assistant", "content": ""})
        ids: list[int] = []
        sent, held = "", 0
        try:
            for token in answer.ticket.stream(timeout=ANSWER_TIMEOUT_S):
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
        except Exception as error:  # the stream has started: report in-band, as OpenAI does
            failure = ApiError(500, f"The answer could not be completed: {error}")
            yield f"data: {json.dumps(failure.body())}\n\n"
            return
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if text.startswith(sent) and len(text) > len(sent):
            yield chunk_event(ident, name, {"content": text[len(sent) :]})
        self._count(answer, text)
        yield chunk_event(ident, name, {}, finish_reason=answer.ticket.finish_reason)
        yield DONE_EVENT
