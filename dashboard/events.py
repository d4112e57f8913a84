"""What every tab's event handlers share: user errors shown in a status line, progress bars."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gradio as gr
from gradio.blocks import Block
from gradio.context import LocalContext

from dashboard.browser_state import BrowserSession
from dashboard.common import KNOWN_ERRORS, Progress
from dashboard.web import current_user
from dashboard.web.download_links import offer

Handler = Callable[..., dict]


def problem(error: BaseException) -> str:
    """A user error as the Markdown a status line shows."""
    return f"**Problem:** {html.escape(str(error))}"


def event_request() -> gr.Request | None:
    """The request of the event being handled (Gradio sets it around every handler call)."""
    return LocalContext.request.get(None)


def identify(args: tuple[Any, ...]) -> None:
    """Copy the signed-in user of this event's request onto its BrowserSession arguments.

    Identity comes from the session cookie and the store, looked up now: a role change or a
    deactivation applies to the next click. Raises NotSignedInError without a live sign-in.
    """
    sessions = [a for a in args if isinstance(a, BrowserSession)]
    if not sessions:
        return
    user = current_user(event_request())
    for session in sessions:
        session.adopt(user.name, user.role, user.session_id)


def offer_file(path: Any, filename: str | None = None) -> str:
    """A one-time link to ``path`` for this event's signed-in session (the file moves there)."""
    from pathlib import Path

    path = Path(path)
    return offer(event_request(), path, filename or path.name)


def download_markdown(filename: str, link: str) -> str:
    """The status line with a one-time download link (valid for this sign-in, a few minutes)."""
    return (
        f"Ready: [download **{html.escape(filename)}**]({link}) (the link works once, for "
        "you only, for a few minutes)."
    )


def unchanged(outputs: Iterable[Block]) -> dict:
    """Every output left as it is: what a handler returns when there is nothing to do.

    Gradio wants a value for each output; an empty dict counts as one value and fails the event
    ("didn't return enough output values"), marking the list and every output with an error.
    """
    return {component: gr.skip() for component in outputs}


def guarded(status: gr.components.Component, fn: Handler) -> Handler:
    """Identify the user, run ``fn``; a user error becomes a message in ``status``."""

    # functools.wraps keeps fn's signature visible: gradio finds gr.Progress through it.
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> dict:
        try:
            identify(args)
            return fn(*args, **kwargs)
        except KNOWN_ERRORS as error:
            return {status: problem(error)}

    return wrapped


def guarded_steps(status: gr.components.Component, fn: Callable[..., Iterator[dict]]) -> Callable:
    """As :func:`guarded`, for a handler that shows several steps (a generator of updates).

    Long jobs use it to show their time estimate first and their result at the end, in one
    event, so the estimate is on screen before the work starts.
    """

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Iterator[dict]:
        try:
            identify(args)
            yield from fn(*args, **kwargs)
        except KNOWN_ERRORS as error:
            yield {status: problem(error)}

    return wrapped


def progress_bar(progress: gr.Progress) -> Progress:
    """An action's progress callback that moves gradio's progress bar."""

    def report(done: int, total: int, what: str) -> None:
        progress((done, total) if total > 1 else done / max(total, 1), desc=what)

    return report
