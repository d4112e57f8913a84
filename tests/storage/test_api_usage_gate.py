"""API usage counts a conditional vector's gate (migration 0008): per (key, submission, hour),
besides the requests, the prompts the vector was applied to and those its gate left unsteered.

That the API fills them from its gate decisions is tested against the app
(tests/api/test_api_gate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import Store, ValidationError
from storage.coltypes import UTCDateTime, utcnow
from storage.db import create_store_engine, write_engine
from storage.migrate import HEAD_REVISION, alembic_config, current_revision, upgrade_to

from .conftest import FAST_HASHER


def test_the_counters_add_up_per_key_submission_and_hour(store: Store) -> None:
    team, _ = store.add_api_key("team")
    other, _ = store.add_api_key("other")
    store.record_api_use(team.id, 3, applied=1)
    store.record_api_use(team.id, 3, not_applied=1)
    store.record_api_use(team.id, 3, applied=2, not_applied=2)  # a request with four prompts
    store.record_api_use(other.id, 3, applied=1)
    store.record_api_use(team.id, 0)  # unsteered: neither
    counts = {(u.key_name, u.submission_id): u for u in store.api_usage()}
    mine = counts[("team", 3)]
    assert (mine.count, mine.applied, mine.not_applied) == (3, 3, 3)
    theirs = counts[("other", 3)]
    assert (theirs.count, theirs.applied, theirs.not_applied) == (1, 1, 0)
    plain = counts[("team", 0)]
    assert (plain.count, plain.applied, plain.not_applied) == (1, 0, 0)
    with pytest.raises(ValidationError, match="cannot be negative"):
        store.record_api_use(team.id, 3, applied=-1)
    assert counts == {(u.key_name, u.submission_id): u for u in store.api_usage()}


def _columns(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("api_usage")}


def _downgrade(engine: sa.Engine, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    with write_engine(engine).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_migration_0008_starts_old_counters_at_zero_and_downgrades(
    blank_db_url: str, tmp_path: Path
) -> None:
    engine = create_store_engine(blank_db_url)
    try:
        upgrade_to(engine, "0007")
        keys = sa.table(
            "api_keys",
            sa.column("id", sa.Integer),
            sa.column("name", sa.String),
            sa.column("key_hash", sa.String),
            sa.column("prefix", sa.String),
            sa.column("active", sa.Boolean),
            sa.column("created_by", sa.String),
            sa.column("created_at", UTCDateTime),
            sa.column("metrics", sa.Boolean),
        )
        usage = sa.table(
            "api_usage",
            sa.column("key_id", sa.Integer),
            sa.column("submission_id", sa.Integer),
            sa.column("hour", sa.String),
            sa.column("count", sa.Integer),
        )
        with engine.begin() as conn:
            conn.execute(
                keys.insert(),
                [
                    {
                        "id": 1,
                        "name": "old",
                        "key_hash": "0" * 64,
                        "prefix": "cvl-abcd",
                        "active": True,
                        "created_by": "system",
                        "created_at": utcnow(),
                        "metrics": False,
                    }
                ],
            )
            conn.execute(
                usage.insert(),
                [{"key_id": 1, "submission_id": 4, "hour": "2026-01-01T10", "count": 7}],
            )
        assert "applied" not in _columns(engine)
    finally:
        engine.dispose()
    with Store.open(blank_db_url, tmp_path / "data", password_hasher=FAST_HASHER) as store:
        assert current_revision(store.engine) == HEAD_REVISION == "0008"
        (old,) = store.api_usage()
        assert (old.key_name, old.submission_id, old.count) == ("old", 4, 7)
        assert (old.applied, old.not_applied) == (0, 0)
        store.record_api_use(1, 4, applied=1)  # a new hour's counter
        assert sorted((u.count, u.applied) for u in store.api_usage()) == [(1, 1), (7, 0)]
    engine = create_store_engine(blank_db_url)
    try:
        _downgrade(engine, "0007")
        assert current_revision(engine) == "0007"
        assert {"applied", "not_applied"}.isdisjoint(_columns(engine))
        with engine.connect() as conn:
            counts = conn.execute(sa.text("SELECT count FROM api_usage ORDER BY count")).all()
        assert [c for (c,) in counts] == [1, 7]
        upgrade_to(engine, "head")
        assert {"applied", "not_applied"} <= _columns(engine)
    finally:
        engine.dispose()
