"""The ``/v1`` routes: the FastAPI app around :class:`~dashboard.api.service.ApiService`.

``GET /v1/models`` lists the loaded models; ``POST /v1/chat/completions`` answers, whole or
streamed as server-sent events; any other ``/v1`` path is a 404 once the key checks out. Every
refusal is an :class:`~dashboard.api.protocol.ApiError` turned into OpenAI's error body here (a
401 also says ``WWW-Authenticate: Bearer``).

:class:`ApiDispatch` sends ``/v1`` requests here before the dashboard's session gate runs, so the
cookie plays no part; everything else goes on to the gate unchanged.
"""

from __future__ import annotations

import json

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from storage import Store, StoredApiKey

from .host import ModelHost, host_for
from .protocol import ApiError, parse_chat
from .service import ApiService

PREFIX = "/v1"
MAX_BODY_BYTES = 1024 * 1024


def _error(error: ApiError) -> JSONResponse:
    headers = {"www-authenticate": 'Bearer realm="cvlab-api"'} if error.status == 401 else {}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


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


def api_for(source: Store | ModelHost) -> FastAPI:
    """The API app for what ``create_server`` was given: a model host (the dashboard's
    AppContext) or a bare Store, which serves no models."""
    return build_api(ApiService(host_for(source)))
