"""The audit chain: the hash rule, atomicity with state changes, and every kind of tampering."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from storage import Store, ValidationError, audit
from storage.audit import GENESIS_HASH

from .helpers import independent_hash


def rows(raw) -> list[dict]:
    with raw.connect() as conn:
        result = conn.execute(text("SELECT * FROM audit_events ORDER BY seq"))
        return [dict(r._mapping) for r in result]


def fill(store: Store, n: int = 6) -> None:
    for i in range(n):
        store.record_event("system", "generate", "prompt", f"p{i}", {"i": i, "text": "héllo"})


def test_events_follow_the_documented_hash_rule(store: Store, raw) -> None:
    fill(store, 4)
    stored = rows(raw)
    assert [r["seq"] for r in stored] == [1, 2, 3, 4]
    prev = GENESIS_HASH
    for r in stored:
        assert r["prev_hash"] == prev
        assert r["hash"] == independent_hash(prev, r)
        assert r["ts"].endswith("Z")
        prev = r["hash"]
    # non-ASCII is kept as is in the canonical form (ensure_ascii=False)
    assert "héllo" in stored[0]["details"]
    result = store.verify()
    assert (result.ok, result.count, result.first_broken_seq) == (True, 4, None)
    assert result.head_hash == prev and result.head_seq == 4


def test_empty_chain_verifies(store: Store) -> None:
    result = store.verify()
    assert result.ok and result.count == 0 and result.head_hash == GENESIS_HASH


def test_canonical_json_is_sorted_compact_and_rejects_nan() -> None:
    assert audit.canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'
    with pytest.raises(ValueError):
        audit.canonical_json({"x": float("nan")})


def test_event_details_must_be_plain_json(store: Store) -> None:
    with pytest.raises(ValidationError, match="null instead of NaN"):
        store.record_event("system", "generate", "prompt", "1", {"score": float("inf")})
    with pytest.raises(ValidationError, match="dictionary"):
        store.record_event("system", "generate", "prompt", "1", ["not", "a", "dict"])
    with pytest.raises(ValidationError, match="not a valid action"):
        store.record_event("system", "DROP TABLE", "prompt", "1", {})
    assert store.verify().count == 0


def test_state_change_and_event_commit_together(
    store: Store, people: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(store.audit_events())

    def broken_append(*args, **kwargs):
        raise RuntimeError("disk full while writing the audit event")

    monkeypatch.setattr(audit, "append", broken_append)
    with pytest.raises(RuntimeError):
        store.add_user("eve", "builder", "long enough password")
    monkeypatch.undo()
    # neither the user nor an event: the change was rolled back with its event
    assert "eve" not in [u.name for u in store.list_users()]
    assert len(store.audit_events()) == before
    assert store.verify().ok


def test_failed_change_leaves_no_event(store: Store, people: dict) -> None:
    before = store.verify().count
    with pytest.raises(Exception, match="already exists"):
        store.add_user("alice", "admin", "another password")
    assert store.verify().count == before


def test_audit_event_filters(store: Store, people: dict) -> None:
    fill(store, 3)
    store.record_event("alice", "generate", "prompt", "p1", {"by": "alice"})
    assert [e.object_id for e in store.audit_events(actor="alice", action="generate")] == ["p1"]
    assert len(store.audit_events(object_type="prompt", object_id="p1")) == 2
    newest = store.audit_events(newest_first=True, limit=2)
    assert [e.seq for e in newest] == [store.verify().count, store.verify().count - 1]
    first = store.audit_events(limit=1)[0]
    assert store.audit_events(until=first.ts) == []
    assert store.audit_events(since=first.ts)[0].seq == 1
    assert [e.seq for e in store.audit_events(after_seq=4)] == [5, 6, 7, 8]


# ---------------------------------------------------------------- tampering, with raw SQL


def forge(prev_hash: str, seq: int, object_id: str = "forged") -> dict:
    row = {
        "seq": seq,
        "ts": "2030-01-01T00:00:00.000000Z",
        "actor": "mallory",
        "action": "submission.approve",
        "object_type": "submission",
        "object_id": object_id,
        "details": "{}",
        "prev_hash": prev_hash,
    }
    row["hash"] = independent_hash(prev_hash, row)
    return row


INSERT = text(
    "INSERT INTO audit_events (seq, ts, actor, action, object_type, object_id, details, "
    "prev_hash, hash) VALUES (:seq, :ts, :actor, :action, :object_type, :object_id, :details, "
    ":prev_hash, :hash)"
)


def shift(conn, from_seq: int, by: int) -> None:
    """Renumber events >= from_seq by ``by`` (in two steps to dodge unique-key clashes)."""
    conn.execute(text("UPDATE audit_events SET seq = -seq WHERE seq >= :s"), {"s": from_seq})
    conn.execute(text("UPDATE audit_events SET seq = -seq + :by WHERE seq < 0"), {"by": by})


def edit_actor(conn, stored):
    conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))


def edit_details(conn, stored):
    conn.execute(
        text("UPDATE audit_events SET details = :d WHERE seq = 3"), {"d": '{"i":99,"text":"x"}'}
    )


def edit_timestamp(conn, stored):
    conn.execute(text("UPDATE audit_events SET ts = '2001-01-01T00:00:00.000000Z' WHERE seq = 3"))


def edit_hash_too(conn, stored):
    # change the action *and* recompute its own hash: the next event's link gives it away
    row = dict(stored[2], action="user.create")
    row["hash"] = independent_hash(row["prev_hash"], row)
    conn.execute(text("UPDATE audit_events SET action = :action, hash = :hash WHERE seq = 3"), row)


def delete_middle(conn, stored):
    conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))


def delete_last(conn, stored):
    conn.execute(text("DELETE FROM audit_events WHERE seq = 6"))


def delete_and_renumber(conn, stored):
    conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    shift(conn, 4, -1)


def insert_at_end(conn, stored):
    conn.execute(INSERT, forge(stored[-1]["hash"], 7))


def insert_in_middle(conn, stored):
    shift(conn, 3, 1)
    conn.execute(INSERT, forge(stored[1]["hash"], 3))


def insert_first(conn, stored):
    shift(conn, 1, 1)
    conn.execute(INSERT, forge(GENESIS_HASH, 1))


def insert_clumsy(conn, stored):
    shift(conn, 3, 1)
    conn.execute(INSERT, dict(forge(stored[1]["hash"], 3), prev_hash="f" * 64, hash="e" * 64))


def swap_two(conn, stored):
    conn.execute(text("UPDATE audit_events SET seq = -3 WHERE seq = 3"))
    conn.execute(text("UPDATE audit_events SET seq = 3 WHERE seq = 4"))
    conn.execute(text("UPDATE audit_events SET seq = 4 WHERE seq = -3"))


def move_to_front(conn, stored):
    # new order of the original events: 1, 5, 2, 3, 4, 6
    conn.execute(text("UPDATE audit_events SET seq = seq + 100"))
    for new, old in enumerate([1, 5, 2, 3, 4, 6], start=1):
        conn.execute(
            text("UPDATE audit_events SET seq = :new WHERE seq = :old"),
            {"new": new, "old": old + 100},
        )


def replace_event(conn, stored):
    # delete event 3 and put a self-consistent forgery with the same number in its place
    conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    conn.execute(INSERT, forge(stored[1]["hash"], 3))


TAMPERING = [
    (edit_actor, "edited", 3),
    (edit_details, "edited", 3),
    (edit_timestamp, "edited", 3),
    (edit_hash_too, "edited", 3),
    (replace_event, "edited", 3),
    (delete_middle, "deleted", 3),
    (delete_last, "deleted", 6),
    (delete_and_renumber, "deleted", 3),
    (insert_at_end, "inserted", 7),
    (insert_in_middle, "inserted", 3),
    (insert_first, "inserted", 1),
    (insert_clumsy, "inserted", 3),
    (swap_two, "reordered", 3),
    (move_to_front, "reordered", 2),
]


@pytest.mark.parametrize(
    ("tamper", "reason", "seq"), TAMPERING, ids=[t[0].__name__ for t in TAMPERING]
)
def test_verify_names_the_tampering(store: Store, raw, tamper, reason: str, seq: int) -> None:
    fill(store, 6)
    stored = rows(raw)
    assert store.verify().ok
    with raw.begin() as conn:
        tamper(conn, stored)
    result = store.verify()
    assert result.ok is False
    assert (result.reason, result.first_broken_seq) == (reason, seq), result.message
    assert result.count == seq - 1  # everything before the break is intact
    assert str(seq) in result.message


def test_rewriting_the_whole_tail_is_caught_by_the_head(store: Store, raw) -> None:
    """Even a consistent rewrite of the last event is caught by the separately kept head."""
    fill(store, 4)
    stored = rows(raw)
    with raw.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 4"))
        conn.execute(INSERT, forge(stored[2]["hash"], 4))
    result = store.verify()
    assert (result.ok, result.reason, result.first_broken_seq) == (False, "edited", 4)


def test_append_needs_the_locked_head(store: Store) -> None:
    """The head is locked once per unit of work; appending without that lock is a bug, not a race."""
    from sqlalchemy.orm import Session

    with Session(store.engine) as session, session.begin():
        with pytest.raises(RuntimeError, match="lock_head"):
            audit.append(session, "system", "generate", "prompt", "p", {})
    assert store.verify().count == 0
