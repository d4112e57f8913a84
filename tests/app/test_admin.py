"""The Admin tab without a browser: its handlers called directly on a real temporary store."""

from __future__ import annotations

import gradio as gr
import pytest

from dashboard.browser_state import BrowserSession
from dashboard.common import UserError
from dashboard.events import problem
from dashboard.tabs import admin
from dashboard.ui import build_ui
from storage import ValidationError
from tests.app.support import PASSWORD, login

NEW_PASSWORD = "violet tractor seventeen"


@pytest.fixture()
def ada(ctx) -> BrowserSession:
    """An admin, signed in."""
    ctx.store.add_user("ada", "admin", PASSWORD)
    return login(ctx, "ada")


def _users(ctx) -> dict[str, tuple[str, bool]]:
    return {u.name: (u.role, u.active) for u in ctx.store.list_users()}


def _last(ctx, action: str):
    return ctx.store.audit_events(action=action)[-1]


def test_users_table_shows_role_active_state_and_failed_signins(ctx, ada):
    assert ctx.store.check_login("bob", "not his password") is None
    assert ctx.store.check_login("bob", "nor this one") is None
    assert ctx.store.check_login("nobody-here", "x") is None  # an unknown name counts for nobody
    table = admin.users_table(ctx, ada)
    assert list(table.columns) == ["name", "role", "active", "failed sign-ins"]
    assert table.values.tolist() == [
        ["ada", "admin", "yes", 0],
        ["bob", "builder", "yes", 2],
        ["rita", "reviewer", "yes", 0],
    ]


def test_the_admin_deactivates_reactivates_resets_and_adds_each_audited_as_the_admin(ctx, ada):
    note = admin.set_active(ctx, ada, "bob", False)
    assert note.startswith("**Deactivated** bob")
    assert _users(ctx)["bob"] == ("builder", False)
    assert ctx.store.check_login("bob", PASSWORD) is None  # a deactivated account cannot sign in
    event = _last(ctx, "user.deactivate")
    assert (event.actor, event.object_type, event.object_id) == ("ada", "user", "bob")
    assert admin.users_table(ctx, ada).set_index("name").loc["bob", "active"] == "no"

    assert admin.set_active(ctx, ada, "bob", True).startswith("**Reactivated** bob")
    assert _users(ctx)["bob"] == ("builder", True)
    assert (_last(ctx, "user.activate").actor, _last(ctx, "user.activate").object_id) == (
        "ada",
        "bob",
    )

    assert admin.reset_password(ctx, ada, "bob", NEW_PASSWORD).startswith("**New password set**")
    assert ctx.store.check_login("bob", PASSWORD) is None
    assert ctx.store.check_login("bob", NEW_PASSWORD) is not None
    reset = _last(ctx, "user.password_reset")
    assert (reset.actor, reset.object_id) == ("ada", "bob")
    assert NEW_PASSWORD not in str(reset.details)

    assert admin.add_user(ctx, ada, " carol ", "reviewer", NEW_PASSWORD).startswith("**Added**")
    assert _users(ctx)["carol"] == ("reviewer", True)
    created = _last(ctx, "user.create")
    assert (created.actor, created.object_id, created.details) == (
        "ada",
        "carol",
        {"role": "reviewer"},
    )
    assert ctx.store.verify().ok


def test_an_unchanged_state_changes_nothing_and_an_admin_cannot_lock_themselves_out(ctx, ada):
    before = len(ctx.store.audit_events())
    assert admin.set_active(ctx, ada, "bob", True) == "bob is already active; nothing changed."
    with pytest.raises(UserError, match="your own account"):
        admin.set_active(ctx, ada, "ada", False)
    with pytest.raises(UserError, match="Choose a user"):
        admin.set_active(ctx, ada, None, False)
    with pytest.raises(UserError, match="no user named ghost"):
        admin.reset_password(ctx, ada, "ghost", NEW_PASSWORD)
    assert len(ctx.store.audit_events()) == before
    assert _users(ctx)["ada"] == ("admin", True)


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_builders_and_reviewers_are_refused_and_nothing_changes(ctx, ada, name):
    session = login(ctx, name)
    users, events = _users(ctx), len(ctx.store.audit_events())
    role = users[name][0]
    calls = [
        lambda: admin.users_table(ctx, session),
        lambda: admin.set_active(ctx, session, "ada", False),
        lambda: admin.set_active(ctx, session, "bob", False),
        lambda: admin.reset_password(ctx, session, "ada", NEW_PASSWORD),
        lambda: admin.add_user(ctx, session, "mallory", "admin", NEW_PASSWORD),
    ]
    for call in calls:
        with pytest.raises(UserError) as refused:
            call()
        assert str(refused.value) == f"{name} is a {role}; only admins can manage users."
    assert _users(ctx) == users
    assert len(ctx.store.audit_events()) == events
    assert ctx.store.check_login("ada", PASSWORD) is not None  # her password was not reset


