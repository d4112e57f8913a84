"""Who is asking: the signed-in user of a request, looked up in the store on every request.

Identity comes only from the session cookie, resolved server-side; the role and the active flag
are read from the store each time, so a role change or a deactivation applies on the very next
request. Nothing the client holds (Gradio's session hash, ``gr.State``, a form field) counts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection, cookie_parser

from .errors import NotSignedInError
from .identity import WEB_KEY, SignedInUser
from .sessions import COOKIE_NAME

if TYPE_CHECKING:
    from .state import WebState


def cookie_value(headers: Mapping[str, str] | Any) -> str | None:
    """The session cookie's value from a request's headers, or None."""
    raw = headers.get("cookie") if headers is not None else None
    if not raw:
        return None
    return cookie_parser(raw).get(COOKIE_NAME) or None


def client_address(peer: str | None, headers: Mapping[str, str], trusted: frozenset[str]) -> str:
    """The client's address: the socket peer, unless the peer is a trusted proxy.

    Behind a trusted proxy the ``X-Forwarded-For`` list is read from the right, skipping trusted
    proxies, and the first other address is the client; anything unparsable falls back to the
    peer, so a forged header can never name an address the proxy did not add.
    """
    peer = peer or "unknown"
    if peer not in trusted:
        return peer
    forwarded = headers.get("x-forwarded-for", "")
    for item in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        try:
            address = str(ipaddress.ip_address(item))
        except ValueError:
            return peer
        if address not in trusted:
            return address
    return peer


def is_https(
    scheme: str, peer: str | None, headers: Mapping[str, str], trusted: frozenset[str]
) -> bool:
    """Whether the browser reached us over HTTPS (directly, or as a trusted proxy says)."""
    if scheme in ("https", "wss"):
        return True
    if peer in trusted:
        proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        return proto == "https"
    return False


def _starlette_request(request: Any) -> HTTPConnection:
    """The Starlette request behind a ``gr.Request`` (or the request itself)."""
    # isinstance, not hasattr: gr.Request answers any attribute by converting the inner one.
    inner: object = (
        request
        if isinstance(request, HTTPConnection)
        else getattr(request, "__dict__", {}).get("request")
    )
    if not isinstance(inner, HTTPConnection):
        raise NotSignedInError("This action needs a signed-in user: sign in and try again.")
    return inner


def web_state(request: Any) -> WebState:
    """The app's :class:`~dashboard.web.state.WebState`, as the gate attached it to the request."""
    inner = _starlette_request(request)
    web = inner.scope.get("state", {}).get(WEB_KEY)
    if web is None:
        raise NotSignedInError("The sign-in service is not running: restart the app with app.py.")
    return web


def current_user(request: Any) -> SignedInUser:
    """The signed-in user of a ``gr.Request`` (or Starlette request), checked against the store now.

    Raises :class:`NotSignedInError` when the session was signed out, went idle, or its account
    was deactivated since the page was opened. Does not count as activity (the request that
    carried the event already did).
    """
    inner = _starlette_request(request)
    web = web_state(inner)
    user = web.resolve(cookie_value(inner.headers), touch=False)
    if user is None:
        raise NotSignedInError(
            "Your sign-in has ended (signed out, idle too long, or the account was "
            "deactivated): reload the page and sign in again."
        )
    claimed = getattr(request, "__dict__", {}).get("username")
    if isinstance(claimed, str) and claimed and claimed != user.name:
        # The event was queued under another session's name: trust neither.
        raise NotSignedInError("Your sign-in changed while this action waited: reload the page.")
    return user
