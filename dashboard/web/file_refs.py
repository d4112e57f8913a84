"""The file references inside a Gradio event's JSON body, wherever they are nested.

Gradio reads a file for an event from any dict carrying a ``path`` (its ``FileData``, with or
without ``meta``), and its browser client also sends the file's ``url``
(``<root>/gradio_api/file=<percent-encoded path>``). Both name a server path the client chose.
:func:`file_references` lists every path an event body names that way, so the event gate can
accept it only when it is one this sign-in received from the upload route. A reference that
cannot be read as a path (a ``path`` that is not text, a ``url`` that is not a ``file=`` URL)
comes back as ``None``: it names nothing this sign-in received, so it is refused too.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

FILE_DATA_TYPE = "gradio.FileData"
# The two spellings of Gradio's file route (``file/`` is its deprecated form).
FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/")


def _is_file_data(value: dict) -> bool:
    meta = value.get("meta")
    return (
        "path" in value
        or "url" in value
        or (isinstance(meta, dict) and meta.get("_type") == FILE_DATA_TYPE)
    )


def path_of_file_url(url: object) -> str | None:
    """The server path a Gradio ``file=`` URL names (percent-decoded), else None."""
    if not isinstance(url, str):
        return None
    try:
        route = urlsplit(url).path
    except ValueError:
        return None
    for prefix in FILE_ROUTES:
        at = route.find(prefix)
        if at != -1:
            return unquote(route[at + len(prefix) :])
    return None


def names_file_route(text: str) -> bool:
    """Whether a plain string is a URL into Gradio's file route."""
    return any(prefix in text for prefix in FILE_ROUTES)


def file_references(body: object) -> Iterator[str | None]:
    """Every path ``body`` names as a file: each FileData dict's ``path`` and ``url``, and each
    plain string that is a ``file=`` URL; ``None`` for a reference that names no path."""
    pending: list[object] = [body]
    while pending:  # iterative: event bodies can be nested deeper than Python's recursion limit
        value = pending.pop()
        if isinstance(value, dict):
            if _is_file_data(value):
                path = value.get("path")
                yield path if isinstance(path, str) else None
                if value.get("url") is not None:
                    yield path_of_file_url(value["url"])
            pending.extend(v for k, v in value.items() if k not in ("path", "url"))
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and names_file_route(value):
            yield path_of_file_url(value)
