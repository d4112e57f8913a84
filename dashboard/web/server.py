"""Build the FastAPI application that serves a Gradio Blocks behind the project's sign-in.

Layers, outside in: security headers (around everything, Starlette's error pages included), the
API dispatch (``/v1`` goes to the API-key-only OpenAI-compatible API of ``dashboard/api``, with
the probes and ``/metrics``, which alone also takes an admin's sign-in cookie), the
session gate (every route but /login, /logout and static assets), the stream guard (open event
streams end when their sign-in does), the upload size cap, the event
gate (session hashes stay with their sign-in, events name only its own uploads), then the
project's routes (/login, /logout, /downloads/<token>) and the Gradio app mounted at ``/`` with an
``auth_dependency`` that reports the user the gate found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import ASGIApp

from dashboard.api.host import ModelHost, host_for
from dashboard.api.routes import ApiDispatch, api_for
from storage import Store

from .auth import cookie_value
from .cache import prepare_file_cache
from .download_links import serve_download
from .downloads import DownloadOffers
from .event_gate import EventGate
from .gate import SessionGate
from .headers import SecurityHeaders
from .identity import USER_KEY
from .login import login_form, login_submit, logout
from .session_owners import SessionOwners
from .sessions import SessionTable
from .settings import WebSettings
from .settings import settings as web_settings
from .state import WebState
from .stream_guard import StreamGuard
from .throttle import LoginThrottle
from .upload_ledger import UploadLedger
from .uploads import UploadLimit

DOWNLOADS_DIR_NAME = "downloads"


class _HeaderedFastAPI(FastAPI):
    """FastAPI whose whole middleware stack, error pages included, sends the security headers."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def _signed_in_name(request: Request) -> str | None:
    """Gradio's ``auth_dependency``: the name the gate resolved for this request, else None."""
    user = request.scope.get("state", {}).get(USER_KEY)
    return user.name if user is not None else None


def _role_reader(web: WebState) -> Callable[[Headers], str | None]:
    """For the API's ``/metrics``: the role of the live sign-in a request's cookie holds."""

    def role(headers: Headers) -> str | None:
        user = web.resolve(cookie_value(headers))
        return user.role if user is not None else None

    return role


def _point_cache(blocks: gr.Blocks, gradio_app: Any, folder: Path) -> None:
    # Blocks and components read GRADIO_TEMP_DIR when built; pin them all to our folder in case
    # the caller built the Blocks before prepare_file_cache ran.
    for block in [blocks, *blocks.blocks.values()]:
        if hasattr(block, "GRADIO_CACHE"):
            block.GRADIO_CACHE = str(folder)
    if gradio_app is not None:
        gradio_app.uploaded_file_dir = str(folder)


def create_server(
    source: Store | ModelHost,
    blocks: gr.Blocks,
    *,
    data_dir: str | Path,
    settings: WebSettings | None = None,
    css: str | None = None,
    allowed_paths: Sequence[str] = (),
    login_note: str = "",
) -> FastAPI:
    """The app to hand to uvicorn, for a bare ``Store`` (no models: the sign-in tests) or a
    :class:`~dashboard.api.host.ModelHost` such as the dashboard's context (store and models).

    Empties Gradio's file cache under ``data_dir`` (call :func:`prepare_file_cache` yourself
    before building ``blocks`` so its components are created pointing there too).
    """
    settings = settings or web_settings()
    host = host_for(source)
    store = host.store
    data_dir = Path(data_dir)
    cache = prepare_file_cache(data_dir)
    web = WebState(
        store=store,
        settings=settings,
        sessions=SessionTable(settings.session_idle_s),
        throttle=LoginThrottle(settings.login_base_delay_s, settings.login_max_delay_s),
        downloads=DownloadOffers(data_dir / DOWNLOADS_DIR_NAME, settings.download_ttl_s),
        login_note=login_note,
    )
    app = _HeaderedFastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = web
    app.add_route("/login", login_form, methods=["GET"])
    app.add_route("/login", login_submit, methods=["POST"])
    app.add_route("/logout", logout, methods=["GET", "POST"])
    app.add_route("/downloads/{token}", serve_download, methods=["GET"])
    # Innermost of the three: sees the signed-in user (gate) and a capped body (upload limit).
    app.state.session_owners = SessionOwners()
    app.state.uploads = UploadLedger()
    app.add_middleware(EventGate, owners=app.state.session_owners, uploads=app.state.uploads)
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes)
    # Just inside the gate (it needs the user the gate found): event streams end with the sign-in.
    app.add_middleware(StreamGuard, web=web)
    app.add_middleware(SessionGate, web=web)
    # Added after the gate, so it runs before it: /v1 (API keys only, never the cookie) goes to
    # the OpenAI-compatible API, everything else on to the gate.
    app.add_middleware(ApiDispatch, api=api_for(host, signed_in_role=_role_reader(web)))
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth_dependency=_signed_in_name,
        footer_links=[],
        show_error=False,
        max_file_size=settings.max_upload_bytes,
        allowed_paths=list(allowed_paths),
        css=css,
    )
    mounted = next((r.app for r in app.routes if isinstance(r, Mount) and r.path == ""), None)
    _point_cache(blocks, mounted, cache)
    return app
