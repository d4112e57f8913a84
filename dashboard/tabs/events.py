"""What every tab's event handlers share: user errors shown in a status line, progress bars."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from typing import Any

import gradio as gr

from dashboard.common import KNOWN_ERRORS, Progress

Handler = Callable[..., dict]


def problem(error: BaseException) -> str:
    """A user error as the Markdown a status line shows."""
    return f"**Problem:** {html.escape(str(error))}"


def guarded(status: gr.components.Component, fn: Handler) -> Handler:
    """Run ``fn``; a user error becomes a message in ``status`` and nothing else changes."""

    # functools.wraps keeps fn's signature visible: gradio finds gr.Progress through it.
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> dict:
        try:
            return fn(*args, **kwargs)
        except KNOWN_ERRORS as error:
            return {status: problem(error)}

    return wrapped


def progress_bar(progress: gr.Progress) -> Progress:
    """An action's progress callback that moves gradio's progress bar."""

    def report(done: int, total: int, what: str) -> None:
        progress((done, total) if total > 1 else done / max(total, 1), desc=what)

    return report
