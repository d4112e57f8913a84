"""The middlewares' own answers: ``{"error": message}`` as JSON, sent straight over ASGI.

The session gate, the upload cap and the event gate refuse a request before any route runs, so
they answer with raw ASGI messages; this is the one way they all do it.
"""

from __future__ import annotations

import json

from starlette.types import Send


async def send_error(
    send: Send, status: int, message: str, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer ``status`` with ``{"error": message}``; ``extra_headers`` go after the JSON ones."""
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": headers + (extra_headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})
