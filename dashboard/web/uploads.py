"""Upload limits: the size is checked before the body is stored, and processed uploads go away.

Every request body is capped at ``STEERING_MAX_UPLOAD_MB`` (plus a little for the multipart
framing): a declared ``Content-Length`` over the cap is refused before any byte is read, and the
bytes actually received are counted too. Gradio's upload route must declare its length (browsers
always do), because Gradio's own parser cleans up its temporary file only when it refuses a file
itself (``Blocks.max_file_size``, which the server sets to the same cap), not when the client goes
away mid-body. Tab handlers take uploads through :func:`uploaded_file` and read them with
:func:`take_upload`, which deletes them. Which file an event may name at all (only one this
sign-in uploaded, once) is decided before Gradio sees the event, by :mod:`dashboard.web.event_gate`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import gradio as gr
import gradio_client.utils as client_utils
from gradio import utils as gr_utils
from gradio.data_classes import FileData
from gradio.utils import NamedString
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .json_answer import send_error

FRAMING_BYTES = 64 * 1024  # multipart boundaries and part headers around the file itself
UPLOAD_PATH = "/gradio_api/upload"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def too_large_message(max_bytes: int) -> str:
    megabytes = max_bytes / (1024 * 1024)
    return (
        f"The upload is larger than the {megabytes:g} MB limit: use a smaller file, or ask the "
        "operator to raise STEERING_MAX_UPLOAD_MB."
    )


CLOSE = [(b"connection", b"close")]  # the rest of the body is never read


class UploadLimit:
    """ASGI middleware capping request bodies at ``max_bytes`` (+ framing)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.cap = max_bytes + FRAMING_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await send_error(send, 400, "The request's Content-Length is not a number.", CLOSE)
                return
            if length > self.cap:
                await send_error(send, 413, too_large_message(self.max_bytes), CLOSE)
                return
        elif scope["path"].rstrip("/").endswith(UPLOAD_PATH):
            await send_error(send, 411, "Uploads must state their size (Content-Length).", CLOSE)
            return

        received = 0
        answered = False
        started = False

        async def counting_receive() -> Message:
            # Over the cap: answer 413 ourselves and tell the app the client left, so it stops
            # reading; whatever the app then tries to send is dropped.
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.cap:
                    answered = True
                    if not started:
                        await send_error(send, 413, too_large_message(self.max_bytes), CLOSE)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if not answered:
                started = started or message["type"] == "http.response.start"
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not answered:
                raise


def take_upload(path: str | Path, upload_root: str | Path | None = None) -> bytes:
    """The bytes of an uploaded file, which is then deleted (with its folder in Gradio's cache).

    ``upload_root`` is Gradio's cache folder (default: the one Gradio uses, see
    :mod:`dashboard.web.cache`); a path outside it is read but never deleted, so a handler cannot
    be tricked into removing other files (tests pass their own files).
    """
    file = Path(path)
    data = file.read_bytes()
    root = Path(upload_root or gr_utils.get_upload_folder()).resolve()
    resolved = file.resolve()
    if resolved.is_relative_to(root) and resolved != root:
        resolved.unlink(missing_ok=True)
        parent = resolved.parent
        if parent != root and parent.is_relative_to(root):
            shutil.rmtree(parent, ignore_errors=True)  # Gradio keeps each upload in its own folder
    return data


def uploaded_file(**kwargs: Any) -> gr.File:
    """A ``gr.File`` for uploads whose handler gets the uploaded path and no stray temporary file.

    Gradio 6.31's ``gr.File(type="filepath")`` opens an empty ``NamedTemporaryFile`` in its cache
    on every event and never closes or deletes it. This component hands the handler the uploaded
    path only, which :func:`take_upload` then deletes. (An instance override, not a subclass:
    Gradio writes a ``.pyi`` stub next to any module that subclasses a component.)
    """
    component = gr.File(**{**kwargs, "type": "filepath"})

    def process_single_file(f: FileData) -> NamedString:
        if component.file_types and not client_utils.is_valid_file(f.path, component.file_types):
            raise gr.Error(
                "This kind of file is not accepted here: upload one of "
                + ", ".join(component.file_types)
                + "."
            )
        return NamedString(f.path)

    component._process_single_file = process_single_file  # type: ignore[method-assign]
    return component
