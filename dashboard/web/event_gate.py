"""The event gate: what a signed-in request may name, checked before Gradio sees it.

Sits inside the session gate and the upload cap (so every request here has a user and a bounded
body) and in front of Gradio. For each signed-in request it:

* **refuses another sign-in's Gradio session** (403): every session hash and event id the
  request names (in its path, query or JSON body) must be unowned or owned by this sign-in
  (:mod:`dashboard.web.session_owners`); the first use claims it, and the event ids Gradio
  hands out are claimed for the sign-in that receives them;
* **refuses files it did not upload** (400): every file reference in a JSON body
  (:mod:`dashboard.web.file_refs`) must be a path this sign-in received from
  ``/gradio_api/upload`` and has not used yet (:mod:`dashboard.web.upload_ledger`), which the
  gate recorded from the upload's own response. Gradio's own check is not relied on: it does
  nothing while ``blocks.has_launched`` is False, which it stays under ``mount_gradio_app``.

Every body-carrying request is read here, whatever its route, so a route added by a Gradio
upgrade is covered too: a JSON body is inspected, a multipart body is accepted only by the
upload routes, and anything else unreadable is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .file_refs import file_references
from .identity import USER_KEY, SignedInUser
from .json_answer import send_error
from .session_owners import SessionOwners
from .upload_ledger import UploadLedger

UPLOAD_ROUTE = "/gradio_api/upload"
# Takes a fresh recording as multipart, like an upload; it names no existing file.
RECORDING_ROUTE = "/gradio_api/process_recording"
_MULTIPART_ROUTES = frozenset({UPLOAD_ROUTE, RECORDING_ROUTE})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Routes whose answer is {"event_id": ...}: the new event belongs to whoever asked.
_NEW_EVENT_ROUTE = re.compile(r"^/gradio_api/(?:queue/join|call/(?:v2/)?[^/]+)$")
# Path segments that are session hashes or event ids, by method.
_HANDLE_IN_PATH = (
    ("GET", re.compile(r"^/gradio_api/heartbeat/(?P<handle>[^/]+)$")),
    (None, re.compile(r"^/gradio_api/stream/(?P<handle>[^/]+)(?:/.*)?$")),
    ("GET", re.compile(r"^/gradio_api/call/(?:v2/)?[^/]+/(?P<handle>[^/]+)$")),
)
HANDLE_FIELDS = ("session_hash", "event_id", "upload_id")
_CAPTURE_LIMIT = 1024 * 1024  # the answers read here are small JSON

NOT_YOURS = (
    "This page's session belongs to another sign-in: reload the page to start your own session."
)
NOT_UPLOADED = (
    "This event names a file that you did not upload here (or that was already used): "
    "upload the file again."
)
NOT_JSON = "The request body is not valid JSON."
NO_MULTIPART = "Only the upload route takes files; send this request as JSON."


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away (or the upload cap, which
    answers itself, said so)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the client's own messages
    (so streaming routes still notice a disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def route_of(scope: Scope) -> str:
    path: str = scope["path"]
    return path.rstrip("/") or "/"


def handles_named(method: str, route: str, query: bytes, body: object) -> Iterator[str]:
    """The session hashes, event ids and upload ids a request names."""
    for wanted, pattern in _HANDLE_IN_PATH:
        match = pattern.match(route)
        if match and wanted in (None, method):
            yield match["handle"]
    # Decoded as Starlette decodes it, every value kept (a route reads only the last one).
    for key, text in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if key in HANDLE_FIELDS:
            yield text
    if isinstance(body, dict):
        for key in HANDLE_FIELDS:
            field = body.get(key)
            if isinstance(field, str):
                yield field


class _AnswerReader:
    """Passes the app's answer on, keeping a copy of a small body to act on before its last
    chunk leaves (so the client cannot use what it names before it is recorded)."""

    def __init__(self, send: Send, on_done: Callable[[int, bytes | None], None]) -> None:
        self.send = send
        self.on_done = on_done
        self.status = 0
        self.chunks: list[bytes] = []
        self.size = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.size <= _CAPTURE_LIMIT:
                self.chunks.append(chunk)
            if not message.get("more_body", False):
                body = b"".join(self.chunks) if self.size <= _CAPTURE_LIMIT else None
                self.on_done(self.status, body)
        await self.send(message)


def _parsed_body(scope: Scope, body: bytes) -> tuple[str | None, object]:
    """(None, the JSON value) for a body the gate can inspect, else (why it is refused, None)."""
    if not body.strip():
        return None, None
    if Headers(scope=scope).get("content-type", "").lower().startswith("multipart/"):
        return NO_MULTIPART, None
    try:
        # The same parser FastAPI uses for these routes, so both read the same value.
        return None, json.loads(body)
    except (ValueError, RecursionError):
        return NOT_JSON, None


def _json_or_none(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class EventGate:
    """ASGI middleware: session hashes stay with their sign-in; events name only own uploads."""

    def __init__(
        self,
        app: ASGIApp,
        owners: SessionOwners,
        uploads: UploadLedger,
    ) -> None:
        self.app = app
        self.owners = owners
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("state", {}).get(USER_KEY) if scope["type"] == "http" else None
        if not isinstance(user, SignedInUser):
            await self.app(scope, receive, send)  # open routes; the session gate did the rest
            return
        sid = user.session_id
        method: str = scope["method"]
        route = route_of(scope)
        if route == UPLOAD_ROUTE:
            if self.owners.claim(sid, handles_named(method, route, scope["query_string"], None)):
                await self.app(scope, receive, self._recording_uploads(sid, send))
            else:
                await send_error(send, 403, NOT_YOURS)
            return

        if method in _BODY_METHODS and route not in _MULTIPART_ROUTES:
            body = await _read_body(receive)
            if body is None:
                return
            receive = _replaying(body, receive)
            refusal, parsed = _parsed_body(scope, body)
            if refusal is not None:
                await send_error(send, 400, refusal)
                return
        else:
            parsed = None  # Gradio reads no body here (or a fresh upload's, as multipart)

        if not self.owners.claim(sid, handles_named(method, route, scope["query_string"], parsed)):
            await send_error(send, 403, NOT_YOURS)
            return
        named = list(file_references(parsed))
        if named and not self.uploads.take(sid, named):
            await send_error(send, 400, NOT_UPLOADED)
            return
        taken = [path for path in named if path is not None]
        if not taken and not _NEW_EVENT_ROUTE.match(route):
            await self.app(scope, receive, send)
            return

        def after(status: int, answer: bytes | None) -> None:
            if status >= 400 and taken:
                self.uploads.give_back(sid, taken)  # refused before it ran: still unused
            new_event = _json_or_none(answer) if status == 200 else None
            if isinstance(new_event, dict) and isinstance(new_event.get("event_id"), str):
                self.owners.claim(sid, [new_event["event_id"]])

        reader = _AnswerReader(send, after)
        try:
            await self.app(scope, receive, reader)
        except Exception:
            if reader.status == 0 and taken:
                self.uploads.give_back(sid, taken)  # it failed before answering: still unused
            raise

    def _recording_uploads(self, sid: str, send: Send) -> Send:
        def after(status: int, answer: bytes | None) -> None:
            paths = _json_or_none(answer) if status == 200 else None
            if isinstance(paths, list):
                self.uploads.record(sid, [p for p in paths if isinstance(p, str)])

        return _AnswerReader(send, after)
