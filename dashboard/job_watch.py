"""A tab following a job it did not start: the page was reloaded, or opened in another browser.

Each tab that runs heavy jobs has a ``gr.Timer``, off until the page load finds one of the
user's jobs still running (:func:`on_load`); then every tick reads the job's record
(:mod:`dashboard.jobs`) and shows its progress in the tab's status line, and when the job ends
shows its result (``on_done``) or why it has none, and stops. A job interrupted by a restart is
said once, on the next page load, in one sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import gradio as gr

from dashboard import jobs
from dashboard.browser_state import BrowserSession
from dashboard.common import KNOWN_ERRORS, need_user
from dashboard.context import AppContext
from dashboard.events import identify, problem
from storage import StoredJob

TICK_S = 2.0

# What a tab shows when the job it follows is done: given the session, the job's record and the
# status text, the component updates (its result, reopened from the store).
OnDone = Callable[[BrowserSession, StoredJob, str], dict]


@dataclass(frozen=True)
class JobWatch:
    """The jobs a tab shows (by kind), its status line and its timer."""

    kinds: tuple[str, ...]
    status: gr.Markdown
    timer: gr.Timer


def create_timer() -> gr.Timer:
    return gr.Timer(TICK_S, active=False)


def job_to_show(ctx: AppContext, user: str, kinds: Iterable[str]) -> StoredJob | None:
    """The user's newest job of ``kinds`` if the page should show it: still running, or
    interrupted by a restart and not yet said."""
    job = ctx.store.latest_job(user, kinds)
    if job is None or not (job.open or (job.state == "interrupted" and not job.told)):
        return None
    return job


def on_load(ctx: AppContext, session: BrowserSession, watches: Sequence[JobWatch]) -> dict:
    """Page-load updates: each tab's running job shown with its timer on, an interruption said."""
    user = need_user(session)
    now = datetime.now(UTC)
    updates: dict = {watch.timer: gr.skip() for watch in watches}  # never empty (see wire_load)
    for watch in watches:
        job = job_to_show(ctx, user, watch.kinds)
        if job is None:
            continue
        updates[watch.status] = jobs.status_markdown(job, now)
        if job.open:
            updates[watch.timer] = gr.Timer(active=True)
        else:
            ctx.store.mark_job_told(job.id)
    return updates


def ticker(ctx: AppContext, watch: JobWatch, on_done: OnDone) -> Callable[[BrowserSession], dict]:
    """The timer's handler: the job's progress, then its result (or why it has none)."""

    def off() -> gr.Timer:
        # Made while the event runs: a component made while the page is being laid out would be
        # placed in it (here, between two tabs, which shifts the tab bar's order in the browser).
        return gr.Timer(active=False)

    def on_tick(session: BrowserSession) -> dict:
        try:
            identify((session,))
            job = ctx.store.latest_job(need_user(session), watch.kinds)
            if job is None:
                return {watch.timer: off()}
            text = jobs.status_markdown(job, datetime.now(UTC))
            if job.open:
                return {watch.status: text}
            updates = {watch.status: text, watch.timer: off()}
            if job.state == "done" and job.result_id is not None:
                updates.update(on_done(session, job, text))
            elif job.state == "interrupted":
                ctx.store.mark_job_told(job.id)
            return updates
        except KNOWN_ERRORS as error:
            return {watch.status: problem(error), watch.timer: off()}

    return on_tick


def wire(ctx: AppContext, state: gr.State, watch: JobWatch, on_done: OnDone, outputs: list) -> None:
    """Tick ``watch.timer`` into its status line, its timer and ``outputs`` (what ``on_done``
    fills)."""
    targets = [watch.status, watch.timer, *[o for o in outputs if o is not watch.status]]
    watch.timer.tick(ticker(ctx, watch, on_done), [state], targets, show_progress="hidden")


def wire_load(
    ctx: AppContext, demo: gr.Blocks, state: gr.State, watches: Sequence[JobWatch]
) -> None:
    """On every page load (a reload, a new sign-in): the user's jobs as :func:`on_load` says."""
    targets = [component for watch in watches for component in (watch.status, watch.timer)]

    def show_jobs(session: BrowserSession) -> dict:
        try:
            identify((session,))
            return on_load(ctx, session, watches)
        except KNOWN_ERRORS:  # not signed in: the sign-in tab's own page load says so
            # Every output skipped: an empty dict would count as one value and fail the event.
            return {watch.timer: gr.skip() for watch in watches}

    demo.load(show_jobs, [state], targets, show_progress="hidden")
