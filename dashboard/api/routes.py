"""The ``/v1`` routes: the FastAPI app around :class:`~dashboard.api.service.ApiService`.

``GET /v1/models`` lists the default model and the loaded ones; ``POST /v1/chat/completions``
answers, whole or streamed as server-sent events; any other ``/v1`` path is a 404 once the key
checks out. Every refusal is an :class:`~dashboard.api.protocol.ApiError` turned into OpenAI's
error body here (a 401 also says ``WWW-Authenticate: Bearer``, a 429 or 503 ``Retry-After``).
A caller that disconnects, streaming or not, gives its decoding row back at the next step.

``GET /healthz`` (the process serves) and ``GET /readyz`` (the store answers and the preloaded
default model is loaded) need no key and no sign-in, and say nothing else.

:class:`ApiDispatch` sends ``/v1`` and the two readiness paths here before the dashboard's
session gate runs, so the cookie plays no part; everything else goes on to the gate unchanged.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from storage import Store, StoredApiKey

from .host import ModelHost, host_for
from .protocol import ApiError, parse_chat
from .service import Answer, ApiService

PREFIX = "/v1"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
READINESS_PATHS = (HEALTH_PATH, READY_PATH)
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


async def _complete_unless_gone(
    service: ApiService, answer: Answer, request: Request
) -> dict[str, Any] | None:
    """The whole answer, or None when the client disconnected first (its row is given back)."""
    work = asyncio.ensure_future(service.complete(answer))
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

    async def authenticated(request: Request) -> StoredApiKey:
        key = await run_in_threadpool(service.authenticate, request)
        service.check_rate(key)
        return key

    @api.get(HEALTH_PATH)
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @api.get(READY_PATH)
    async def readyz() -> Response:
        reason = await run_in_threadpool(service.not_ready)
        if reason is not None:
            return JSONResponse(
                {"status": "not_ready", "reason": reason},
                status_code=503,
                headers={"retry-after": str(NOT_READY_RETRY_S)},
            )
        return JSONResponse({"status": "ready"})

    @api.get(PREFIX + "/models")
    async def list_models(request: Request) -> Response:
        try:
            await authenticated(request)
        except ApiError as error:
            return _error(error)
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "control-vector-lab"}
            for name in service.listed_models()
        ]
        return JSONResponse({"object": "list", "data": data})

    @api.post(PREFIX + "/chat/completions")
    async def chat_completions(request: Request) -> Response:
        arrived = time.monotonic()  # the time limit counts from here, queue time included
        try:
            key = await authenticated(request)
            chat = parse_chat(await _body(request), service.settings.max_tokens)
            answer = await run_in_threadpool(service.start, key, chat, arrived)
        except ApiError as error:
            return _error(error)
        if chat.stream:
            return _AnswerStream(service.stream(answer), lambda: service.finish(answer))
        try:
            body = await _complete_unless_gone(service, answer, request)
        except ApiError as error:
            return _error(error)
        finally:
            service.finish(answer)
        return JSONResponse(body) if body is not None else Response(status_code=499)

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
    """ASGI middleware: ``/v1`` and readiness requests go to the API app, the rest on to the
    session gate."""

    def __init__(self, app: ASGIApp, api: ASGIApp) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        ours = path == PREFIX or path.startswith(PREFIX + "/") or path in READINESS_PATHS
        if scope["type"] == "http" and ours:
            await self.api(scope, receive, send)
            return
        await self.app(scope, receive, send)


def api_for(source: Store | ModelHost) -> FastAPI:
    """The API app for what ``create_server`` was given: a model host (the dashboard's
    AppContext) or a bare Store, which serves no models."""
    return build_api(ApiService(host_for(source)))
