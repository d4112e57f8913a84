"""Admin tab: the lab's accounts (role, active state, failed sign-ins) and what admins do to them.

Only admins see the tab, and every action checks again, against the store, that the person
clicking is an active admin: a builder or reviewer who reaches a handler anyway is refused before
anything is read or changed. The changes themselves go through the Store (``add_user``,
``set_user_active``, ``reset_password``), which checks the role once more, applies the password
policy and audits each change with the admin as actor. Users are never deleted, only deactivated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from dashboard import views
from dashboard.common import KNOWN_ERRORS, UserError, need_user
from dashboard.context import AppContext
from dashboard.session import BrowserSession
from dashboard.tabs.events import guarded, identify
from storage import StoredUser
from storage.workflow import ROLES

ADMIN_ROLE = "admin"
# Failed sign-ins counted per account in the users table (the newest this many).
FAILED_WINDOW = 10_000


def _account(ctx: AppContext, name: str) -> StoredUser | None:
    return next((u for u in ctx.store.list_users() if u.name == name), None)


def need_admin(ctx: AppContext, session: BrowserSession) -> str:
    """The signed-in admin's name; anyone else (or a deactivated admin) gets a clear refusal.

    The role is read from the store now, not taken from the browser session.
    """
    name = need_user(session)
    user = _account(ctx, name)
    if user is None or not user.active:
        raise UserError(f"The account {name} is not active; ask an admin to reactivate it.")
    if user.role != ADMIN_ROLE:
        raise UserError(f"{name} is a {user.role}; only admins can manage users.")
    return name


def users_table(ctx: AppContext, session: BrowserSession) -> pd.DataFrame:
    """Every account with its role, whether it is active and its failed sign-ins."""
    need_admin(ctx, session)
    failed = ctx.store.failed_logins(ADMIN_ROLE, limit=FAILED_WINDOW)
    return views.users_table(ctx.store.list_users(), failed)


def _existing(ctx: AppContext, name: str | None) -> StoredUser:
    if not name:
        raise UserError("Choose a user first.")
    user = _account(ctx, name)
    if user is None:
        raise UserError(f"There is no user named {name}.")
    return user


def set_active(ctx: AppContext, session: BrowserSession, name: str | None, active: bool) -> str:
    """Deactivate or reactivate ``name``; returns what happened, in words."""
    admin = need_admin(ctx, session)
    user = _existing(ctx, name)
    shown = views.md(user.name)
    if user.active == active:
        return f"{shown} is already {'active' if active else 'deactivated'}; nothing changed."
    if not active and user.name == admin:
        raise UserError("You cannot deactivate your own account; ask another admin.")
    ctx.store.set_user_active(user.name, active, actor=admin)
    if active:
        return f"**Reactivated** {shown}: they can sign in again. Recorded in the audit trail."
    return (
        f"**Deactivated** {shown}: they cannot sign in or act until an admin reactivates them. "
        "Recorded in the audit trail."
    )


def reset_password(
    ctx: AppContext, session: BrowserSession, name: str | None, password: str
) -> str:
    """Give ``name`` a new password (the store's policy applies and its message is shown as is)."""
    admin = need_admin(ctx, session)
    user = _existing(ctx, name)
    ctx.store.reset_password(user.name, password or "", actor=admin)
    return (
        f"**New password set** for {views.md(user.name)}. Tell them in person or by another "
        "safe channel. Recorded in the audit trail (the password itself is never stored)."
    )


def add_user(
    ctx: AppContext, session: BrowserSession, name: str, role: str | None, password: str
) -> str:
    """Create an account (the store checks the name, the role and the password policy)."""
    admin = need_admin(ctx, session)
    if not role:
        raise UserError(f"Choose a role: {', '.join(ROLES)}.")
    user = ctx.store.add_user((name or "").strip(), role, password or "", actor=admin)
    return f"**Added** {views.md(user.name)} as a {user.role}. Recorded in the audit trail."


@dataclass(frozen=True)
class AdminTab:
    """The components other code updates: the tab itself (shown to admins only), its table, the
    user picker and its status line."""

    tab: gr.Tab
    users: gr.Dataframe
    picked: gr.Dropdown
    status: gr.Markdown


def _refreshed(ctx: AppContext, session: BrowserSession, tab: AdminTab, note: str) -> dict:
    """The table and the user picker as the store has them now, with ``note`` in the status."""
    table = users_table(ctx, session)
    names = [str(name) for name in table["name"]]
    return {tab.users: table, tab.picked: gr.Dropdown(choices=names), tab.status: note}


def create_ui(ctx: AppContext, state: gr.State) -> AdminTab:
    """The tab (hidden until the page load shows it to an admin) and its events."""
    with gr.Tab("Admin", id="admin", elem_id="tab-admin", visible=False) as tab:
        gr.Markdown(
            "The lab's accounts. Only admins see this tab. Users are never deleted, only "
            "deactivated; every change here is recorded in the audit trail under your name."
        )
        users = gr.Dataframe(
            interactive=False, headers=views.USER_COLUMNS, elem_id="admin-users", label="Users"
        )
        with gr.Row(equal_height=True):
            picked = gr.Dropdown(choices=[], label="User", elem_id="admin-user", scale=2)
            refresh = gr.Button("Refresh", size="sm", scale=0, elem_id="admin-refresh")
            deactivate = gr.Button("Deactivate", variant="stop", elem_id="admin-deactivate")
            reactivate = gr.Button("Reactivate", elem_id="admin-reactivate")
        with gr.Row(equal_height=True):
            new_password = gr.Textbox(
                label="New password (8+ characters, 12+ for admins)",
                type="password",
                elem_id="admin-new-password",
                scale=2,
            )
            reset = gr.Button("Reset password", elem_id="admin-reset")
        with gr.Accordion("Add a user", open=False, elem_id="admin-add-fold"):
            with gr.Row(equal_height=True):
                name = gr.Textbox(label="Name", elem_id="admin-add-name")
                role = gr.Dropdown(
                    choices=list(ROLES), value=ROLES[0], label="Role", elem_id="admin-add-role"
                )
                password = gr.Textbox(
                    label="Password (8+ characters, 12+ for admins)",
                    type="password",
                    elem_id="admin-add-password",
                )
                add = gr.Button("Add user", variant="primary", elem_id="admin-add")
        status = gr.Markdown(elem_id="admin-status")
    admin = AdminTab(tab, users, picked, status)
    listing = [users, picked, status]

    def do_refresh(session: BrowserSession) -> dict:
        return _refreshed(ctx, session, admin, "")

    refresh.click(guarded(status, do_refresh), [state], listing)

    def do_active(active: bool) -> Callable[[BrowserSession, str | None], dict]:
        def run(session: BrowserSession, who: str | None) -> dict:
            return _refreshed(ctx, session, admin, set_active(ctx, session, who, active))

        return guarded(status, run)

    deactivate.click(do_active(False), [state, picked], listing)
    reactivate.click(do_active(True), [state, picked], listing)

    def do_reset(session: BrowserSession, who: str | None, secret: str) -> dict:
        note = reset_password(ctx, session, who, secret)
        return {**_refreshed(ctx, session, admin, note), new_password: ""}

    reset.click(guarded(status, do_reset), [state, picked, new_password], [*listing, new_password])

    def do_add(session: BrowserSession, who: str, kind: str | None, secret: str) -> dict:
        note = add_user(ctx, session, who, kind, secret)
        return {**_refreshed(ctx, session, admin, note), name: "", password: ""}

    add.click(guarded(status, do_add), [state, name, role, password], [*listing, name, password])
    return admin


def wire(ctx: AppContext, demo: gr.Blocks, state: gr.State, admin: AdminTab) -> None:
    """On page load: show the tab, with its table filled, to admins only."""

    def on_load(session: BrowserSession) -> dict:
        try:
            identify((session,))
            return {admin.tab: gr.Tab(visible=True), **_refreshed(ctx, session, admin, "")}
        except KNOWN_ERRORS:  # not signed in, or not an admin: the tab stays hidden
            return {admin.tab: gr.Tab(visible=False)}

    demo.load(on_load, [state], [admin.tab, admin.users, admin.picked, admin.status])
