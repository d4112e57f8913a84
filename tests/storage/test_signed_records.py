"""The signed trail is the authority: rows edited behind the store are not served, and verify
names them (submissions, users' roles and active flags, API keys, the API switches).

Edits are plain SQL on the tables, as an insider with write access to the database would make.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from storage import RecordMismatchError, Store, StoredSubmission, signed_state
from storage.cli import main

from .helpers import independent_hash, make_submission


def approved(store: Store, strength: float = 0.5) -> StoredSubmission:
    draft = make_submission(store, strength=strength)
    sub = store.submit(draft.id, "alice", draft.version)
    return store.review(sub.id, "approve", "ok", "bob", sub.version)


def submitted(store: Store) -> StoredSubmission:
    draft = make_submission(store)
    return store.submit(draft.id, "alice", draft.version)


def mismatch_message(submission_id: int) -> str:
    return f"the stored record of submission {submission_id} does not match the signed audit trail"


def edit(raw, sql: str, **params) -> None:
    with raw.begin() as conn:
        conn.execute(text(sql), params)


def test_an_approved_submission_as_signed_is_served_and_verifies(store: Store, people) -> None:
    sub = approved(store)
    key, _ = store.add_api_key("team")
    served = store.served_submission(key, sub.id)
    assert (served.strength, served.layers) == (0.5, (2, 3))
    result = store.verify()
    assert result.ok and result.message.endswith("the stored records match it"), result.message


def test_status_set_to_approved_behind_the_store_is_a_record_mismatch(
    store: Store, people, raw, db_url, data_dir, capsys
) -> None:
    sub = submitted(store)
    key, _ = store.add_api_key("team")
    edit(raw, "UPDATE submissions SET status = 'approved' WHERE id = :i", i=sub.id)
    with pytest.raises(RecordMismatchError) as refused:
        store.served_submission(key, sub.id)
    assert str(refused.value) == mismatch_message(sub.id)
    assert refused.value.signed_status == "submitted"
    result = store.verify()
    assert (result.ok, result.reason) == (False, "record-mismatch")
    assert (
        f"Submission {sub.id}: status is 'approved' in the database but 'submitted' in the "
        "signed audit trail"
    ) in result.message
    code = main(["verify", "--db", db_url, "--data-dir", str(data_dir)])
    out = capsys.readouterr().out
    assert code == 1 and f"Submission {sub.id}: status" in out


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [("strength", "25", "strength"), ("layers", "'[2]'", "layers")],
)
def test_approved_content_edited_behind_the_store_is_not_served(
    store: Store, people, raw, column: str, value: str, field: str
) -> None:
    sub = approved(store)
    key, _ = store.add_api_key("team")
    store.served_submission(key, sub.id)  # checked once: the trail is now cached for this head
    edit(raw, f"UPDATE submissions SET {column} = {value} WHERE id = :i", i=sub.id)
    with pytest.raises(RecordMismatchError, match=mismatch_message(sub.id)):
        store.served_submission(key, sub.id)
    result = store.verify()
    assert result.reason == "record-mismatch"
    assert f"Submission {sub.id}: {field} is" in result.message


def test_a_swapped_vector_file_hash_is_not_served(store: Store, people, raw) -> None:
    sub = approved(store)
    key, _ = store.add_api_key("team")
    edit(raw, "UPDATE vectors SET content_hash = :h WHERE id = :i", h="f" * 64, i=sub.vector_id)
    with pytest.raises(RecordMismatchError):
        store.served_submission(key, sub.id)
    assert f"Submission {sub.id}: vector sha256 is" in store.verify().message


def test_a_revoked_submission_set_back_to_approved_is_refused(store: Store, people, raw) -> None:
    sub = approved(store)
    sub = store.revoke(sub.id, "withdrawn", "bob", sub.version)
    key, _ = store.add_api_key("team")
    edit(raw, "UPDATE submissions SET status = 'approved' WHERE id = :i", i=sub.id)
    with pytest.raises(RecordMismatchError) as refused:
        store.served_submission(key, sub.id)
    assert refused.value.signed_status == "revoked"
    with pytest.raises(RecordMismatchError):
        store.confirm_approved(store.get_submission(sub.id))  # what a download asks


def test_a_revoke_event_deleted_from_the_chain_does_not_bring_the_approval_back(
    store: Store, people, raw
) -> None:
    """An insider deletes the revoke event and sets the row back to approved."""
    sub = approved(store)
    revoked = store.revoke(sub.id, "withdrawn", "bob", sub.version)
    store.record_event("system", "generate", "prompt", "p", {})  # the head is a later event
    key, _ = store.add_api_key("team")
    (revoke,) = store.audit_events(action="submission.revoke")
    edit(raw, "DELETE FROM audit_events WHERE seq = :s", s=revoke.seq)
    edit(raw, "UPDATE submissions SET status = 'approved' WHERE id = :i", i=revoked.id)
    with pytest.raises(RecordMismatchError) as refused:
        store.served_submission(key, sub.id)
    assert "events after its approval" in refused.value.detail
    assert store.verify().reason == "deleted"


def test_an_approval_event_forged_without_the_key_is_not_trusted(store: Store, people, raw) -> None:
    """The row and a forged approval event agree, but nobody signed the event."""
    sub = submitted(store)
    key, _ = store.add_api_key("team")
    with raw.begin() as conn:
        last = dict(
            conn.execute(text("SELECT * FROM audit_events ORDER BY seq DESC LIMIT 1"))
            .one()
            ._mapping
        )
        forged = dict(last)
        forged.update(
            seq=last["seq"] + 1,
            actor="bob",
            action="submission.approve",
            object_type="submission",
            object_id=str(sub.id),
            details=json.dumps({"content_hash": sub.content_hash}),
            prev_hash=last["hash"],
        )
        forged["hash"] = independent_hash(last["hash"], forged)  # a signature copied: wrong
        columns = ", ".join(forged)
        conn.execute(
            text(
                f"INSERT INTO audit_events ({columns}) VALUES ({', '.join(':' + c for c in forged)})"
            ),
            forged,
        )
        conn.execute(
            text("UPDATE audit_chain_head SET last_seq = :s, last_hash = :h"),
            {"s": forged["seq"], "h": forged["hash"]},
        )
        conn.execute(
            text("UPDATE submissions SET status = 'approved' WHERE id = :i"), {"i": sub.id}
        )
    with pytest.raises(RecordMismatchError) as refused:
        store.served_submission(key, sub.id)
    assert "not signed by the audit key" in refused.value.detail
    assert store.verify().reason == "bad-signature"


def test_an_honest_store_with_every_kind_of_row_verifies(store: Store, people) -> None:
    sub = approved(store)
    store.revoke(sub.id, "withdrawn", "bob", sub.version)
    approved(store)
    store.set_user_active("alice", False, "ada")
    store.set_user_active("alice", True, "ada")
    store.set_user_active("rita", False, "ada")
    store.add_api_key("kept", [sub.id])
    store.add_api_key("gone")
    store.revoke_api_key("gone")
    store.add_api_key("scraper", metrics=True)
    store.set_api_switch("steering", False)
    store.set_api_switch("sampling", True)
    result = store.verify()
    assert result.ok, result.message


@pytest.mark.parametrize(
    ("setup", "sql", "params", "named"),
    [
        (None, "UPDATE users SET role = 'admin' WHERE name = 'alice'", {}, "User 'alice': role"),
        (
            "deactivate",
            "UPDATE users SET active = :t WHERE name = 'rita'",
            {"t": True},
            "User 'rita': active",
        ),
        (
            None,
            "INSERT INTO users (name, role, password_hash, active, created_at) "
            "VALUES ('mallory', 'admin', 'x', :t, '2025-01-01 00:00:00')",
            {"t": True},
            "User 'mallory' is in the database but was never created",
        ),
        (
            "revoke_key",
            "UPDATE api_keys SET active = :t, revoked_at = NULL WHERE name = 'gone'",
            {"t": True},
            "API key 'gone': active",
        ),
        (
            "limit_key",
            "UPDATE api_keys SET submissions = NULL WHERE name = 'kept'",
            {},
            "API key 'kept': submissions",
        ),
        (
            "limit_key",
            "UPDATE api_keys SET metrics = :t WHERE name = 'kept'",
            {"t": True},
            "API key 'kept': metrics",
        ),
        (
            "steering_off",
            "UPDATE api_switches SET enabled = :t WHERE name = 'steering'",
            {"t": True},
            "The API switch 'steering': enabled",
        ),
    ],
)
def test_verify_names_every_other_row_edited_behind_the_store(
    store: Store, people, raw, setup, sql, params, named
) -> None:
    if setup == "deactivate":
        store.set_user_active("rita", False, "ada")
    elif setup == "revoke_key":
        store.add_api_key("gone")
        store.revoke_api_key("gone")
    elif setup == "limit_key":
        store.add_api_key("kept", [approved(store).id])
    elif setup == "steering_off":
        store.set_api_switch("steering", False)
    assert store.verify().ok
    edit(raw, sql, **params)
    result = store.verify()
    assert (result.ok, result.reason, result.first_broken_seq) == (False, "record-mismatch", None)
    assert named in result.message


def test_the_trail_is_read_once_per_chain_head(
    store: Store, people, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests between two events only compare the row with the cached trail."""
    sub = approved(store)
    key, _ = store.add_api_key("team")
    reads: list[int] = []
    real = signed_state.signed_trail

    def counted(s, submission_id, keyring, head):  # noqa: ANN001, ANN202
        reads.append(submission_id)
        return real(s, submission_id, keyring, head)

    monkeypatch.setattr(signed_state, "signed_trail", counted)
    for _ in range(3):
        store.served_submission(key, sub.id)
    assert reads == [sub.id]
    store.record_event("system", "generate", "prompt", "p", {})  # the head moves
    store.served_submission(key, sub.id)
    assert reads == [sub.id, sub.id]
