"""The signed audit trail against each attacker of the README's table, and the key's life cycle.

Attackers are played with plain SQL and the ``cryptography`` package directly, so the tests do not
trust the code under test to forge or to hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from storage import PermissionDeniedError, Store
from storage.cli import main
from storage.signing import SigningKeyError

from .conftest import FAST_HASHER
from .helpers import independent_hash, make_submission
from .workers import open_at_once


def rows(raw) -> list[dict]:
    with raw.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_events ORDER BY seq"))
        ]


def fill(store: Store, n: int) -> None:
    for i in range(n):
        store.record_event("system", "generate", "prompt", f"p{i}", {"i": i})


def sign_with(key_file: Path, digest: str) -> str:
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    return base64.b64encode(key.sign(digest.encode("ascii"))).decode()


def canonical(doc: object) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rewrite_from(raw, seq: int, new_actor: str, key_file: Path | None = None) -> None:
    """Change event ``seq``'s actor and recompute every later hash and the head, as an insider
    with database access would; with ``key_file`` also re-sign them (an insider with the key),
    and make the chain's own ``audit.checkpoint`` events name the rewritten heads."""
    stored = rows(raw)
    prev = stored[seq - 2]["hash"] if seq > 1 else "0" * 64
    renamed: dict[str, str] = {}
    with raw.begin() as conn:
        for row in stored[seq - 1 :]:
            if row["seq"] == seq:
                row["actor"] = new_actor
            if key_file and row["action"] == "audit.checkpoint":
                details = json.loads(row["details"])
                details["head"] = renamed.get(details["head"], details["head"])
                row["details"] = canonical(details)
            old = row["hash"]
            row["prev_hash"] = prev
            row["hash"] = independent_hash(prev, row)
            renamed[old] = row["hash"]
            row["sig"] = sign_with(key_file, row["hash"]) if key_file else row["sig"]
            conn.execute(
                text(
                    "UPDATE audit_events SET actor=:actor, details=:details, "
                    "prev_hash=:prev_hash, hash=:hash, sig=:sig WHERE seq=:seq"
                ),
                row,
            )
            prev = row["hash"]
        conn.execute(text("UPDATE audit_chain_head SET last_hash=:h"), {"h": prev})


def forge_log(raw, key_file: Path, path: Path) -> None:
    """Write a fresh linked log for every checkpoint the (rewritten) chain records, signed with
    the key, as an insider holding the database, the key and the log would."""
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    prev, lines = "0" * 64, []
    for row in rows(raw):
        if row["action"] != "audit.checkpoint":
            continue
        details = json.loads(row["details"])
        signed = {"seq": details["seq"], "head": details["head"], "time": details["time"]}
        signed["prev"] = prev
        sig = base64.b64encode(key.sign(canonical(signed).encode())).decode()
        line = canonical(signed | {"sig": sig})
        lines.append(line)
        prev = hashlib.sha256(line.encode()).hexdigest()
    path.write_text("".join(line + "\n" for line in lines))


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- what each attacker can do


def test_db_only_rewrite_with_recomputed_hashes_is_a_bad_signature(store: Store, raw) -> None:
    fill(store, 5)
    rewrite_from(raw, 2, "mallory")
    result = store.verify()
    assert (result.ok, result.reason, result.first_broken_seq) == (False, "bad-signature", 2)
    assert "without the signing key" in result.message


def test_db_only_forged_event_signed_with_another_key_is_caught(
    store: Store, raw, tmp_path
) -> None:
    fill(store, 3)
    own = tmp_path / "mallory.key"
    own.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    rewrite_from(raw, 3, "mallory", key_file=own)
    result = store.verify()
    assert (result.reason, result.first_broken_seq) == ("bad-signature", 3)


