"""The Audit tab and the report's checkpoint, without a browser, on a real temporary store."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from dashboard.common import UserError
from dashboard.report import evaluation_report_html
from dashboard.tabs import audit
from dashboard.views.audit import CAUGHT_ROWS, FAILED_SIGNIN_COLUMNS, caught_markdown
from storage import PermissionDeniedError, signing
from tests.app.support import PASSWORD, approved, login

STORAGE_README = Path(__file__).resolve().parents[2] / "storage" / "README.md"
TYPED_NAME = "my-secret-pa55word"  # typed into the name field by mistake


def _log_lines(ctx) -> list[dict]:
    """The checkpoint log, read as the file it is (not through the store)."""
    raw = ctx.store.checkpoint_path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in raw if line.strip()]


def _fail_two_signins(ctx) -> None:
    assert ctx.store.check_login("bob", "not his password") is None
    assert ctx.store.check_login(TYPED_NAME, "whatever") is None


# ------------------------------------------------------------------------------ failed sign-ins


def test_failed_signins_are_shown_to_a_reviewer_and_hidden_from_a_builder(ctx):
    _fail_two_signins(ctx)
    rita, bob = login(ctx, "rita"), login(ctx, "bob")
    table = audit.failed_signins(ctx, rita)
    assert list(table.columns) == FAILED_SIGNIN_COLUMNS
    # Newest first: the unknown name, then bob's wrong password.
    # HMAC-SHA256 of the typed name with the secret beside the key, computed here.
    secret = signing.login_secret(ctx.store.key_paths)
    keyed = hmac.new(secret, TYPED_NAME.encode("utf-8"), hashlib.sha256).hexdigest()
    assert table["account"].tolist() == [f"unknown name (keyed hash {keyed[:12]}…)", "bob"]
    assert table["reason"].tolist() == ["unknown user", "wrong password"]
    assert TYPED_NAME not in table.to_csv()
    reviewer_view = audit.audit_table(ctx, rita, action="login.failed")
    assert len(reviewer_view) == 2

    with pytest.raises(PermissionDeniedError, match="Only reviewers and admins"):
        audit.failed_signins(ctx, bob)
    assert len(audit.audit_table(ctx, bob, action="login.failed")) == 0
    assert "login.failed" not in set(audit.audit_table(ctx, bob)["action"])


# ------------------------------------------------------------------------------ verify


def test_verify_says_intact_then_names_an_edit_made_in_the_database(ctx):
    rita = login(ctx, "rita")
    unanchored = audit.verify_audit(ctx, rita)
    assert unanchored.ok and unanchored.summary.endswith(
        "no checkpoint kept outside the database has been written yet to compare with."
    )
    assert "| latest checkpoint | none written yet |" in unanchored.details
    checkpoint = ctx.store.checkpoint()
    view = audit.verify_audit(ctx, rita)
    total = len(ctx.store.audit_events())
    assert view.ok
    assert view.summary.startswith(f"**Intact.** All {total} audit entries check out")
    assert view.summary.endswith("matches the 1 signed checkpoint kept outside the database.")
    assert f"entry {total}, hash `{ctx.store.audit_events()[-1].hash}`" in view.details
    assert f"| latest checkpoint: head hash | `{checkpoint.head}` |" in view.details
    assert f"| signed when written | {total} |" in view.details

    with ctx.store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"))
    damaged = audit.verify_audit(ctx, rita)
    assert not damaged.ok
    assert damaged.summary.startswith(
        "**Tampered with.** The first problem is at entry 2: an entry was changed after it was "
        "written."
    )
    assert damaged.summary.endswith("The 1 entry before it checks out.")
    assert "| kind of damage | `edited` |" in damaged.details
    assert "| latest checkpoint | not read (the check stopped at the first problem) |" in (
        damaged.details
    )


def test_a_rewrite_with_recomputed_hashes_is_named_a_missing_signature(ctx):
    rita = login(ctx, "rita")
    last = ctx.store.audit_events()[-1]
    with ctx.store.engine.connect() as conn:
        stored_ts = conn.execute(
            text("SELECT ts FROM audit_events WHERE seq = :s"), {"s": last.seq}
        ).scalar_one()
    # The README's hash rule, recomputed here: what an insider without the key can do.
    body = {
        "seq": last.seq,
        "ts": stored_ts,
        "actor": "mallory",
        "action": last.action,
        "object_type": last.object_type,
        "object_id": last.object_id,
        "details": last.details,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    forged = hashlib.sha256((last.prev_hash + canonical).encode("utf-8")).hexdigest()
    with ctx.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET actor = 'mallory', hash = :h WHERE seq = :s"),
            {"h": forged, "s": last.seq},
        )
        conn.execute(text("UPDATE audit_chain_head SET last_hash = :h"), {"h": forged})
    view = audit.verify_audit(ctx, rita)
    assert view.summary.startswith(
        f"**Tampered with.** The first problem is at entry {last.seq}: an entry or a checkpoint "
        "does not carry the lab's signature"
    )
    assert "| kind of damage | `bad-signature` |" in view.details


def test_a_missing_public_key_is_said_plainly(ctx):
    rita = login(ctx, "rita")
    ctx.store.key_paths.keyring.unlink()
    view = audit.verify_audit(ctx, rita)
    assert not view.ok
    assert view.summary.startswith("**Cannot check the signatures.** No public key")
    assert "nobody can tell whether the audit trail is intact" in view.summary


def test_what_is_caught_follows_the_storage_readme_row_for_row():
    section = STORAGE_README.read_text(encoding="utf-8").split("## What is caught", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # no header
    readme_verdicts = [re.split(r"[\s:(]", row.split("|")[3].strip())[0] for row in rows]
    tab_verdicts = [re.split(r"[\s:(]", row[2])[0] for row in CAUGHT_ROWS]
    expected = ["yes", "only", "refused", "up", "yes", "only", "yes", "only", "yes"]
    assert readme_verdicts == tab_verdicts == expected
    table = caught_markdown().splitlines()
    assert len(table) == 2 + len(rows)


# ------------------------------------------------------------------------------ report


def test_the_report_carries_the_latest_checkpoint(ctx, examples_file):
    sid = approved(ctx, examples_file)
    newest = _log_lines(ctx)[-1]
    # The approval wrote this checkpoint: it names the approve event and its hash.
    approve = ctx.store.audit_events(action="submission.approve")[-1]
    assert (newest["seq"], newest["head"]) == (approve.seq, approve.hash)

    sub = ctx.store.get_submission(sid)
    page = evaluation_report_html(
        sub,
        ctx.store.get_vector(sub.vector_id),
        ctx.store.get_evaluation(sub.evaluation_id),
        checkpoint=ctx.store.latest_checkpoint(),
    )
    assert "<h2>Audit checkpoint</h2>" in page
    assert f"<td>head hash</td><td>{newest['head']}</td>" in page
    assert f"<td>entries covered</td><td>{newest['seq']}</td>" in page
    assert f"<td>signature</td><td>{newest['sig']}</td>" in page
    assert "lets anyone detect a later rewrite of the trail" in page

    bare = evaluation_report_html(
        sub, ctx.store.get_vector(sub.vector_id), ctx.store.get_evaluation(sub.evaluation_id)
    )
    assert "carries no checkpoint" in bare and newest["head"] not in bare


# ------------------------------------------------------------------------------ export


def test_a_builder_may_not_export_the_audit_trail(ctx):
    bob = login(ctx, "bob")
    before = len(ctx.store.audit_events())
    for fmt in ("csv", "json"):
        with pytest.raises(UserError, match="only reviewers and admins can export"):
            audit.export_audit(ctx, bob, fmt)
    assert len(ctx.store.audit_events()) == before
    assert ctx.store.audit_events(action="audit.export") == []
    assert not any(ctx.export_dir.rglob("audit-trail.*"))


def test_a_reviewers_export_carries_the_latest_checkpoint(ctx):
    _fail_two_signins(ctx)
    rita = login(ctx, "rita")
    ctx.store.checkpoint()
    newest = _log_lines(ctx)[-1]

    csv_path = audit.export_audit(ctx, rita, "csv")
    with csv_path.open(newline="", encoding="utf-8-sig") as file:
        rows = list(csv.reader(file))
    assert rows[-1][0] == "# checkpoint " + json.dumps(
        newest, sort_keys=True, separators=(",", ":")
    )
    actions = [row[3] for row in rows[1:-1]]
    assert actions.count("login.failed") == 2  # what a reviewer may see, a builder may not

    json_path = audit.export_audit(ctx, rita, "json")
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc["checkpoint"] == newest
    exports = ctx.store.audit_events(action="audit.export")
    assert [(e.actor, e.details["format"]) for e in exports] == [("rita", "csv"), ("rita", "json")]
    assert exports[0].details["checkpoint_seq"] == newest["seq"]
    with pytest.raises(UserError, match="Choose one of csv, json"):
        audit.export_audit(ctx, rita, "xlsx")


def test_the_admin_reads_the_trail_like_a_reviewer(ctx):
    ctx.store.add_user("ada", "admin", PASSWORD)
    _fail_two_signins(ctx)
    ada = login(ctx, "ada")
    assert len(audit.failed_signins(ctx, ada)) == 2
    assert audit.export_audit(ctx, ada, "csv").is_file()
