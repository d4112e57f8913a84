"""Databases written before signing: the old plain chain is checked, then signed in one go."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage import Store
from storage.chain_signing import ChainBrokenError
from storage.cli import main
from storage.db import create_store_engine
from storage.migrate import upgrade_to

from .conftest import FAST_HASHER
from .helpers import independent_hash

OLD_COLUMNS = "seq, ts, actor, action, object_type, object_id, details, prev_hash, hash"


def old_database(url: str, events: int = 3) -> None:
    """A database at revision 0001 holding a plain (unsigned) chain, as the old code wrote it."""
    engine = create_store_engine(url)
    upgrade_to(engine, "0001")
    prev = "0" * 64
    with engine.begin() as conn:
        for seq in range(1, events + 1):
            row = {
                "seq": seq,
                "ts": f"2025-01-0{seq}T10:00:00.000000Z",
                "actor": "system",
                "action": "user.create",
                "object_type": "user",
                "object_id": f"user{seq}",
                "details": '{"role":"builder"}',
                "prev_hash": prev,
            }
            row["hash"] = prev = independent_hash(prev, row)
            conn.execute(
                text(
                    f"INSERT INTO audit_events ({OLD_COLUMNS}) VALUES (:seq, :ts, :actor, "
                    ":action, :object_type, :object_id, :details, :prev_hash, :hash)"
                ),
                row,
            )
        conn.execute(
            text("UPDATE audit_chain_head SET last_seq = :n, last_hash = :h"),
            {"n": events, "h": prev},
        )
    engine.dispose()


def old_rows(url: str) -> list[tuple]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(text(f"SELECT {OLD_COLUMNS} FROM audit_events ORDER BY seq")).all()
    engine.dispose()
    return [tuple(r) for r in found]


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_migration_keeps_every_event_and_verifies(
    blank_db_url: str, tmp_path: Path, capsys
) -> None:
    old_database(blank_db_url)
    before = old_rows(blank_db_url)
    data = tmp_path / "data"
    with pytest.raises(ChainBrokenError, match="python -m storage migrate"):
        Store.open(blank_db_url, data)  # the app refuses to append to an unsigned chain
    code, out, _ = cli(capsys, "migrate", "--db", blank_db_url, "--data-dir", str(data))
    assert code == 0 and "signed the 3 events of the existing audit trail" in out
    assert old_rows(blank_db_url)[:3] == before  # nothing rewritten
    with Store.open(blank_db_url, data, password_hasher=FAST_HASHER) as store:
        result = store.verify()
        signed = store.audit_events(action="chain.signed")[0]
        assert store.latest_checkpoint().seq == 4
        store.record_event("system", "generate", "prompt", "p", {})
        after = store.verify()
    assert result.ok, result.message
    # written since: chain.signed, and the audit.checkpoint event recording its checkpoint
    assert (result.signed_at_migration, result.signed_at_write) == (3, 2)
    assert "3 signed at migration" in result.message
    assert signed.details["head_seq"] == 3 and signed.details["head_hash"] == before[-1][-1]
    assert after.ok and (after.signed_at_migration, after.signed_at_write) == (3, 3)
    code, out, _ = cli(capsys, "migrate", "--db", blank_db_url, "--data-dir", str(data))
    assert code == 0 and "nothing to do" in out


def test_a_broken_old_chain_stops_the_migration_unless_accepted(
    blank_db_url: str, tmp_path: Path, capsys
) -> None:
    old_database(blank_db_url, events=4)
    engine = create_engine(blank_db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"))
    db = ["--db", blank_db_url, "--data-dir", str(tmp_path / "data")]
    code, out, err = cli(capsys, "migrate", *db)
    assert code == 2 and "broken at event 2 (edited)" in err and "Nothing was signed" in err
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM audit_events WHERE sig IS NULL")).scalar() == 4
        )
    code, out, _ = cli(capsys, "migrate", "--accept-broken-chain", *db)
    assert code == 0, out
    with Store.open(blank_db_url, tmp_path / "data") as store:
        accepted = store.audit_events(action="chain.accepted_broken")[0]
        assert accepted.details["first_broken_seq"] == 2 and accepted.actor == "system"
        result = store.verify()
        assert result.ok and "accepted as broken at event 2" in result.message, result.message
        # the accepted events are pinned by their migration signatures from now on
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_events SET object_id = 'x' WHERE seq = 3"))
        damaged = store.verify()
    engine.dispose()
    assert (damaged.ok, damaged.first_broken_seq, damaged.reason) == (False, 3, "edited")


def test_stripped_signatures_are_not_signed_again(
    store: Store, db_url: str, data_dir: Path, raw, capsys
) -> None:
    for i in range(3):
        store.record_event("system", "generate", "prompt", f"p{i}", {})
    store.checkpoint()
    with raw.begin() as conn:
        conn.execute(text("UPDATE audit_events SET sig = NULL, key_id = NULL"))
    code, _, err = cli(capsys, "migrate", "--db", db_url, "--data-dir", str(data_dir))
    assert code == 2 and "already signed" in err
    result = store.verify()
    assert (result.ok, result.reason, result.first_broken_seq) == (False, "bad-signature", 1)
