"""Users: argon2 hashes, roles, logins (all audited), and no clear-text password anywhere."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from sqlalchemy import text

from storage import AlreadyExistsError, PermissionDeniedError, Store, ValidationError

from .conftest import PASSWORD


def test_passwords_are_argon2_hashed_never_stored_or_logged(
    store: Store, people: dict, raw, tmp_path
) -> None:
    with raw.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users WHERE name='alice'")).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    store.check_login("alice", "wrong password!")
    out = tmp_path / "audit.json"
    store.export_audit("json", out)
    assert PASSWORD not in out.read_text() and "wrong password!" not in out.read_text()
    alice = next(u for u in store.list_users() if u.name == "alice")
    assert "password" not in repr(alice).lower() and not hasattr(alice, "password_hash")


def test_check_login(store: Store, people: dict) -> None:
    user = store.check_login("alice", PASSWORD)
    assert user is not None and (user.name, user.role) == ("alice", "builder")
    assert store.check_login("alice", PASSWORD + "x") is None
    assert store.check_login("nobody", PASSWORD) is None
    assert store.check_login("", "") is None
    store.set_user_active("alice", False, "ada")
    assert store.check_login("alice", PASSWORD) is None
    logins = [(e.action, e.object_id, e.details) for e in store.audit_events(object_type="user")]
    secret = (store.data_dir / "audit-signing.hmac").read_bytes().strip()

    def keyed(name: str) -> str:  # HMAC-SHA256 with the secret beside the signing key
        return hmac.new(secret, name.encode(), hashlib.sha256).hexdigest()

    unknown = {"reason": "unknown user"}
    assert logins[-6:] == [
        ("login", "alice", {"rehashed": False}),
        ("login.failed", "alice", {"reason": "wrong password"}),
        ("login.failed", "(unknown)", {**unknown, "name_hmac": keyed("nobody")}),
        ("login.failed", "(unknown)", {**unknown, "name_hmac": keyed("")}),
        ("user.deactivate", "alice", {}),
        ("login.failed", "alice", {"reason": "account deactivated"}),
    ]
    assert {e.actor for e in store.audit_events(action="login.failed")} == {"system"}


def test_weak_hash_is_upgraded_on_login(store: Store, people: dict, raw) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("old password")
    with raw.begin() as conn:
        conn.execute(text("UPDATE users SET password_hash = :h WHERE name = 'bob'"), {"h": weak})
    store._passwords.hasher = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    assert store.check_login("bob", "old password") is not None
    with raw.connect() as conn:
        new = conn.execute(text("SELECT password_hash FROM users WHERE name='bob'")).scalar()
    assert new != weak and "t=2" in new
    assert store.audit_events(action="login")[-1].details == {"rehashed": True}


def test_add_user_rules(store: Store, people: dict) -> None:
    with pytest.raises(AlreadyExistsError, match="already exists"):
        store.add_user("alice", "reviewer", "some password")
    with pytest.raises(ValidationError, match="Unknown role 'owner'"):
        store.add_user("olga", "owner", "some password")
    with pytest.raises(ValidationError, match="too short"):
        store.add_user("olga", "builder", "short")
    with pytest.raises(ValidationError, match="not a valid user name"):
        store.add_user("=cmd|calc", "builder", "some password")
    with pytest.raises(ValidationError, match="reserved"):
        store.add_user("System", "admin", "some password")
    with pytest.raises(PermissionDeniedError, match="only admins can add users"):
        store.add_user("olga", "builder", "some password", actor="bob")
    olga = store.add_user("olga", "reviewer", "some password", actor="ada")
    assert olga.role == "reviewer" and olga.active
    created = store.audit_events(action="user.create", object_id="olga")
    assert [(e.actor, e.details) for e in created] == [("ada", {"role": "reviewer"})]
    assert [u.name for u in store.list_users()] == ["ada", "alice", "bob", "olga", "rita"]