def test_the_role_is_read_from_the_store_not_from_the_browser_session(ctx, ada):
    forged = BrowserSession(user="bob", role="admin", owner="x")
    with pytest.raises(UserError, match="bob is a builder; only admins"):
        admin.set_active(ctx, forged, "rita", False)
    ctx.store.add_user("grace", "admin", PASSWORD)
    grace = login(ctx, "grace")
    admin.set_active(ctx, ada, "grace", False)
    with pytest.raises(UserError, match="grace is not active"):
        admin.users_table(ctx, grace)
    assert _users(ctx)["rita"] == ("reviewer", True)


def test_the_password_policy_speaks_for_itself(ctx, ada):
    with pytest.raises(ValidationError) as common:
        admin.reset_password(ctx, ada, "bob", "Password1234")
    message = str(common.value)
    assert message.startswith("This password is on the list of common passwords")
    assert problem(common.value) == f"**Problem:** {message}"  # shown as the store wrote it
    assert ctx.store.check_login("bob", PASSWORD) is not None  # unchanged
    with pytest.raises(ValidationError, match="at least 12 characters for an admin"):
        admin.add_user(ctx, ada, "eve", "admin", "elevenchars")
    with pytest.raises(ValidationError, match="common passwords"):
        admin.add_user(ctx, ada, "eve", "builder", "iloveyou123")
    assert "eve" not in _users(ctx)
    assert ctx.store.audit_events(action="user.create", object_id="eve") == []


def test_the_admin_tab_starts_hidden(ctx):
    """Only the page load shows it, to an admin (admin.wire); nobody else ever gets it."""
    demo = build_ui(ctx)
    tabs = [b for b in demo.blocks.values() if isinstance(b, gr.Tab) and b.label == "Admin"]
    assert len(tabs) == 1 and tabs[0].visible is False


def test_a_reset_in_the_admin_tab_ends_every_session_of_that_user(ctx, ada, tmp_path):
    # The web application in-process, signed in through its own /login; the reset goes through
    # the tab's handler. (tests/security/test_session_end.py does the same from the CLI against
    # a real app process, and shows open streams closing.)
    from starlette.testclient import TestClient

    from dashboard.web.server import create_server

    with gr.Blocks() as blocks:
        gr.Textbox()
    server = create_server(ctx.store, blocks, data_dir=tmp_path / "web")
    json_accept = {"accept": "application/json"}
    credentials = {"username": "bob", "password": PASSWORD}
    clients = [TestClient(server, base_url="http://127.0.0.1") for _ in range(3)]
    bob_laptop, bob_phone, rita = clients
    for client, name in ((bob_laptop, "bob"), (bob_phone, "bob"), (rita, "rita")):
        signed = client.post("/login", data={**credentials, "username": name}, headers=json_accept)
        assert signed.status_code == 200
        assert client.get("/config").status_code == 200

    assert admin.reset_password(ctx, ada, "bob", NEW_PASSWORD).startswith("**New password set**")

    assert bob_laptop.get("/config").status_code == 401
    page = bob_phone.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/login?next=/")
    assert rita.get("/config").status_code == 200  # only bob's sessions ended
    again = bob_laptop.post(
        "/login", data={**credentials, "password": NEW_PASSWORD}, headers=json_accept
    )
    assert again.status_code == 200 and bob_laptop.get("/config").status_code == 200
    for client in clients:
        client.close()
