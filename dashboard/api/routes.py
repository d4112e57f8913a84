"""The ``/v1`` routes: the FastAPI app around :class:`~dashboard.api.service.ApiService`.

``GET /v1/models`` lists the default model and the loaded ones, then ``submission-N`` for each
approved submission the key may use on one of them; ``POST /v1/chat/completions``
answers, whole or streamed as server-sent events; ``POST /v1/completions`` answers and scores
plain-text prompts (:mod:`dashboard.api.completions`); any other ``/v1`` path is a 404 once the key
checks out. Every refusal is an :class:`~dashboard.api.protocol.ApiError` turned into OpenAI's
error body here (a 401 also says ``WWW-Authenticate: Bearer``, a 429 or 503 ``Retry-After``).
A caller that disconnects, streaming or not, gives its decoding row back at the next step.

``GET /healthz`` (the process serves) and ``GET /readyz`` (the store answers and the preloaded
default model is loaded) need no key and no sign-in, and say nothing else. ``GET /metrics``
(Prometheus's text format, :mod:`dashboard.api.metrics`) is for metrics keys and signed-in admins.

:class:`ApiDispatch` sends ``/v1``, the two readiness paths and ``/metrics`` here before the
dashboard's session gate runs, so for ``/v1`` the cookie plays no part (``/metrics`` reads it
only to find an admin); everything else goes on to the gate unchanged. The blocking work of
these routes runs on the API's own lane (:mod:`dashboard.api.lane`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from storage import Store, StoredApiKey

from .completion_protocol import parse_completion
from .completions import Completions
from .host import ModelHost, host_for
from .metrics import CONTENT_TYPE
from .protocol import ApiError, parse_chat
from .service import ApiService, SignedInRole

PREFIX = "/v1"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
READINESS_PATHS = (HEALTH_PATH, READY_PATH)
METRICS_PATH = "/metrics"
# lm-evaluation-harness' remote tokenizer asks here first; the answer is a plain 404 for anyone
# (no key needed: it says only that this server tokenizes for nobody), not the sign-in's 401.
TOKENIZER_INFO_PATH = "/tokenizer_info"
NOT_READY_RETRY_S = 5
MAX_BODY_BYTES = 1024 * 1024


def _error(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers())


class _AnswerStream(StreamingResponse):
    """A streamed answer that, however the stream ends (done, failed, the client gone before
    or during it), gives the request's row and key place back."""

    def __init__(self, content: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        super().__init__(
            content, media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone (the body was read: what comes next is the end)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_gone(
    whole: Coroutine[Any, Any, dict[str, Any]], request: Request
) -> dict[str, Any] | None:
    """The whole answer, or None when the client disconnected first (the answer's work is
    cancelled, which gives its rows back)."""
    work = asyncio.ensure_future(whole)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            return work.result()  # raises the answer's ApiError (504 past its time)
        return None
    finally:
        work.cancel()
        gone.cancel()


async def _body(request: Request) -> object:
    """The request's JSON (None when empty), refused past 1 MB or when it does not parse."""
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
    completions = Completions(service)

    async def authenticated(request: Request) -> StoredApiKey:
        key = await service.lane.run(service.authenticate, request)
        service.check_rate(key)
        return key

    @api.get(HEALTH_PATH)
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @api.get(READY_PATH)
    async def readyz() -> Response:
        reason = await service.lane.run(service.not_ready)
        if reason is not None:
            return JSONResponse(
                {"status": "not_ready", "reason": reason},
                status_code=503,
                headers={"retry-after": str(NOT_READY_RETRY_S)},
            )
        return JSONResponse({"status": "ready"})

    @api.get(METRICS_PATH)
    async def metrics(request: Request) -> Response:
        try:
            await service.lane.run(service.check_metrics_reader, request)
        except ApiError as error:
            return _error(error)
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE)

    @api.get(TOKENIZER_INFO_PATH)
    async def tokenizer_info() -> Response:
        return _error(
            ApiError(
                404,
                "This server has no tokenizer endpoint: send prompts as text (with "
                "lm-evaluation-harness: tokenizer_backend=None, or tokenized_requests=False).",
                "unknown_url",
            )
        )

    @api.get(PREFIX + "/models")
    async def list_models(request: Request) -> Response:
        try:
            key = await authenticated(request)
        except ApiError as error:
            return _error(error)
        submissions = await service.lane.run(service.submission_models, key)
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "control-vector-lab"}
            for name in service.listed_models() + submissions
        ]
        return JSONResponse({"object": "list", "data": data})

    @api.post(PREFIX + "/chat/completions")
    async def chat_completions(request: Request) -> Response:
        arrived = time.monotonic()  # the time limit counts from here, queue time included
        named: object = None  # the model the body names, for the metrics' label
        try:
            key = await authenticated(request)
            body = await _body(request)
            named = body.get("model") if isinstance(body, dict) else None
            chat = parse_chat(body, service.settings.max_tokens)
            answer = await service.lane.run(service.start, key, chat, arrived)
        except ApiError as error:
            service.refused(named, error.status, arrived)
            return _error(error)
        if chat.stream:
            return _AnswerStream(service.stream(answer), lambda: service.finish(answer))
        try:
            whole = await _unless_gone(service.complete(answer), request)
        except ApiError as error:
            return _error(error)
        finally:
            service.finish(answer)
        return JSONResponse(whole) if whole is not None else Response(status_code=499)

    @api.post(PREFIX + "/completions")
    async def text_completions(request: Request) -> Response:
        arrived = time.monotonic()
        named: object = None
        try:
            key = await authenticated(request)
            body = await _body(request)
            named = body.get("model") if isinstance(body, dict) else None
            asked = parse_completion(body, service.settings.max_tokens)
            pending = await completions.start(key, asked, arrived)
        except ApiError as error:
            service.refused(named, error.status, arrived)
            return _error(error)
        try:  # counted, and its rows and key place given back, by the answer itself
            whole = await _unless_gone(completions.answer(pending), request)
        except ApiError as error:
            return _error(error)
        return JSONResponse(whole) if whole is not None else Response(status_code=499)

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
    """ASGI middleware: ``/v1``, readiness and metrics requests go to the API app, the rest on
    to the session gate."""

    def __init__(self, app: ASGIApp, api: ASGIApp) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        ours = (
            path == PREFIX
            or path.startswith(PREFIX + "/")
            or path in READINESS_PATHS
            or path in (METRICS_PATH, TOKENIZER_INFO_PATH)
        )
        if scope["type"] == "http" and ours:
            await self.api(scope, receive, send)
            return
        await self.app(scope, receive, send)


def api_for(source: Store | ModelHost, signed_in_role: SignedInRole | None = None) -> FastAPI:
    """The API app for what ``create_server`` was given: a model host (the dashboard's
    AppContext) or a bare Store, which serves no models. ``signed_in_role`` reads the
    dashboard's sign-in cookie, for admins reading ``/metrics``."""
    return build_api(ApiService(host_for(source), signed_in_role=signed_in_role))
