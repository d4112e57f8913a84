"""Admin tab: the lab's accounts (role, active state, failed sign-ins) and what admins do to them.

Only admins see the tab, and every action checks again, against the store, that the person
clicking is an active admin: a builder or reviewer who reaches a handler anyway is refused before
anything is read or changed. The changes themselves go through the Store (``add_user``,
``set_user_active``, ``reset_password``), which checks the role once more, applies the password
policy and audits each change with the admin as actor. Users are never deleted, only deactivated.

The API keys section lists the serving API's keys with their use, creates a key (its secret is
shown once, here, and never stored) and revokes one; the two switches turn all steering off (the
kill switch) and prompt sampling on. All of it is audited with the admin as actor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from dashboard.browser_state import BrowserSession
from dashboard.common import KNOWN_ERRORS, UserError, need_user
from dashboard.context import AppContext
from dashboard.events import guarded, identify
from dashboard.views.admin import USER_COLUMNS
from dashboard.views.admin import users_table as users_view
from dashboard.views.common import md
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
    return users_view(ctx.store.list_users(), failed)


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
    shown = md(user.name)
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
    """Give ``name`` a new password (the store's policy applies and its message is shown as is).

    Every session ``name`` has open ends with it, at its next request (the sign-in layer sees
    the store's new credential version); their open pages are closed within seconds.
    """
    admin = need_admin(ctx, session)
    user = _existing(ctx, name)
    ctx.store.reset_password(user.name, password or "", actor=admin)
    if user.name == admin:
        return (
            "**New password set** for your own account; you are signed out everywhere, this "
            "page included: sign in again with the new password. Recorded in the audit trail."
        )
    return (
        f"**New password set** for {md(user.name)}; they are signed out everywhere. Tell them "
        "in person or by another safe channel. Recorded in the audit trail (the password "
        "itself is never stored)."
    )


def add_user(
    ctx: AppContext, session: BrowserSession, name: str, role: str | None, password: str
) -> str:
    """Create an account (the store checks the name, the role and the password policy)."""
    admin = need_admin(ctx, session)
    if not role:
        raise UserError(f"Choose a role: {', '.join(ROLES)}.")
    user = ctx.store.add_user((name or "").strip(), role, password or "", actor=admin)
    return f"**Added** {md(user.name)} as a {user.role}. Recorded in the audit trail."


KEY_COLUMNS = [
    "key",
    "starts with",
    "state",
    "submissions",
    "monitoring",
    "requests",
    "created by",
    "created",
]


def keys_table(ctx: AppContext, session: BrowserSession) -> pd.DataFrame:
    """Every API key: its label, first characters, state, limits and requests so far."""
    need_admin(ctx, session)
    totals: dict[str, int] = {}
    for count in ctx.store.api_usage():
        totals[count.key_name] = totals.get(count.key_name, 0) + count.count
    rows = [
        [
            key.name,
            f"{key.prefix}...",
            "active" if key.active else "revoked",
            ", ".join(map(str, key.submissions)) if key.submissions else "any approved",
            "yes" if key.metrics else "no",
            totals.get(key.name, 0),
            key.created_by,
            key.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        ]
        for key in ctx.store.list_api_keys()
    ]
    return pd.DataFrame(rows, columns=KEY_COLUMNS)


def _submission_ids(text: str) -> list[int] | None:
    parts = [p.strip() for p in (text or "").replace(";", ",").split(",") if p.strip()]
    if not parts:
        return None
    if not all(p.isdigit() for p in parts):
        raise UserError("Submissions: write submission ids separated by commas, e.g. 3, 7.")
    return [int(p) for p in parts]


def add_api_key(
    ctx: AppContext, session: BrowserSession, name: str, submissions: str, metrics: bool = False
) -> str:
    """Create a key (``metrics``: it may also read the monitoring figures at ``/metrics``); the
    message shows its secret, which is never shown again."""
    admin = need_admin(ctx, session)
    key, secret = ctx.store.add_api_key(
        (name or "").strip(), _submission_ids(submissions), actor=admin, metrics=bool(metrics)
    )
    limits = ", ".join(map(str, key.submissions)) if key.submissions else "any approved one"
    monitoring = " It may also read the monitoring figures (/metrics)." if key.metrics else ""
    return (
        f"**Created** the API key {md(key.name)} (submissions: {limits}).{monitoring} Copy it "
        f"now, it is not shown again (only its hash is stored):\n\n`{secret}`"
    )


def revoke_api_key(ctx: AppContext, session: BrowserSession, name: str | None) -> str:
    admin = need_admin(ctx, session)
    if not name:
        raise UserError("Choose a key first.")
    key = ctx.store.revoke_api_key(name, actor=admin)
    return f"**Revoked** {md(key.name)}: its next request is refused. Recorded."


def set_switch(ctx: AppContext, session: BrowserSession, name: str, enabled: bool) -> str:
    """The kill switch (``steering``) or prompt sampling (``sampling``), audited."""
    admin = need_admin(ctx, session)
    changed = ctx.store.set_api_switch(name, enabled, actor=admin)
    words = {
        ("steering", True): "Steering is **on**: approved submissions are served.",
        ("steering", False): "Steering is **off**: steered requests get 503, unsteered still work.",
        ("sampling", True): "Sampling is **on**: API prompts and answers are kept.",
        ("sampling", False): "Sampling is **off**: no prompt or answer is kept.",
    }[(name, bool(enabled))]
    return words + (" Recorded in the audit trail." if changed else " (It already was.)")


def switches_markdown(ctx: AppContext) -> str:
    steering = "on" if ctx.store.api_switch("steering") else "**off** (kill switch)"
    sampling = "on" if ctx.store.api_switch("sampling") else "off"
    return f"Steering through the API: {steering} · prompt sampling: {sampling}"


@dataclass(frozen=True)
class AdminTab:
    """The components other code updates: the tab itself (shown to admins only), its table, the
    user picker and its status line."""

    tab: gr.Tab
    users: gr.Dataframe
    picked: gr.Dropdown
    status: gr.Markdown
    keys: gr.Dataframe


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
            interactive=False, headers=USER_COLUMNS, elem_id="admin-users", label="Users"
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
        keys = _keys_ui(ctx, state)
    admin = AdminTab(tab, users, picked, status, keys)
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


def _keys_ui(ctx: AppContext, state: gr.State) -> gr.Dataframe:
    """The API keys section: the key list, create, revoke, and the two switches."""
    gr.Markdown("### API keys")
    keys = gr.Dataframe(
        interactive=False, headers=KEY_COLUMNS, elem_id="admin-keys", label="API keys"
    )
    switches = gr.Markdown(elem_id="admin-switches")
    with gr.Row(equal_height=True):
        key_name = gr.Textbox(label="Key name (the caller)", elem_id="admin-key-name")
        limits = gr.Textbox(
            label="Submissions (ids, empty: any approved)", elem_id="admin-key-submissions"
        )
        monitoring = gr.Checkbox(
            label="May also read the monitoring figures (/metrics)", elem_id="admin-key-metrics"
        )
        create = gr.Button("Create key", variant="primary", elem_id="admin-key-create")
        revoke = gr.Button("Revoke key", variant="stop", elem_id="admin-key-revoke")
    with gr.Row(equal_height=True):
        off = gr.Button("Switch steering off", variant="stop", elem_id="admin-steering-off")
        on = gr.Button("Switch steering on", elem_id="admin-steering-on")
        sample_on = gr.Button("Sampling on", elem_id="admin-sampling-on")
        sample_off = gr.Button("Sampling off", elem_id="admin-sampling-off")
    note = gr.Markdown(elem_id="admin-key-status")
    outputs = [keys, switches, note]

    def shown(session: BrowserSession, message: str) -> dict:
        return {keys: keys_table(ctx, session), switches: switches_markdown(ctx), note: message}

    def do_create(session: BrowserSession, name: str, ids: str, metrics: bool) -> dict:
        return shown(session, add_api_key(ctx, session, name, ids, metrics))

    def do_revoke(session: BrowserSession, name: str) -> dict:
        return shown(session, revoke_api_key(ctx, session, name))

    def switcher(name: str, enabled: bool) -> Callable[[BrowserSession], dict]:
        return guarded(
            note, lambda session: shown(session, set_switch(ctx, session, name, enabled))
        )

    create.click(guarded(note, do_create), [state, key_name, limits, monitoring], outputs)
    revoke.click(guarded(note, do_revoke), [state, key_name], outputs)
    off.click(switcher("steering", False), [state], outputs)
    on.click(switcher("steering", True), [state], outputs)
    sample_on.click(switcher("sampling", True), [state], outputs)
    sample_off.click(switcher("sampling", False), [state], outputs)
    return keys


def wire(ctx: AppContext, demo: gr.Blocks, state: gr.State, admin: AdminTab) -> None:
    """On page load: show the tab, with its table filled, to admins only."""

    def on_load(session: BrowserSession) -> dict:
        try:
            identify((session,))
            return {
                admin.tab: gr.Tab(visible=True),
                **_refreshed(ctx, session, admin, ""),
                admin.keys: keys_table(ctx, session),
            }
        except KNOWN_ERRORS:  # not signed in, or not an admin: the tab stays hidden
            return {admin.tab: gr.Tab(visible=False)}

    demo.load(on_load, [state], [admin.tab, admin.users, admin.picked, admin.status, admin.keys])
