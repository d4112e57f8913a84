"""The route gate: every route but ``/login``, ``/logout``, static assets and the readiness
probes (``/healthz``, ``/readyz``) needs a live session.

Gradio's ``auth_dependency`` protects only some of its routes (page, config, queue join, upload,
``file=``); the heartbeat, ``/gradio_api/stream/...``, ``/cancel``, ``/reset``, ``/token``,
``/startup-events``, ``/monitoring/{key}`` and others it leaves open. So this ASGI middleware sits
in front of everything: an anonymous page request is redirected to ``/login``, any other anonymous
request gets 401, and a signed-in request carries its :class:`SignedInUser` in the scope state
for the routes behind (the auth dependency, downloads, tab handlers). Routes under ``/v1/`` are
reserved for API keys and never accept the cookie. What a signed-in request may name (its own
Gradio sessions, its own uploads) is checked behind it, by :mod:`dashboard.web.event_gate`.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from .auth import cookie_value
from .identity import USER_KEY, WEB_KEY
from .json_answer import send_error
from .state import WebState

# /healthz and /readyz (answered by the API's dispatch, before this gate) say only "ok" or
# "ready"/"not ready": probes and load balancers call them without a session or a key.
OPEN_PATHS = frozenset(
    {"/login", "/login/", "/logout", "/logout/", "/favicon.ico", "/healthz", "/readyz"}
)
# Gradio's own built front-end and template files: the same bytes for everyone.
STATIC_PREFIXES = ("/assets/", "/static/", "/svelte/")
API_KEY_PREFIX = "/v1"
# Not pages even when a browser asks: anonymous requests here get 401, never a redirect.
API_PREFIXES = ("/gradio_api", "/downloads", "/config", "/monitoring", "/file", "/upload")
HEARTBEAT = "/gradio_api/heartbeat/"


def is_open(path: str) -> bool:
    """Paths served without a session: sign-in, sign-out, the probes and static assets."""
    return path in OPEN_PATHS or path.startswith(STATIC_PREFIXES)


def wants_page(method: str, path: str, headers: Headers) -> bool:
    """A browser navigating to a page (answered with a redirect, not a 401)."""
    if method not in ("GET", "HEAD") or path.startswith(API_PREFIXES):
        return False
    return "text/html" in headers.get("accept", "")


class SessionGate:
    """ASGI middleware enforcing the session cookie on every route it does not list as open."""

    def __init__(self, app: ASGIApp, web: WebState) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[WEB_KEY] = self.web
        state.pop(USER_KEY, None)  # only the gate sets it, from the cookie
        path: str = scope["path"]
        if is_open(path):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if path == API_KEY_PREFIX or path.startswith(API_KEY_PREFIX + "/"):
            await self._refuse(
                scope, send, "This API needs an API key, which is not available yet."
            )
            return
        touch = not path.startswith(HEARTBEAT)  # an open tab alone does not keep a session alive
        user = await run_in_threadpool(self.web.resolve, cookie_value(headers), touch=touch)
        if user is None:
            if scope["type"] == "http" and wants_page(scope["method"], path, headers):
                target = "/login?next=" + quote(path, safe="/")
                await send(
                    {
                        "type": "http.response.start",
                        "status": 303,
                        "headers": [(b"location", target.encode()), (b"content-length", b"0")],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
            await self._refuse(scope, send, "Sign in first: open the app's /login page.")
            return
        state[USER_KEY] = user
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        await send_error(send, 401, message, [(b"www-authenticate", b'Cookie realm="cvlab"')])
