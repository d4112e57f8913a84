"""Run the web application under uvicorn: the one way ``app.py`` and the tests' app start it.

uvicorn rewrites a request's client address and scheme from ``X-Forwarded-For`` and
``X-Forwarded-Proto`` for every peer in its ``forwarded_allow_ips``, which by default is
loopback (or ``$FORWARDED_ALLOW_IPS``). The sign-in throttle and the audit trail then see
whatever address a client on the same machine writes into the header. So both options are
passed explicitly, from ``STEERING_TRUSTED_PROXIES`` alone: with no proxy listed uvicorn believes
no forwarding header from anyone, loopback included, and the socket peer is the client.
"""

from __future__ import annotations

from typing import TypedDict

from starlette.types import ASGIApp

from .settings import WebSettings


class ProxyOptions(TypedDict):
    """uvicorn's two options that decide whose forwarding headers it believes."""

    proxy_headers: bool
    forwarded_allow_ips: list[str]


def proxy_options(settings: WebSettings) -> ProxyOptions:
    """Believe forwarding headers from the listed proxies only; none listed: from nobody."""
    trusted = sorted(settings.trusted_proxies)
    # An empty list, never None: None makes uvicorn fall back to loopback (or the environment).
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted}


def serve(app: ASGIApp, *, host: str, port: int, settings: WebSettings) -> None:
    """Serve ``app`` on ``host:port`` until uvicorn stops (Ctrl-C, SIGTERM)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", **proxy_options(settings))
