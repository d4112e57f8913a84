"""The checkpoint log cannot go missing quietly: every checkpoint is also an ``audit.checkpoint``
event, log lines link, and a witness file (``STEERING_CHECKPOINT_WITNESS``) holds them too.

Attackers are played with plain file edits, SQL and the ``cryptography`` package directly; links
are recomputed here from the documented rule (SHA-256 of the line before).
"""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from storage import Store, StoredSubmission
from storage.cli import main

from .conftest import FAST_HASHER, PASSWORD
from .helpers import make_submission
from .workers import checkpoint_repeatedly

ZEROS = "0" * 64


def cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, _ = capsys.readouterr()
    return code, out


def add_people(store: Store) -> None:
    store.add_user("alice", "builder", PASSWORD)
    store.add_user("bob", "reviewer", PASSWORD)


def approve_one(store: Store) -> StoredSubmission:
    draft = make_submission(store)
    sub = store.submit(draft.id, "alice", draft.version)
    return store.review(sub.id, "approve", "ok", "bob", sub.version)


def fill(store: Store, n: int) -> None:
    for i in range(n):
        store.record_event("system", "generate", "prompt", f"p{i}", {"i": i})


def lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def canonical(doc: object) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture
def witness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The witness file, named in the environment before any store here is opened."""
    path = tmp_path / "other-disk" / "witness.jsonl"
    monkeypatch.setenv("STEERING_CHECKPOINT_WITNESS", str(path))
    return path


@pytest.fixture
def witnessed(witness: Path, db_url: str, data_dir: Path) -> Iterator[Store]:
    """A store opened with a witness, with a builder and a reviewer."""
    store = Store.open(db_url, data_dir, password_hasher=FAST_HASHER)
    add_people(store)
    try:
        yield store
    finally:
        store.close()


# ---------------------------------------------------------------- the log and the chain


def test_every_checkpoint_is_a_signed_event_in_the_chain(store: Store) -> None:
    fill(store, 2)
    cp = store.checkpoint()
    (event,) = store.audit_events(action="audit.checkpoint")
    assert event.seq == 3 and event.actor == "system"
    assert event.details == {"seq": 2, "head": cp.head, "time": cp.time, "witness": False}
    assert store.verify().ok


def test_deleting_the_log_after_an_approval_fails_verify(
    store: Store, db_url: str, data_dir: Path, capsys
) -> None:
    add_people(store)
    approve_one(store)
    db = ["--db", db_url, "--data-dir", str(data_dir)]
    assert cli(capsys, "verify", *db)[0] == 0
    store.checkpoint_path.unlink()
    code, out = cli(capsys, "verify", *db)
    assert code == 1
    assert "(checkpoint-missing)" in out
    assert f"The checkpoint log {store.checkpoint_path} is missing" in out
    assert "it was deleted or emptied" in out


def test_emptying_the_log_fails_verify(store: Store) -> None:
    add_people(store)
    approve_one(store)
    store.checkpoint_path.write_text("")
    result = store.verify()
    assert (result.ok, result.reason) == (False, "checkpoint-missing")
    assert "is empty, but the audit trail records 1 checkpoint" in result.message


def test_a_line_removed_from_the_log_is_named(store: Store) -> None:
    add_people(store)
    approve_one(store)
    fill(store, 2)
    second = store.checkpoint()
    third = store.checkpoint()
    kept = lines(store.checkpoint_path)
    assert len(kept) == 3
    store.checkpoint_path.write_text(kept[0] + "\n" + kept[2] + "\n")
    result = store.verify()
    assert (result.ok, result.reason) == (False, "checkpoint-missing")
    assert f"lacks the checkpoint of {second.time} (event {second.seq})" in result.message
    # trimmed: the newest line dropped, the rest still linking
    store.checkpoint_path.write_text(kept[0] + "\n" + kept[1] + "\n")
    result = store.verify()
    assert (result.ok, result.reason) == (False, "checkpoint-missing")
    assert f"lacks the checkpoint of {third.time} (event {third.seq})" in result.message


def test_log_lines_that_do_not_link_fail_verify(store: Store) -> None:
    fill(store, 2)
    for _ in range(3):
        store.checkpoint()
    first, second, third = lines(store.checkpoint_path)
    assert store.verify().ok
    # every checkpoint is still there and matches the database: only the links say otherwise
    store.checkpoint_path.write_text("\n".join([first, third, second]) + "\n")
    result = store.verify()
    assert (result.ok, result.reason) == (False, "checkpoint-unlinked")
    assert "does not link to the line before it" in result.message


def test_each_line_carries_the_hash_of_the_line_before_and_signs_it(store: Store) -> None:
    fill(store, 1)
    for _ in range(3):
        store.checkpoint()
    raw = lines(store.checkpoint_path)
    docs = [json.loads(line) for line in raw]
    assert docs[0]["prev"] == ZEROS
    for before, line in zip(raw, docs[1:], strict=False):
        assert line["prev"] == hashlib.sha256(before.encode("utf-8")).hexdigest()
    # the link is signed: a line whose prev is changed no longer carries the key's signature
    docs[1]["prev"] = ZEROS
    store.checkpoint_path.write_text("\n".join(canonical(d) for d in docs) + "\n")
    result = store.verify()
    assert (result.ok, result.reason) == (False, "bad-signature")


def test_old_log_lines_without_links_still_verify(store: Store, data_dir: Path) -> None:
    """A store from before the links: its lines carry no prev and the chain records none of
    them; they verify, and the first new line links to the last old one."""
    key = serialization.load_pem_private_key(
        (data_dir / "audit-signing.key").read_bytes(), password=None
    )

    def old_line(seq: int, head: str, time: str) -> str:
        signed = {"seq": seq, "head": head, "time": time}
        sig = base64.b64encode(key.sign(canonical(signed).encode())).decode()
        return canonical(signed | {"sig": sig})

    fill(store, 2)
    first = store.verify()
    fill(store, 1)
    second = store.verify()
    old = [
        old_line(first.head_seq, first.head_hash, "2025-01-01T10:00:00.000000Z"),
        old_line(second.head_seq, second.head_hash, "2025-01-02T10:00:00.000000Z"),
    ]
    store.checkpoint_path.write_text("\n".join(old) + "\n")
    assert store.verify().ok
    new = store.checkpoint()
    assert new.prev == hashlib.sha256(old[-1].encode()).hexdigest()
    result = store.verify()
    assert result.ok and result.checkpoints == 3, result.message
    # an old-format line after a linked one was moved there
    with store.checkpoint_path.open("a") as fh:
        fh.write(old[0] + "\n")
    result = store.verify()
    assert (result.ok, result.reason) == (False, "checkpoint-unlinked")


def test_processes_checkpointing_at_once_keep_the_log_linked(blank_db_url: str, tmp_path) -> None:
    Store.open(blank_db_url, tmp_path).close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        done = pool.starmap(checkpoint_repeatedly, [(blank_db_url, str(tmp_path), 5)] * 3)
    assert done == [5, 5, 5]
    with Store.open(blank_db_url, tmp_path) as store:
        result = store.verify()
        assert len(lines(store.checkpoint_path)) == 15
    assert result.ok and result.checkpoints == 15, result.message


# ---------------------------------------------------------------- the witness


def test_an_honest_store_with_its_log_and_witness_verifies(
    witnessed: Store, witness: Path, db_url: str, data_dir: Path, tmp_path: Path, capsys
) -> None:
    approve_one(witnessed)
    witnessed.checkpoint()
    seqs = [json.loads(line)["seq"] for line in lines(witnessed.checkpoint_path)]
    assert [json.loads(line)["seq"] for line in lines(witness)] == seqs and len(seqs) == 2
    db = ["--db", db_url, "--data-dir", str(data_dir)]
    code, out = cli(capsys, "verify", *db)
    assert code == 0, out
    assert "the witness holds all 2 written to it" in out
    copy = tmp_path / "witness-copy.jsonl"
    shutil.copyfile(witness, copy)
    assert cli(capsys, "verify", "--witness", str(copy), *db)[0] == 0


def test_a_missing_witness_fails_verify(witnessed: Store, witness: Path) -> None:
    approve_one(witnessed)
    witness.unlink()
    result = witnessed.verify()
    assert (result.ok, result.reason) == (False, "checkpoint-missing")
    assert f"The checkpoint witness {witness} is missing" in result.message


def test_the_witness_being_the_log_itself_is_refused(
    monkeypatch: pytest.MonkeyPatch, db_url: str, data_dir: Path, capsys
) -> None:
    monkeypatch.setenv("STEERING_CHECKPOINT_WITNESS", str(data_dir / "checkpoints.jsonl"))
    code = main(["verify", "--db", db_url, "--data-dir", str(data_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: STEERING_CHECKPOINT_WITNESS names the checkpoint log itself")


def test_truncating_events_and_dropping_newer_log_lines_is_caught_by_the_witness(
    witnessed: Store,
    witness: Path,
    raw,
    db_url: str,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    """An insider with the database and the log but no key: events cut back to 100, the log's
    newer lines dropped. Nothing on this disk disagrees any more; the witness does."""
    approve_one(witnessed)  # a checkpoint at the approval
    fill(witnessed, 100 - witnessed.verify().head_seq)  # and at event 100
    fill(witnessed, 5)
    witnessed.checkpoint()  # and at event 106, after which events are cut (no rows were made)
    assert [json.loads(line)["seq"] for line in lines(witness)][1:] == [100, 106]
    copy = tmp_path / "witness-copy.jsonl"
    shutil.copyfile(witness, copy)
    with raw.begin() as conn:
        hash_100 = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 100")).scalar()
        conn.execute(text("DELETE FROM audit_events WHERE seq > 100"))
        conn.execute(
            text("UPDATE audit_chain_head SET last_seq = 100, last_hash = :h"), {"h": hash_100}
        )
    log = witnessed.checkpoint_path
    log.write_text("".join(line + "\n" for line in lines(log) if json.loads(line)["seq"] <= 100))
    db = ["--db", db_url, "--data-dir", str(data_dir)]
    code, out = cli(capsys, "verify", *db)
    assert code == 1 and "(truncated)" in out
    assert f"in {witness} recorded" in out
    monkeypatch.delenv("STEERING_CHECKPOINT_WITNESS")
    # without a witness the trimmed log and the truncated chain agree: the documented limit
    code, out = cli(capsys, "verify", *db)
    assert code == 0, out
    # any copy of the witness catches it
    code, out = cli(capsys, "verify", "--witness", str(copy), *db)
    assert code == 1 and "(truncated)" in out
