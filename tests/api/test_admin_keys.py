"""The Admin tab's API keys section, the Audit tab's usage table and the report's usage line,
called as plain handlers on a real temporary store (no browser)."""

from __future__ import annotations

import pytest

from dashboard.common import UserError
from dashboard.context import AppContext
from dashboard.report import usage_html
from dashboard.tabs import admin, audit
from storage import NotFoundError, PermissionDeniedError, Store
from tests.app.support import PASSWORD, login
from tests.storage.helpers import make_submission


@pytest.fixture()
def ctx(tmp_path):
    store = Store.open(data_dir=tmp_path / "data")
    store.add_user("ada", "admin", PASSWORD)
    store.add_user("bob", "builder", PASSWORD)
    yield AppContext(store=store, default_model="tiny", export_dir=tmp_path / "exports")
    store.close()


def test_the_admin_creates_lists_and_revokes_keys_audited_as_the_admin(ctx):
    ada = login(ctx, "ada")
    note = admin.add_api_key(ctx, ada, "team-a", "")
    secret = note.rsplit("`", 2)[-2]
    assert secret.startswith("cvl-") and ctx.store.api_key_for(secret).name == "team-a"
    with pytest.raises(NotFoundError, match="no submission with id 4"):
        admin.add_api_key(ctx, ada, "team-b", "4")
    first, second = make_submission(ctx.store, "bob"), make_submission(ctx.store, "bob")
    admin.add_api_key(ctx, ada, "team-b", f"{second.id}, {first.id}")
    key_a = ctx.store.api_key_for(secret)
    ctx.store.record_api_use(key_a.id, 0)
    ctx.store.record_api_use(key_a.id, 4)
    table = admin.keys_table(ctx, ada)
    assert list(table.columns) == admin.KEY_COLUMNS
    rows = table[["key", "starts with", "state", "submissions", "requests", "created by"]]
    assert rows.values.tolist() == [
        ["team-a", secret[:8] + "...", "active", "any approved", 2, "ada"],
        ["team-b", table.loc[1, "starts with"], "active", f"{first.id}, {second.id}", 0, "ada"],
    ]
    assert secret not in table.to_string()  # the list never shows a whole key
    assert admin.revoke_api_key(ctx, ada, "team-a").startswith("**Revoked** team-a")
    assert admin.keys_table(ctx, ada).loc[0, "state"] == "revoked"
    events = ctx.store.audit_events(object_type="api_key")
    assert [(e.action, e.actor, e.object_id) for e in events] == [
        ("api_key.create", "ada", "team-a"),
        ("api_key.create", "ada", "team-b"),
        ("api_key.revoke", "ada", "team-a"),
    ]


def test_the_admin_creates_a_monitoring_key_that_may_read_metrics(ctx):
    ada = login(ctx, "ada")
    plain = admin.add_api_key(ctx, ada, "caller", "")
    note = admin.add_api_key(ctx, ada, "prometheus", "", metrics=True)
    assert "monitoring figures (/metrics)" in note and "monitoring" not in plain
    secret = note.rsplit("`", 2)[-2]
    assert ctx.store.api_key_for(secret).metrics is True
    assert ctx.store.api_key_for(plain.rsplit("`", 2)[-2]).metrics is False
    table = admin.keys_table(ctx, ada)
    assert table[["key", "monitoring"]].values.tolist() == [["caller", "no"], ["prometheus", "yes"]]
    (created,) = [
        e for e in ctx.store.audit_events(object_type="api_key") if e.object_id == "prometheus"
    ]
    assert created.actor == "ada" and created.details["metrics"] is True


def test_builders_cannot_manage_keys_or_switch_steering(ctx):
    bob = login(ctx, "bob")
    for action in (
        lambda: admin.keys_table(ctx, bob),
        lambda: admin.add_api_key(ctx, bob, "mine", ""),
        lambda: admin.set_switch(ctx, bob, "steering", False),
    ):
        with pytest.raises(UserError, match="only admins"):
            action()
    with pytest.raises(PermissionDeniedError):  # the store refuses too, whoever calls it
        ctx.store.add_api_key("mine", actor="bob")
    assert ctx.store.list_api_keys() == [] and ctx.store.api_switch("steering") is True


def test_the_kill_switch_from_the_dashboard_is_audited_as_the_admin(ctx):
    ada = login(ctx, "ada")
    assert "**off**" in admin.set_switch(ctx, ada, "steering", False)
    assert ctx.store.api_switch("steering") is False
    assert "(kill switch)" in admin.switches_markdown(ctx)
    assert "already" in admin.set_switch(ctx, ada, "steering", False)
    admin.set_switch(ctx, ada, "steering", True)
    events = ctx.store.audit_events(object_type="api")
    assert [(e.action, e.actor) for e in events] == [
        ("api.steering_off", "ada"),
        ("api.steering_on", "ada"),
    ]


def test_audit_tab_and_report_show_use_per_key_and_submission(ctx):
    ada = login(ctx, "ada")
    one, _ = ctx.store.add_api_key("one", actor="ada")
    two, _ = ctx.store.add_api_key("two", actor="ada")
    for key_id, submission in [(one.id, 3), (one.id, 3), (two.id, 3), (two.id, 0), (one.id, 5)]:
        ctx.store.record_api_use(key_id, submission, applied=int(submission == 3))
    ctx.store.record_api_use(two.id, 5, applied=1, not_applied=2)  # three prompts, one request
    table = audit.usage_table(ctx, login(ctx, "bob"))
    counts = {(k, s): n for _, k, s, n, _ in table.values.tolist()}
    assert counts == {
        ("one", 3): 2,
        ("one", 5): 1,
        ("two", 3): 1,
        ("two", 5): 1,
        ("two", "unsteered"): 1,
    }
    words = {(k, s): w for _, k, s, _, w in table.values.tolist()}
    assert words[("one", 3)] == "applied to 2 of 2 requests"
    assert words[("two", 3)] == "applied to 1 of 1 request"
    assert words[("two", 5)] == "applied to 1 of 3 prompts"
    assert words[("one", 5)] == words[("two", "unsteered")] == ""  # nothing counted
    assert usage_html(3, ctx.store.api_usage()).endswith(
        "<p>3 requests so far, by key: one (2), two (1).</p>"
    )
    assert "Not used through the API" in usage_html(9, ctx.store.api_usage())
    assert usage_html(3, None) == ""
    assert ada.user == "ada"
