"""Signing in, and app.py's start-up options and demo accounts."""

from __future__ import annotations

import pytest

import app as app_main
from dashboard.common import UserError
from dashboard.session import BrowserSession
from dashboard.tabs import examples, signin
from storage import Store
from tests.app.support import PASSWORD


def test_login_checks_the_store_and_audits(ctx):
    session = signin.login(ctx, "bob", PASSWORD)
    assert (session.user, session.role, session.is_reviewer) == ("bob", "builder", False)
    assert signin.login(ctx, "rita", PASSWORD).is_reviewer
    with pytest.raises(UserError, match="Wrong user name or password"):
        signin.login(ctx, "bob", "not the password")
    actions = [e.action for e in ctx.store.audit_events()]
    assert actions[-3:] == ["login", "login", "login.failed"]


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
