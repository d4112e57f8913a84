"""The header: who is signed in (from the request) and a sign-out button.

Signing in happens on the app's own ``/login`` page (:mod:`dashboard.web`), before the dashboard
loads; this module only shows the user and fills what depends on their role when the page loads.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

from dashboard.common import KNOWN_ERRORS, submission_choices
from dashboard.context import AppContext
from dashboard.session import BrowserSession
from dashboard.tabs.downloads import DownloadsTab
from dashboard.tabs.events import identify, problem
from dashboard.tabs.review import ReviewTab
from storage.workflow import APPROVED, SUBMITTED


@dataclass(frozen=True)
class Header:
    text: gr.Markdown


def header_markdown(session: BrowserSession) -> str:
    return (
        f"**Control-vector lab** · signed in as **{html.escape(str(session.user))}** "
        f"({html.escape(str(session.role))})"
    )


def create_header() -> Header:
    with gr.Row(elem_id="header", equal_height=True):
        text = gr.Markdown(elem_id="header-user")
        # A plain link in the same tab: /logout ends the session and shows the sign-in page.
        gr.Button(
            "Sign out", link="/logout", size="sm", scale=0, min_width=90, elem_id="logout-button"
        )
    return Header(text)


def wire(
    ctx: AppContext,
    demo: gr.Blocks,
    state: gr.State,
    header: Header,
    review: ReviewTab,
    downloads: DownloadsTab,
) -> None:
    """On page load: name the user and fill the review queue (reviewers see what waits)."""

    def on_load(session: BrowserSession) -> dict:
        try:
            identify((session,))
        except KNOWN_ERRORS as error:
            return {header.text: problem(error)}
        queue_status = SUBMITTED if session.is_reviewer else "all"
        return {
            state: session,
            header.text: header_markdown(session),
            review.status_filter: queue_status,
            review.queue: gr.Dropdown(
                choices=submission_choices(ctx, None if queue_status == "all" else queue_status),
                value=None,
            ),
            downloads.approved: gr.Dropdown(choices=submission_choices(ctx, APPROVED)),
        }

    outputs = [state, header.text, review.status_filter, review.queue, downloads.approved]
    demo.load(on_load, [state], outputs)
