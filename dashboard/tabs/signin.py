"""The header (who is signed in, a sign-out button) and what the page shows for this user.

Signing in happens on the app's own ``/login`` page (:mod:`dashboard.web`), before the dashboard
loads. When the page loads, this module names the user, shows the tabs their role can use (asked
of :func:`storage.workflow.may_review`: reviewers land on Review, told how many submissions wait,
and do not see the building tabs) and fills every list from the store; the lists are filled again
whenever the user switches tab, so work done in another tab, browser or by another person shows up
without a Refresh button.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

from dashboard import earlier
from dashboard.browser_state import BrowserSession
from dashboard.common import KNOWN_ERRORS, submission_choices
from dashboard.context import AppContext
from dashboard.events import event_request, identify, problem, unchanged
from dashboard.tabs.downloads import DownloadsTab
from dashboard.tabs.review import ReviewTab
from storage.workflow import APPROVED, SUBMITTED


@dataclass(frozen=True)
class Header:
    text: gr.Markdown


@dataclass(frozen=True)
class Lists:
    """The dropdowns filled from the store for the signed-in user."""

    example_sets: gr.Dropdown
    vectors: gr.Dropdown
    evaluations: gr.Dropdown
    review: ReviewTab
    downloads: DownloadsTab


def waiting_text(count: int) -> str:
    if count == 0:
        return "no submissions waiting for review"
    return f"{count} submission{'s' if count != 1 else ''} waiting for review"


def header_markdown(session: BrowserSession, waiting: int | None = None) -> str:
    """Who is signed in; for reviewers, how many submissions wait for a decision."""
    text = (
        f"**Control-vector lab** · signed in as **{html.escape(str(session.user))}** "
        f"({html.escape(str(session.role))})"
    )
    if waiting is not None:
        text += f" · **{waiting_text(waiting)}**"
    return text


def create_header() -> Header:
    with gr.Row(elem_id="header", equal_height=True):
        text = gr.Markdown(elem_id="header-user")
        # A plain link in the same tab: /logout ends the session and shows the sign-in page.
        gr.Button(
            "Sign out", link="/logout", size="sm", scale=0, min_width=110, elem_id="logout-button"
        )
    return Header(text)


# Tabs a page address may ask for (``/?tab=downloads``: the way back from a dead download
# link, dashboard.web.gone_page); the building tabs only for a role that builds.
SHARED_TABS = ("review", "audit", "downloads")
BUILDING_TABS = ("model", "examples", "build", "compare")


def requested_tab() -> str | None:
    """The ``tab`` the page's address asks for, if any."""
    params = getattr(event_request(), "query_params", None) or {}
    return params.get("tab")


def landing_tab(reviewer: bool, requested: str | None) -> str:
    """The tab the page opens on: the one asked for when the role has it, else the role's first
    (Review for reviewers, Model for builders)."""
    allowed = SHARED_TABS if reviewer else BUILDING_TABS + SHARED_TABS
    if requested in allowed:
        return str(requested)
    return "review" if reviewer else "model"


def lists_of(ctx: AppContext, session: BrowserSession, queue_filter: str | None) -> dict:
    """``{"example_sets"|"vectors"|"evaluations"|"review"|"downloads": choices}`` for the user."""
    which = queue_filter or SUBMITTED
    return {
        "example_sets": earlier.example_set_choices(ctx, session),
        "vectors": earlier.vector_choices(ctx, session),
        "evaluations": earlier.evaluation_choices(ctx, session),
        "review": submission_choices(ctx, None if which == "all" else which),
        "downloads": submission_choices(ctx, APPROVED),
    }


def wire(
    ctx: AppContext,
    demo: gr.Blocks,
    tabs: gr.Tabs,
    state: gr.State,
    header: Header,
    builder_tabs: list[gr.Tab],
    lists: Lists,
) -> None:
    """Page load: header, tabs for the role, lists; each tab switch: the lists again."""
    listed = [
        lists.example_sets,
        lists.vectors,
        lists.evaluations,
        lists.review.queue,
        lists.downloads.approved,
    ]

    def refreshed(session: BrowserSession, queue_filter: str | None) -> dict:
        found = lists_of(ctx, session, queue_filter)
        # No value given: a dropdown keeps what the user picked.
        return {
            component: gr.Dropdown(choices=found[key])
            for component, key in zip(
                listed,
                ("example_sets", "vectors", "evaluations", "review", "downloads"),
                strict=True,
            )
        }

    def on_load(session: BrowserSession) -> dict:
        try:
            identify((session,))
        except KNOWN_ERRORS as error:
            return {header.text: problem(error)}
        reviewer = session.is_reviewer
        queue_filter = SUBMITTED if reviewer else "all"
        waiting = len(ctx.store.list_submissions(status=SUBMITTED)) if reviewer else None
        updates = {
            state: session,
            header.text: header_markdown(session, waiting),
            lists.review.status_filter: queue_filter,
            **refreshed(session, queue_filter),
        }
        for tab in builder_tabs:  # reviewers review: the building tabs are not theirs
            updates[tab] = gr.Tab(visible=not reviewer)
        updates[tabs] = gr.Tabs(selected=landing_tab(reviewer, requested_tab()))
        return updates

    load_outputs = [state, header.text, lists.review.status_filter, *listed, *builder_tabs, tabs]
    demo.load(on_load, [state], load_outputs)

    def on_switch(session: BrowserSession, queue_filter: str | None) -> dict:
        try:
            identify((session,))
        except KNOWN_ERRORS:  # signed out meanwhile: the next click says so
            return unchanged([header.text, *listed])
        waiting = len(ctx.store.list_submissions(status=SUBMITTED)) if session.is_reviewer else None
        return {header.text: header_markdown(session, waiting), **refreshed(session, queue_filter)}

    tabs.select(
        on_switch,
        [state, lists.review.status_filter],
        [header.text, *listed],
        show_progress="hidden",
    )
