"""``/login`` and ``/logout``: the store's argon2 check, the throttle, and the session cookie.

A browser posts the form and is redirected; an API client (``Accept: application/json``, or a
JSON body) gets JSON: 200 with the user, 401 for a wrong name or password, 429 with
``Retry-After`` while a throttle wait runs. Each sign-in sets a new random cookie value and ends
the session the browser had before.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from storage import StorageError

from .auth import client_address, cookie_value, is_https, web_state
from .login_page import render_login_page
from .sessions import COOKIE_NAME
from .state import WebState, credential_of

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 64
MAX_PASSWORD_CHARS = 1024  # bounds the hashing work one request can ask for
WRONG = "The name or password is wrong, or the account is deactivated."
_NO_STORE = {"cache-control": "no-store"}


def safe_next(value: Any) -> str:
    """Where to go after sign-in: a local path only (never another site)."""
    text = value if isinstance(value, str) else ""
    if not text.startswith("/") or text.startswith(("//", "/\\")) or text.startswith("/login"):
        return "/"
    return text[:512]


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    content_type = request.headers.get("content-type", "")
    return "application/json" in accept or content_type.startswith("application/json")


async def _credentials(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
    else:
        form = await request.form(max_files=0, max_fields=8)
        body = {k: v for k, v in form.items() if isinstance(v, str)}
    fields = {k: body.get(k) for k in ("username", "password", "next")}
    return {k: v if isinstance(v, str) else "" for k, v in fields.items()}


def _same_origin(request: Request) -> bool:
    """False for a form another site posts here (login CSRF); clients that say nothing pass.

    Browsers send ``Sec-Fetch-Site``; with this app's ``Referrer-Policy: no-referrer`` their
    ``Origin`` on a form post is ``null``, so Origin decides only when it names a site.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _set_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE_NAME, token, path="/", httponly=True, samesite="strict", secure=secure
    )


def _check_login(web: WebState, name: str, password: str, address: str) -> Any:
    # The store may take the client address for its failed-sign-in audit event.
    check = web.store.check_login
    if "client" in inspect.signature(check).parameters:
        return check(name, password, client=address)
    return check(name, password)


def _record_throttled(web: WebState, name: str, address: str, wait_s: float, scope: str) -> None:
    try:
        web.store.record_event(
            "system",
            "login.throttled",
            "user",
            (name.strip() or "(empty)")[:64],
            {"client": address, "wait_s": math.ceil(wait_s), "rule": scope},
        )
    except StorageError as error:  # the refusal stands even if the audit write fails
        log.warning("could not audit a throttled sign-in: %s", error)


def _address(request: Request, web: WebState) -> str:
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers, web.settings.trusted_proxies)


def _secure(request: Request, web: WebState) -> bool:
    peer = request.client.host if request.client else None
    return is_https(request.url.scheme, peer, request.headers, web.settings.trusted_proxies)


async def login_form(request: Request) -> Response:
    """``GET /login``: the form, or straight on when this browser is already signed in."""
    web = web_state(request)
    next_path = safe_next(request.query_params.get("next"))
    user = await run_in_threadpool(web.resolve, cookie_value(request.headers))
    if user is not None:
        return RedirectResponse(next_path, status_code=303)
    return HTMLResponse(
        render_login_page(next_path=next_path, note=web.login_note), headers=_NO_STORE
    )


async def login_submit(request: Request) -> Response:
    """``POST /login``: throttle, check the password, start a new session."""
    web = web_state(request)
    wants_json = _wants_json(request)
    fields = await _credentials(request)
    name = fields["username"].strip()[:MAX_NAME_CHARS]
    password = fields["password"][:MAX_PASSWORD_CHARS]
    next_path = safe_next(fields["next"])
    address = _address(request, web)

    def refuse(status: int, message: str, wait_s: float | None = None) -> Response:
        headers = dict(_NO_STORE)
        body: dict[str, Any] = {"error": message}
        if wait_s is not None:
            headers["retry-after"] = str(math.ceil(wait_s))
            body["retry_after_s"] = round(wait_s, 3)
        if wants_json:
            return JSONResponse(body, status_code=status, headers=headers)
        page = render_login_page(message=message, name=name, next_path=next_path)
        return HTMLResponse(page, status_code=status, headers=headers)

    if not _same_origin(request):
        return refuse(403, "Sign in from the app's own /login page.")
    refusal = web.throttle.check(name, address)
    if refusal is not None:
        if refusal.first:
            await run_in_threadpool(
                _record_throttled, web, name, address, refusal.wait_s, refusal.scope
            )
        return refuse(429, refusal.message(), refusal.wait_s)
    if not name or not password:
        return refuse(400, "Enter your name and password.")
    try:
        user = await run_in_threadpool(_check_login, web, name, password, address)
    except StorageError as error:
        return refuse(503, f"Signing in is not possible right now: {error}")
    if user is None:
        web.throttle.failed(name, address)
        return refuse(401, WRONG)
    web.throttle.succeeded(name, address)
    web.sessions.end(cookie_value(request.headers))  # a new value at each sign-in
    token = web.sessions.create(user.name, credential_of(user))  # a reset later ends it
    if wants_json:
        response: Response = JSONResponse({"user": user.name, "role": user.role}, headers=_NO_STORE)
    else:
        response = RedirectResponse(next_path, status_code=303, headers=_NO_STORE)
    _set_cookie(response, token, _secure(request, web))
    return response


async def logout(request: Request) -> Response:
    """``GET`` or ``POST /logout``: end the session at once and clear the cookie."""
    web = web_state(request)
    token = cookie_value(request.headers)
    user = await run_in_threadpool(web.resolve, token, touch=False)
    web.sessions.end(token)
    if user is not None:
        try:
            await run_in_threadpool(web.store.record_event, user.name, "logout", "user", user.name)
        except StorageError as error:
            log.warning("could not audit a sign-out: %s", error)
    if _wants_json(request):
        response: Response = JSONResponse({"signed_out": True}, headers=_NO_STORE)
    else:
        response = RedirectResponse("/login", status_code=303, headers=_NO_STORE)
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=_secure(request, web)
    )
    return response
