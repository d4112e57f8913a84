"""The OpenAI-compatible API under ``/v1``: approved vectors, per request, behind API keys.

``GET /v1/models`` lists the models this process has loaded (by the name the dashboard shows);
``POST /v1/chat/completions`` answers with one of them, steered by ``control_vector.submission``
when the request names one. Order of checks: API key (401; the dashboard's cookie is never
read here), the key's rate limit (429), the body (400), the model (404), then the gate in
:func:`storage.api_keys.served_submission` (403 unless approved and allowed to this key; 503
while an admin has steering switched off) and the vector's fit to the model (403). What is
applied is exactly the submission's approved strength and layers, read from the store on every
request, so a revocation takes effect on the next request.

Generation goes through the model's micro-batcher (``steering.engine.serving``): concurrent
requests share forward passes whatever vectors they use. Each answered request increments a
(key, submission, hour) counter; prompts and answers are kept only while sampling is on.

:class:`ApiDispatch` sends ``/v1`` requests here before the session gate runs, so the cookie
plays no part; everything else goes on to the gate unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from steering.engine.models import LoadedModel, fingerprint, has_chat_template
from steering.engine.serving import ServeRequest, Ticket
from steering.engine.steer import RowSteering
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

from .protocol import (
    DONE_EVENT,
    ApiError,
    ChatRequest,
    chunk_event,
    completion_body,
    logprob_entry,
    new_id,
    parse_chat,
)
from .rate import RateLimiter
from dashboard.web.errors import SettingsError

PREFIX = "/v1"
MAX_BODY_BYTES = 1024 * 1024
ANSWER_TIMEOUT_S = 600.0
UTF8_MAX_BYTES = 4


def _setting(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}={raw!r} must be a whole number of at least 1, e.g. {default}.")
    return int(raw)


@dataclass(frozen=True)
class ApiSettings:
    """``STEERING_API_RATE`` (requests per key per minute, 60) and ``STEERING_MAX_PROMPT_TOKENS``
    (2,048: the longest prompt, and the most tokens one answer may ask for)."""

    rate_per_minute: int = 60
    max_prompt_tokens: int = 2048

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        env = os.environ if env is None else env
        return cls(
            rate_per_minute=_setting(env, "STEERING_API_RATE", 60),
            max_prompt_tokens=_setting(env, "STEERING_MAX_PROMPT_TOKENS", 2048),
        )


def render_messages(tokenizer: Any, messages: tuple[dict[str, str], ...]) -> str:
    """The prompt text: the model's chat template, else ``role: content`` lines and ``assistant:``."""
    if has_chat_template(tokenizer):
        try:
            return tokenizer.apply_chat_template(
                list(messages), add_generation_prompt=True, tokenize=False
            )
        except Exception as error:  # templates raise their own errors (e.g. role order)
            raise ApiError(
                400, f"The model's chat template refused the messages: {error}"
            ) from None
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])


def prompt_ids(tokenizer: Any, text: str) -> tuple[int, ...]:
    """Tokens of the rendered prompt, by the engine's text rule (no added specials after a
    chat template, the tokenizer's own otherwise)."""
    add_special = not has_chat_template(tokenizer)
    return tuple(tokenizer(text, add_special_tokens=add_special)["input_ids"])


def context_length(loaded: LoadedModel) -> int | None:
    config = loaded.model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(text, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


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
    """The API's state: the store, the loaded models (``ctx``), caches and the rate limiter."""

    store: Store
    ctx: Any = None  # dashboard.context.AppContext; None serves no models (tests of the gate)
    settings: ApiSettings = field(default_factory=ApiSettings.from_env)
    limiter: RateLimiter | None = None
    _vectors: dict[int, ControlVector] = field(default_factory=dict)
    _fingerprints: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limiter is None:
            self.limiter = RateLimiter(self.settings.rate_per_minute)

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
        if self.ctx is None:
            return []
        return list(dict(self.ctx.models).values())

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
        ids = prompt_ids(loaded.tokenizer, render_messages(loaded.tokenizer, chat.messages))
        limit = self.settings.max_prompt_tokens
        if len(ids) > limit:
            raise ApiError(
                400,
                f"The messages are {len(ids)} tokens long; the limit is {limit}. Shorten them.",
                "context_length_exceeded",
            )
        room = context_length(loaded)
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
        ticket = self.ctx.batcher(loaded).submit(request)
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


def _error(error: ApiError) -> JSONResponse:
    headers = {"www-authenticate": 'Bearer realm="cvlab-api"'} if error.status == 401 else {}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


async def _body(request: Request) -> Any:
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "The request body is larger than 1 MB.", "request_too_large")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks) or b"null")
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.", "invalid_json") from None


def build_api(service: ApiService) -> FastAPI:
    """The ``/v1`` application (mounted by :class:`ApiDispatch`)."""
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    async def authenticated(request: Request) -> StoredApiKey:
        key = await run_in_threadpool(service.authenticate, request)
        service.check_rate(key)
        return key

    @api.get(PREFIX + "/models")
    async def list_models(request: Request) -> Response:
        try:
            await authenticated(request)
        except ApiError as error:
            return _error(error)
        data = [
            {"id": m.name, "object": "model", "created": 0, "owned_by": "control-vector-lab"}
            for m in service.loaded_models()
        ]
        return JSONResponse({"object": "list", "data": data})

    @api.post(PREFIX + "/chat/completions")
    async def chat_completions(request: Request) -> Response:
        try:
            key = await authenticated(request)
            chat = parse_chat(await _body(request))
            answer = await run_in_threadpool(service.start, key, chat)
            if chat.stream:
                return StreamingResponse(
                    service.stream(answer),
                    media_type="text/event-stream",
                    headers={"cache-control": "no-cache"},
                )
            return JSONResponse(await run_in_threadpool(service.complete, answer))
        except ApiError as error:
            return _error(error)

    async def unknown(request: Request) -> Response:
        try:
            await authenticated(request)
        except ApiError as error:
            return _error(error)
        return _error(ApiError(404, f"There is no route {request.url.path}.", "unknown_url"))

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    api.add_api_route(PREFIX, unknown, methods=methods)
    api.add_api_route(PREFIX + "/{rest:path}", unknown, methods=methods)

    return api


class ApiDispatch:
    """ASGI middleware: ``/v1`` requests go to the API app, the rest on to the session gate."""

    def __init__(self, app: ASGIApp, api: ASGIApp) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.api(scope, receive, send)
            return
        await self.app(scope, receive, send)


def api_for(store_or_ctx: Any) -> FastAPI:
    """The API app for what ``create_server`` was given: an AppContext (models) or a Store."""
    store = getattr(store_or_ctx, "store", store_or_ctx)
    ctx = store_or_ctx if hasattr(store_or_ctx, "models") else None
    return build_api(ApiService(store=store, ctx=ctx))
