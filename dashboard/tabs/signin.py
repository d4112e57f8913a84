"""Sign-in panel and the header with the signed-in user and the sign-out button."""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

from dashboard.common import KNOWN_ERRORS, UserError, submission_choices
from dashboard.context import AppContext
from dashboard.session import BrowserSession
from dashboard.tabs.downloads import DownloadsTab
from dashboard.tabs.events import problem
from dashboard.tabs.review import ReviewTab
from storage.workflow import APPROVED, SUBMITTED


def login(ctx: AppContext, name: str, password: str) -> BrowserSession:
    """A new session for the user, or UserError; the store audits successes and failures."""
    name = (name or "").strip()
    if not name or not password:
        raise UserError("Enter your user name and password.")
    user = ctx.store.check_login(name, password)
    if user is None:
        raise UserError("Wrong user name or password (or the account is deactivated).")
    return BrowserSession(user=user.name, role=user.role, model_spec=ctx.default_model)


@dataclass(frozen=True)
class LoginPanel:
    panel: gr.Column
    user: gr.Textbox
    password: gr.Textbox
    button: gr.Button
    status: gr.Markdown


@dataclass(frozen=True)
class Header:
    text: gr.Markdown
    logout: gr.Button


def create_login_panel(*, demo_users: bool) -> LoginPanel:
    with gr.Column(visible=True, elem_id="login-panel") as panel:
        gr.Markdown(
            "# Control-vector lab\nBuild a control vector that nudges a language model "
            "towards careful reasoning, check on held-out questions whether it helps, and "
            "have a reviewer sign it off.\n\n**Sign in to start.**"
            + (
                "\n\nDemo mode: the demo accounts and their passwords are printed in the "
                "console where the app was started."
                if demo_users
                else ""
            )
        )
        user = gr.Textbox(label="User name", elem_id="login-user", max_lines=1)
        password = gr.Textbox(
            label="Password", type="password", elem_id="login-password", max_lines=1
        )
        button = gr.Button("Sign in", variant="primary", elem_id="login-button")
        status = gr.Markdown(elem_id="login-status")
    return LoginPanel(panel, user, password, button, status)


def create_header() -> Header:
    with gr.Row(elem_id="header", equal_height=True):
        text = gr.Markdown(elem_id="header-user")
        logout = gr.Button("Sign out", size="sm", scale=0, min_width=90, elem_id="logout-button")
    return Header(text, logout)


def wire(
    ctx: AppContext,
    state: gr.State,
    panel: LoginPanel,
    header: Header,
    main_panel: gr.Column,
    review: ReviewTab,
    downloads: DownloadsTab,
) -> None:
    """Signing in shows the tabs and fills the review queue (reviewers see what waits for them)."""

    def do_login(name: str, password: str) -> dict:
        try:
            session = login(ctx, name, password)
        except KNOWN_ERRORS as error:
            return {panel.status: problem(error), panel.password: ""}
        queue_status = SUBMITTED if session.is_reviewer else "all"
        return {
            state: session,
            panel.panel: gr.Column(visible=False),
            main_panel: gr.Column(visible=True),
            panel.status: "",
            panel.password: "",
            header.text: f"**Control-vector lab** · signed in as "
            f"**{html.escape(str(session.user))}** ({session.role})",
            review.status_filter: queue_status,
            review.queue: gr.Dropdown(
                choices=submission_choices(ctx, None if queue_status == "all" else queue_status),
                value=None,
            ),
            downloads.approved: gr.Dropdown(choices=submission_choices(ctx, APPROVED)),
        }

    outputs = [
        state,
        panel.panel,
        main_panel,
        panel.status,
        panel.password,
        header.text,
        review.status_filter,
        review.queue,
        downloads.approved,
    ]
    panel.button.click(do_login, [panel.user, panel.password], outputs)
    panel.password.submit(do_login, [panel.user, panel.password], outputs)

    def do_logout() -> dict:
        return {
            state: BrowserSession(),
            panel.panel: gr.Column(visible=True),
            main_panel: gr.Column(visible=False),
            panel.user: "",
        }

    header.logout.click(do_logout, None, [state, panel.panel, main_panel, panel.user])