def test_db_and_key_rewrite_is_caught_up_to_the_last_checkpoint(
    store: Store, raw, data_dir: Path, tmp_path: Path
) -> None:
    fill(store, 4)
    store.checkpoint()  # at event 4
    fill(store, 2)
    rewrite_from(raw, 3, "mallory", key_file=data_dir / "audit-signing.key")
    result = store.verify()
    assert (result.ok, result.reason, result.first_broken_seq) == (False, "edited", 4)
    assert "differs from the checkpoint" in result.message
    # without the log the re-signed history looks intact: that is exactly the documented limit
    empty = tmp_path / "no-checkpoints.jsonl"
    empty.write_text("")
    assert store.verify(checkpoints_file=empty).ok
    # and a rewrite *after* the last checkpoint is not caught by it either
    rewrite_from(raw, 6, "mallory", key_file=data_dir / "audit-signing.key")
    assert store.verify().first_broken_seq == 4  # still only the earlier damage


def test_everything_on_the_machine_is_caught_only_by_a_copy_kept_elsewhere(
    store: Store, raw, data_dir: Path, tmp_path: Path
) -> None:
    fill(store, 3)
    copy = tmp_path / "report-checkpoint.jsonl"
    copy.write_text(store.checkpoint().to_line() + "\n")  # e.g. from a report sent away
    rewrite_from(raw, 2, "mallory", key_file=data_dir / "audit-signing.key")
    # the attacker also rewrites the local log, re-signed and linked like the real one
    forge_log(raw, data_dir / "audit-signing.key", store.checkpoint_path)
    assert store.verify().ok
    result = store.verify(checkpoints_file=copy)
    assert (result.ok, result.reason) == (False, "edited")


def test_truncation_after_a_checkpoint_is_caught_only_against_the_log(
    store: Store, raw, tmp_path: Path
) -> None:
    fill(store, 6)
    cp = store.checkpoint()
    assert cp.seq == 6
    stored = rows(raw)
    with raw.begin() as conn:  # drop the newest two events and make the head agree
        conn.execute(text("DELETE FROM audit_events WHERE seq > 4"))
        conn.execute(
            text("UPDATE audit_chain_head SET last_seq = 4, last_hash = :h"),
            {"h": stored[3]["hash"]},
        )
    result = store.verify()
    assert (result.ok, result.reason, result.first_broken_seq) == (False, "truncated", 5)
    assert "Events 5 to 6 were removed" in result.message
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert store.verify(checkpoints_file=empty).ok  # the database alone cannot tell


def test_a_tampered_checkpoint_is_a_bad_signature(store: Store) -> None:
    fill(store, 2)
    cp = store.checkpoint()
    doc = cp.to_dict() | {"seq": 1}
    with store.checkpoint_path.open("a") as fh:
        fh.write(json.dumps(doc) + "\n")
    result = store.verify()
    assert (result.ok, result.reason) == (False, "bad-signature")
    assert "checkpoint log was tampered with" in result.message


def test_checkpoints_follow_decisions_and_every_hundred_events(store: Store, people: dict) -> None:
    draft = make_submission(store)
    sub = store.submit(draft.id, "alice", draft.version)
    assert store.latest_checkpoint() is None
    store.review(sub.id, "approve", "ok", "bob", sub.version)
    after_approve = store.latest_checkpoint()
    # the checkpoint names the approval; the chain records it in the next event
    head = store.verify().head_seq
    assert after_approve is not None and after_approve.seq == head - 1
    (recorded,) = store.audit_events(action="audit.checkpoint")
    assert recorded.seq == head
    assert recorded.details["seq"] == after_approve.seq
    assert recorded.details["head"] == after_approve.head
    fill(store, 100 - head)
    assert store.latest_checkpoint().seq == 100
    lines = store.checkpoint_path.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [after_approve.seq, 100]
    # the checkpoint's own event (101) did not start another one
    assert store.verify().head_seq == 101


# ---------------------------------------------------------------- keys


def test_key_files_are_made_once_with_private_permissions(store: Store, data_dir: Path) -> None:
    key = data_dir / "audit-signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    keyring = json.loads((data_dir / "audit-signing.pub").read_text())
    assert [k["first_seq"] for k in keyring["keys"]] == [1]
    fill(store, 1)
    assert rows_key_ids(store) == {keyring["keys"][0]["key_id"]}


def rows_key_ids(store: Store) -> set[str]:
    return {e.key_id for e in store.audit_events()}


