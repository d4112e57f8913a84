"""Open event streams end with their sign-in.

The session gate checks the cookie when a request arrives; a server-sent-event stream
(Gradio's ``queue/data``, ``call/<api>/<event>``, the heartbeat) then stays open for minutes.
This middleware watches each such stream of a signed-in request and ends it within a second or
two of its session ending: signed out (checked every :data:`LIVE_CHECK_S`), or, read from the
store every :data:`ACCOUNT_CHECK_S`, deactivated, its password reset (from the Admin tab or
the CLI, another process) or idle too long.

Ending a stream is what a client going away does: the app behind is told the client
disconnected (Gradio then stops sending that session's messages), and the response is closed
properly, so the browser sees the stream end rather than a broken connection. It never cancels
the work behind the stream: a build or an evaluation already running finishes and stores its
result, as when a browser tab is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import cookie_value
from .identity import USER_KEY, SignedInUser
from .state import WebState

log = logging.getLogger(__name__)

LIVE_CHECK_S = 0.25  # sign-out: the session table, in memory
ACCOUNT_CHECK_S = 1.0  # deactivation, password reset, idle: the store
DISCONNECTED: Message = {"type": "http.disconnect"}


def is_event_stream(start: Message) -> bool:
    """Whether a response start message opens a server-sent-event stream."""
    headers = Headers(raw=start.get("headers", []))
    return headers.get("content-type", "").startswith("text/event-stream")


class StreamGuard:
    """ASGI middleware (inside the session gate) ending event streams whose sign-in ended."""

    def __init__(
        self,
        app: ASGIApp,
        web: WebState,
        live_check_s: float = LIVE_CHECK_S,
        account_check_s: float = ACCOUNT_CHECK_S,
    ) -> None:
        self.app = app
        self.web = web
        self.live_check_s = live_check_s
        self.account_check_s = account_check_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("state", {}).get(USER_KEY) if scope["type"] == "http" else None
        if not isinstance(user, SignedInUser):
            await self.app(scope, receive, send)
            return
        stream = _WatchedStream(self, user, cookie_value(Headers(scope=scope)), receive, send)
        try:
            await self.app(scope, stream.receive, stream.send)
        finally:
            await stream.close()

    def still_signed_in(self, user: SignedInUser, token: str | None) -> bool:
        """Whether the session behind ``token`` is still ``user``'s live, checked sign-in."""
        found = self.web.resolve(token, touch=False)
        return found is not None and found.session_id == user.session_id


class _WatchedStream:
    """One request's ``receive`` and ``send``, and the watcher that ends its stream."""

    def __init__(
        self,
        guard: StreamGuard,
        user: SignedInUser,
        token: str | None,
        receive: Receive,
        send: Send,
    ) -> None:
        self.guard = guard
        self.user = user
        self.token = token
        self._receive = receive
        self._send = send
        self.ended = asyncio.Event()  # the sign-in ended: the client counts as gone
        self.watcher: asyncio.Task[None] | None = None
        self.request_read = False  # the whole request body went to the app
        self.body_done = False  # the whole response body went to the client

    async def receive(self) -> Message:
        if not self.request_read:  # the request body first, as it comes
            message = await self._receive()
            self.request_read = message["type"] != "http.request" or not message.get("more_body")
            return message
        # After the body only a disconnect can come: it comes early when the sign-in ends.
        if self.ended.is_set():
            return DISCONNECTED
        receiving = asyncio.ensure_future(self._receive())
        ending = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({receiving, ending}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # this request is being cancelled: leave nothing waiting
            receiving.cancel()
            raise
        finally:
            ending.cancel()
        if receiving.done():
            return receiving.result()
        receiving.cancel()
        return DISCONNECTED

    async def send(self, message: Message) -> None:
        if self.ended.is_set():
            return  # the stream is over for this client: nothing more reaches it
        if message["type"] == "http.response.start" and is_event_stream(message):
            self.watcher = asyncio.create_task(self._watch(), name="stream-guard")
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.body_done = True
        await self._send(message)

    async def _watch(self) -> None:
        guard = self.guard
        since_account_check = 0.0
        try:
            while True:
                await asyncio.sleep(guard.live_check_s)
                since_account_check += guard.live_check_s
                if not guard.web.sessions.is_live(self.user.session_id):
                    break
                if since_account_check >= guard.account_check_s:
                    since_account_check = 0.0
                    if not await run_in_threadpool(guard.still_signed_in, self.user, self.token):
                        break
        except Exception:  # a check that cannot be made ends the stream (the safe side)
            log.exception("could not check the sign-in behind an event stream")
        self.ended.set()

    async def close(self) -> None:
        """After the app returned: stop watching, and end a stream the app left open."""
        if self.watcher is None:
            return
        self.watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.watcher
        if self.ended.is_set() and not self.body_done:
            self.body_done = True
            # The app stopped as if the client had gone; the client is still there: end the
            # chunked body so it sees the stream close.
            with contextlib.suppress(OSError, RuntimeError):
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})
