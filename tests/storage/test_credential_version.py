"""A user's credential version: one more at each password reset, and only then.

The web layer ends every session begun with an older version (tests/security/test_session_end.py
shows it on a real app); here the store's side: what counts, what does not, and the migration
that gives existing accounts their first version.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from storage import NotFoundError, Store
from storage.coltypes import UTCDateTime, utcnow
from storage.db import create_store_engine
from storage.migrate import HEAD_REVISION, current_revision, upgrade_to

from .conftest import FAST_HASHER, PASSWORD

NEW_PASSWORD = "violet tram ladder"


def test_a_reset_adds_one_and_the_store_reports_it_everywhere(store: Store, people) -> None:
    assert store.get_user("alice").credential_version == 1
    assert store.reset_password("alice", NEW_PASSWORD, "ada").credential_version == 2
    assert store.reset_password("alice", PASSWORD + " again", "system").credential_version == 3
    assert store.get_user("alice").credential_version == 3
    assert {u.name: u.credential_version for u in store.list_users()} == {
        "ada": 1,
        "alice": 3,
        "bob": 1,
        "rita": 1,
    }
    signed_in = store.check_login("alice", PASSWORD + " again")
    assert signed_in is not None and signed_in.credential_version == 3


def test_deactivation_and_a_rehash_at_sign_in_are_not_resets(
    db_url: str, data_dir: Path, people
) -> None:
    # Opened with stronger hashing parameters: alice's sign-in re-hashes her (same) password.
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    with Store.open(db_url, data_dir, password_hasher=stronger) as store:
        user = store.check_login("alice", PASSWORD)
        assert user is not None
        rehashed = store.audit_events(action="login", object_id="alice")[-1].details["rehashed"]
        assert rehashed is True  # the hash did change
        assert user.credential_version == 1
        store.set_user_active("alice", False, "ada")
        store.set_user_active("alice", True, "ada")
        assert store.get_user("alice").credential_version == 1


def test_get_user_names_a_missing_user(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no user named 'nobody'"):
        store.get_user("nobody")


def test_the_migration_gives_existing_accounts_version_1(blank_db_url: str, tmp_path) -> None:
    engine = create_store_engine(blank_db_url)
    upgrade_to(engine, "0004")
    users = sa.table(
        "users",
        sa.column("name", sa.String),
        sa.column("role", sa.String),
        sa.column("password_hash", sa.String),
        sa.column("active", sa.Boolean),
        sa.column("created_at", UTCDateTime),
    )
    with engine.begin() as conn:
        conn.execute(
            users.insert(),
            [
                {
                    "name": "old",
                    "role": "builder",
                    "password_hash": FAST_HASHER.hash(PASSWORD),
                    "active": True,
                    "created_at": utcnow(),
                }
            ],
        )
    engine.dispose()
    with Store.open(blank_db_url, tmp_path / "data", password_hasher=FAST_HASHER) as store:
        assert current_revision(store.engine) == HEAD_REVISION
        assert store.get_user("old").credential_version == 1
        assert store.reset_password("old", NEW_PASSWORD, "system").credential_version == 2