def test_four_processes_creating_the_key_at_once_end_with_one_key(
    db_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "shared"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(4)
        with ctx.Pool(4) as pool:
            key_ids = pool.starmap(open_at_once, [(db_url, str(data), barrier)] * 4)
    assert len(set(key_ids)) == 1
    assert sorted(p.name for p in data.iterdir() if "audit-signing" in p.name) == [
        "audit-signing.key",
        "audit-signing.pub",
    ]
    with Store.open(db_url, data) as store:
        assert store.verify().ok and store.verify().count == 4


def test_a_missing_key_with_a_signed_chain_is_an_error_never_a_new_key(
    store: Store, db_url: str, data_dir: Path, capsys
) -> None:
    fill(store, 1)
    key = data_dir / "audit-signing.key"
    key.unlink()
    with pytest.raises(SigningKeyError, match="is missing"):
        Store.open(db_url, data_dir)
    assert not key.exists()
    code, _, err = cli(capsys, "checkpoint", "--db", db_url, "--data-dir", str(data_dir))
    assert code == 2 and "is missing" in err and len(err.splitlines()) == 1
    # verifying needs only the public keyring
    assert cli(capsys, "verify", "--db", db_url, "--data-dir", str(data_dir))[0] == 0


def test_a_wrong_key_is_exit_2_with_a_clear_message(
    store: Store, db_url: str, data_dir: Path, tmp_path: Path, capsys
) -> None:
    fill(store, 2)
    other = tmp_path / "other.pub"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    db = ["--db", db_url, "--data-dir", str(data_dir)]
    code, out, err = cli(capsys, "verify", "--public-key", str(other), *db)
    assert (code, out) == (2, "") and "did not sign this audit trail" in err
    code, _, err = cli(capsys, "verify", "--public-key", str(tmp_path / "none.pub"), *db)
    assert code == 2 and "There is no public key file" in err
    # a different private key swapped in for the real one is refused when the store opens
    (data_dir / "audit-signing.key").write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    code, _, err = cli(capsys, "checkpoint", *db)
    assert code == 2 and "is not the current key of the keyring" in err


def test_key_rotation_keeps_old_events_verifiable(
    store: Store, db_url: str, data_dir: Path, capsys
) -> None:
    fill(store, 3)
    (data_dir / "audit-signing.key").unlink()  # lost
    code, out, _ = cli(capsys, "rotate-key", "--db", db_url, "--data-dir", str(data_dir))
    assert code == 0 and out.startswith("audit signing key rotated: ")
    old, new = out.split(": ", 1)[1].splitlines()[0].split(" -> ")
    with Store.open(db_url, data_dir, password_hasher=FAST_HASHER) as reopened:
        fill(reopened, 2)
        result = reopened.verify()
        rotation = reopened.audit_events(action="key.rotate")[0]
    assert result.ok and result.count == 6, result.message
    assert rotation.details == {"old_key": old, "new_key": new} and rotation.key_id == new
    keyring = json.loads((data_dir / "audit-signing.pub").read_text())
    assert [(k["key_id"], k["first_seq"]) for k in keyring["keys"]] == [(old, 1), (new, 4)]
    assert [e.key_id for e in store.audit_events()] == [old] * 3 + [new] * 3


def test_unknown_sign_in_names_are_keyed_hashes_hidden_from_builders(
    store: Store, people: dict, raw
) -> None:
    typed = "my secret password typed as a name"
    assert store.check_login(typed, "x", client="10.0.0.7") is None
    assert store.check_login("alice", "wrong!", client="10.0.0.8") is None
    with raw.connect() as conn:
        dump = " ".join(str(v) for r in conn.execute(text("SELECT * FROM audit_events")) for v in r)
    assert typed not in dump
    failed = store.failed_logins("reviewer")
    assert [(e.object_id, e.details["reason"], e.details["client"]) for e in failed] == [
        ("alice", "wrong password", "10.0.0.8"),
        ("(unknown)", "unknown user", "10.0.0.7"),
    ]
    assert len(failed[1].details["name_hmac"]) == 64
    assert len(store.failed_logins("admin")) == 2
    with pytest.raises(PermissionDeniedError, match="Only reviewers and admins"):
        store.failed_logins("builder")
    assert "login.failed" not in {e.action for e in store.audit_events(viewer_role="builder")}
    assert "login.failed" in {e.action for e in store.audit_events(viewer_role="reviewer")}
