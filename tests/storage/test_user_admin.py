"""User administration (CLI and Store), the password policy, and exports carrying the checkpoint."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import PermissionDeniedError, Store, ValidationError
from storage.cli import main
from storage.users import COMMON_PASSWORDS_FILE, common_passwords

from .conftest import FAST_HASHER, PASSWORD
from .helpers import make_submission


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_deactivates_reactivates_and_resets_passwords(
    store: Store, people: dict, db_url: str, data_dir: Path, capsys, monkeypatch
) -> None:
    db = ["--db", db_url, "--data-dir", str(data_dir)]
    assert cli(capsys, "deactivate-user", "bob", *db)[:2] == (0, "bob is deactivated\n")
    assert store.check_login("bob", PASSWORD) is None
    assert cli(capsys, "reactivate-user", "bob", *db)[:2] == (0, "bob is active\n")
    monkeypatch.setenv("STEERING_PASSWORD", "Password2024")
    code, _, err = cli(capsys, "reset-password", "bob", *db)
    assert code == 2 and "list of common passwords" in err
    monkeypatch.setenv("STEERING_PASSWORD", "violet tram ladder")
    assert cli(capsys, "reset-password", "bob", *db)[:2] == (0, "password of bob reset\n")
    assert store.check_login("bob", PASSWORD) is None
    assert store.check_login("bob", "violet tram ladder").name == "bob"
    code, _, err = cli(capsys, "deactivate-user", "nobody", *db)
    assert (code, err) == (2, "error: There is no user named 'nobody'.\n")
    admin_events = [
        (e.actor, e.action, e.object_id)
        for e in store.audit_events(object_type="user")
        if e.action.startswith("user.") and e.object_id == "bob"
    ]
    assert admin_events == [
        ("system", "user.create", "bob"),
        ("system", "user.deactivate", "bob"),
        ("system", "user.activate", "bob"),
        ("system", "user.password_reset", "bob"),
    ]


def test_only_admins_administer_users(store: Store, people: dict) -> None:
    with pytest.raises(PermissionDeniedError, match="only admins can manage users"):
        store.set_user_active("alice", False, "bob")
    with pytest.raises(PermissionDeniedError, match="only admins can reset passwords"):
        store.reset_password("alice", "violet tram ladder", "alice")
    assert store.reset_password("alice", "violet tram ladder", "ada").name == "alice"


@pytest.mark.parametrize(
    ("role", "password", "message"),
    [
        ("builder", "seven77", "at least 8 characters"),
        ("admin", "eleven char", "at least 12 characters for an admin"),
        ("builder", "PassWord2024", "common passwords"),  # case-insensitive whole match
        ("builder", "qwertyuiop", "common passwords"),
        ("admin", "aaaaaaaaaaaa", "common passwords"),
    ],
)
def test_password_policy_refuses_short_and_common_passwords(
    store: Store, role: str, password: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        store.add_user("olga", role, password)


def test_password_policy_has_no_composition_rules(store: Store) -> None:
    assert store.add_user("olga", "builder", "eightchr").name == "olga"  # no digit/symbol needed
    assert store.add_user("omar", "admin", "twelve chars").role == "admin"
    assert store.add_user("otto", "builder", "password2024 but longer").name == "otto"  # not whole


def test_the_shipped_list_is_large_and_never_checked_at_sign_in(store: Store, raw) -> None:
    lines = [ln for ln in COMMON_PASSWORDS_FILE.read_text().splitlines() if not ln.startswith("#")]
    assert len(lines) >= 10_000 and len(common_passwords()) == len(lines)
    assert {"password1", "iloveyou2000", "1q2w3e4r5t"} <= common_passwords()
    store.add_user("olga", "builder", "violet tram ladder")
    with raw.begin() as conn:  # a password set before the policy existed
        conn.execute(
            text("UPDATE users SET password_hash = :h WHERE name = 'olga'"),
            {"h": FAST_HASHER.hash("password1")},
        )
    assert store.check_login("olga", "password1").name == "olga"


def test_both_exports_carry_the_latest_checkpoint(store: Store, people: dict, tmp_path) -> None:
    draft = make_submission(store)
    sub = store.submit(draft.id, "alice", draft.version)
    store.review(sub.id, "reject", "not enough evidence", "bob", sub.version)
    latest = store.latest_checkpoint()
    assert latest is not None
    store.export_audit("csv", tmp_path / "a.csv")
    table = list(csv.reader(io.StringIO((tmp_path / "a.csv").read_text("utf-8-sig"), newline="")))
    assert table[-1] == ["# checkpoint " + latest.to_line()]
    store.export_audit("json", tmp_path / "a.json")
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["checkpoint"] == latest.to_dict()
    # the copy in the export is enough to check the database against later
    copy = tmp_path / "copy.jsonl"
    copy.write_text(json.dumps(doc["checkpoint"]) + "\n")
    assert store.verify(checkpoints_file=copy).ok
