"""The request side of private downloads: a tab offers a file to the signed-in user of its request,
and ``GET /downloads/{token}`` serves it once, to that session only (the registry of offers is
:mod:`dashboard.web.downloads`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .auth import current_user, web_state
from .gone_page import link_gone
from .identity import USER_KEY, SignedInUser


def offer(request: Any, data: bytes | Path, filename: str, media_type: str | None = None) -> str:
    """For a tab handler: offer ``data`` to the signed-in user of ``request`` (a ``gr.Request``).

    Returns the one-time URL, e.g. ``/downloads/Xy...``; raises NotSignedInError without a session.
    """
    user = current_user(request)
    return web_state(request).downloads.offer(user, data, filename, media_type)


async def serve_download(request: Request) -> Response:
    """``GET /downloads/{token}``: the file as an attachment, once, to its own session only."""
    user: SignedInUser | None = request.scope.get("state", {}).get(USER_KEY)
    if user is None:  # the gate answers anonymous requests first; this is a second lock
        return JSONResponse({"error": "Sign in first."}, status_code=401)
    token = request.path_params.get("token", "")
    found = web_state(request).downloads.take(token, user.session_id)
    if found is None:
        return link_gone(request)
    # Read, then delete, before answering: the file is gone by the time the client has it, not at
    # some moment after (a background task ran late under load). Offered files are small.
    try:
        data = await run_in_threadpool(_read_and_remove, found.path)
    except FileNotFoundError:  # swept as it expired: said as every other dead link is
        return link_gone(request)
    return Response(
        data,
        media_type=found.media_type,
        headers={"content-disposition": f'attachment; filename="{found.filename}"'},
    )


def _read_and_remove(path: Path) -> bytes:
    try:
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
