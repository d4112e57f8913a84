"""Identity from the request: every handler's session takes user and role from the sign-in,
and app.py's start-up options and demo accounts."""

from __future__ import annotations

import pytest

import app as app_main
from dashboard import events
from dashboard.browser_state import BrowserSession
from dashboard.common import UserError
from dashboard.tabs import examples
from dashboard.web import NotSignedInError, SignedInUser
from storage import Store


def test_identity_comes_from_the_request_not_the_state(monkeypatch):
    seen = SignedInUser("rita", "reviewer", "sid-1")
    monkeypatch.setattr(events, "current_user", lambda request: seen)
    session = BrowserSession(user="mallory", role="admin")  # whatever the state held
    events.identify((session, "other input"))
    assert (session.user, session.role, session.owner, session.is_reviewer) == (
        "rita",
        "reviewer",
        "sid-1",
        True,
    )


def test_work_from_another_sign_in_is_dropped(monkeypatch):
    monkeypatch.setattr(events, "current_user", lambda r: SignedInUser("bob", "builder", "sid-2"))
    session = BrowserSession(user="rita", role="reviewer", owner="sid-1", example_set_id=7)
    events.identify((session,))
    assert (session.user, session.owner, session.example_set_id) == ("bob", "sid-2", None)


def test_handlers_refuse_without_a_sign_in(ctx, examples_file):
    status = "status"  # guarded only uses it as a dict key
    calls = []
    handler = events.guarded(status, lambda session, path: calls.append(path) or {})
    result = handler(BrowserSession(), examples_file)  # no request: nobody is signed in
    assert calls == [] and "sign" in result[status].lower()
    with pytest.raises(NotSignedInError):
        events.identify((BrowserSession(),))


def test_actions_refuse_without_sign_in(ctx, examples_file):
    with pytest.raises(UserError, match="sign in"):
        examples.upload_examples(ctx, BrowserSession(), examples_file)
    assert ctx.store.list_example_sets() == []


def test_demo_users_only_on_a_local_address(tmp_path):
    with Store.open(data_dir=tmp_path / "remote") as store:
        with pytest.raises(SystemExit, match="python -m storage add-user NAME --role builder"):
            app_main.ensure_users(store, "0.0.0.0")
        assert store.list_users() == []
    with Store.open(data_dir=tmp_path / "local") as store:
        created = app_main.ensure_users(store, "127.0.0.1")
        assert [(name, role) for name, role, _ in created] == [
            ("demo-builder", "builder"),
            ("demo-reviewer", "reviewer"),
        ]
        name, _, password = created[0]
        assert store.check_login(name, password) is not None
        assert app_main.ensure_users(store, "127.0.0.1") is None  # users exist: nothing created


def test_options_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STEERING_HOST", "0.0.0.0")
    monkeypatch.setenv("STEERING_PORT", "9001")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("STEERING_DATA_DIR", "/tmp/lab")
    monkeypatch.setenv("STEERING_MODEL", "some/model")
    args = app_main.build_parser().parse_args([])
    assert (args.host, args.port, args.db, args.data_dir, args.model) == (
        "0.0.0.0",
        9001,
        "sqlite:///x.db",
        "/tmp/lab",
        "some/model",
    )
    assert app_main.build_parser().parse_args(["--port", "8000"]).port == 8000
