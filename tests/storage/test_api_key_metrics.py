"""An API key's metrics right (migration 0006): off for every key unless created with it, signed
in the key's creation event, and compared by ``verify`` like the key's other fields.

That the right opens ``GET /metrics`` and nothing more is tested against the API
(tests/api/test_metrics.py)."""

from __future__ import annotations

import sqlalchemy as sa

from storage import Store
from storage.cli import main
from storage.coltypes import UTCDateTime, utcnow
from storage.db import create_store_engine
from storage.migrate import HEAD_REVISION, current_revision, upgrade_to

from .conftest import FAST_HASHER


def test_the_right_is_kept_signed_and_listed(
    store: Store, people, db_url, data_dir, capsys
) -> None:
    plain, _ = store.add_api_key("team")
    cli = ["--db", db_url, "--data-dir", str(data_dir)]
    assert main(["add-api-key", "scraper", "--metrics", *cli]) == 0
    assert "it may read /metrics" in capsys.readouterr().err
    (scraper,) = [k for k in store.list_api_keys() if k.name == "scraper"]
    assert (plain.metrics, scraper.metrics) == (False, True)
    assert {k.name: k.metrics for k in store.list_api_keys()} == {"scraper": True, "team": False}
    (created,) = store.audit_events(action="api_key.create", object_id="scraper")
    assert created.details["metrics"] is True
    assert store.verify().ok
    assert main(["api-keys", *cli]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "  metrics  " in listed["scraper"] and "metrics" not in listed["team"]


def test_the_migration_gives_existing_keys_no_metrics_right(blank_db_url: str, tmp_path) -> None:
    engine = create_store_engine(blank_db_url)
    upgrade_to(engine, "0005")
    keys = sa.table(
        "api_keys",
        sa.column("name", sa.String),
        sa.column("key_hash", sa.String),
        sa.column("prefix", sa.String),
        sa.column("active", sa.Boolean),
        sa.column("created_by", sa.String),
        sa.column("created_at", UTCDateTime),
    )
    with engine.begin() as conn:
        conn.execute(
            keys.insert(),
            [
                {
                    "name": "old",
                    "key_hash": "0" * 64,
                    "prefix": "cvl-abcd",
                    "active": True,
                    "created_by": "system",
                    "created_at": utcnow(),
                }
            ],
        )
    engine.dispose()
    with Store.open(blank_db_url, tmp_path / "data", password_hasher=FAST_HASHER) as store:
        assert current_revision(store.engine) == HEAD_REVISION
        (old,) = store.list_api_keys()
        assert old.metrics is False
