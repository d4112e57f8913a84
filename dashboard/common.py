"""What every tab's actions share: the user error type, the sign-in check, export folders.

No gradio here: the actions that use these are plain functions, called from tests directly.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dashboard.browser_state import BrowserSession
from dashboard.context import AppContext
from dashboard.views.review import submission_label
from dashboard.web.errors import WebError
from steering.engine.models import LoadedModel
from steering.errors import SteeringError
from storage import StorageError

# The example split is seeded, so a build can be reproduced from the stored example set.
SPLIT_SEED = 0

# done, total, what is happening: the tabs turn this into a gr.Progress bar.
Progress = Callable[[int, int, str], None]


class UserError(Exception):
    """Something the user can fix in the dashboard itself (sign in first, build a vector first)."""


# The exception types whose message is meant for the user (ExampleSetError is a SteeringError).
KNOWN_ERRORS: tuple[type[Exception], ...] = (SteeringError, StorageError, UserError, WebError)


def quiet(_done: int, _total: int, _what: str = "") -> None:
    """A progress callback that reports nowhere (tests, scripts)."""


def need_user(session: BrowserSession) -> str:
    """The signed-in user's name, or a UserError asking them to sign in."""
    if session.user is None:
        raise UserError("Please sign in first.")
    return session.user


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def loaded_model(ctx: AppContext, session: BrowserSession) -> LoadedModel:
    """The model this session chose (loaded once per process)."""
    return ctx.model(session.model_spec or ctx.default_model)


def export_folder(ctx: AppContext, user: str) -> Path:
    """Each user's own folder for files they download (named by a hash, not the user name)."""
    folder = ctx.export_dir / sha256_text(user)[:12]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def submission_choices(ctx: AppContext, status: str | None = None) -> list[tuple[str, int]]:
    """``(label, id)`` pairs for a dropdown of submissions, newest first."""
    subs = ctx.store.list_submissions(status=status or None)
    return [(submission_label(s), s.id) for s in reversed(subs)]


# ------------------------------------------------------------------ one heavy job per user

# user name -> (what is running, when it started); shared by every browser tab of the process.
_running: dict[str, tuple[str, float]] = {}
_running_lock = threading.Lock()


@contextmanager
def one_job(user: str, what: str) -> Iterator[None]:
    """Run a heavy job (build, evaluation, generation) unless this user already has one running.

    A second job is refused at once with a message rather than queued: a double click or a
    second browser tab would otherwise run the same work twice, one after the other, while the
    person waits without knowing why. The message says what is still running.
    """
    with _running_lock:
        running = _running.get(user)
        if running is None:
            _running[user] = (what, time.monotonic())
    if running is not None:
        other, started = running
        raise UserError(
            f"Waiting for your previous job to finish: your {other} started "
            f"{time.monotonic() - started:.0f} s ago is still running. This {what} was not "
            "started; run it again when the other is done."
        )
    try:
        yield
    finally:
        with _running_lock:
            _running.pop(user, None)
