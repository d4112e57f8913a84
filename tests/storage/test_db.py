"""Backend selection, SQLite settings, migrations, and the package's dependency boundary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import DatabaseUnavailableError, Store
from storage.db import resolve_data_dir, resolve_url
from storage.migrate import HEAD_REVISION, current_revision, head_revision

ROOT = Path(__file__).resolve().parents[2]


def test_default_location_is_data_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir() == tmp_path / "data"
    monkeypatch.setenv("STEERING_DATA_DIR", str(tmp_path / "elsewhere"))
    assert resolve_data_dir() == tmp_path / "elsewhere"
    assert resolve_data_dir(tmp_path / "given") == tmp_path / "given"
    folder = tmp_path / "d"
    assert resolve_url(None, folder) == f"sqlite:///{folder / 'lab.db'}"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:5432/db")
    assert resolve_url(None, folder) == "postgresql+psycopg://u@h:5432/db"
    assert resolve_url("postgres://u@h/db", folder) == "postgresql+psycopg://u@h/db"
    assert resolve_url("sqlite:////x.db", folder) == "sqlite:////x.db"


def test_store_opens_sqlite_in_the_data_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STEERING_DATA_DIR", str(tmp_path / "lab-data"))
    with Store.open() as store:
        assert store.backend == "sqlite"
        assert store.url == f"sqlite:///{tmp_path / 'lab-data' / 'lab.db'}"
        with store.engine.connect() as conn:
            pragma = {
                p: conn.execute(text(f"PRAGMA {p}")).scalar()
                for p in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 30000,
        "synchronous": 2,
    }
    assert (tmp_path / "lab-data" / "lab.db").is_file()


def test_foreign_keys_are_enforced(store: Store, raw) -> None:
    with pytest.raises(Exception, match="(?i)foreign key"):
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO reviews (submission_id, decision, comment, reviewer, created_at)"
                    " VALUES (999, 'approve', 'x', 'ghost', CURRENT_TIMESTAMP)"
                )
            )


def test_migrations_run_on_open_and_only_once(blank_db_url: str, tmp_path) -> None:
    assert head_revision() == HEAD_REVISION  # bump HEAD_REVISION with every new migration
    with Store.open(blank_db_url, tmp_path) as store:
        assert current_revision(store.engine) == HEAD_REVISION
        store.record_event("system", "generate", "x", "1", {})
    with Store.open(blank_db_url, tmp_path) as store:  # reopening keeps the data
        assert store.verify().count == 1
        with store.engine.connect() as conn:
            tables = set(store.engine.dialect.get_table_names(conn))
    assert {"users", "vectors", "submissions", "reviews", "audit_events"} <= tables


def test_unreachable_or_unsupported_database_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DatabaseUnavailableError, match="Cannot reach the database .*DATABASE_URL"):
        Store.open("postgresql://postgres@127.0.0.1:1/none", tmp_path)
    with pytest.raises(DatabaseUnavailableError, match="Unsupported database 'mysql'"):
        Store.open("mysql://u@h/db", tmp_path)
    with pytest.raises(DatabaseUnavailableError, match="in-memory"):
        Store.open("sqlite://", tmp_path)


def test_password_is_hidden_in_repr() -> None:
    from storage.db import describe_url

    assert "s3cret" not in describe_url("postgresql+psycopg://u:s3cret@h/db")


def test_storage_does_not_import_the_engine_or_the_ui() -> None:
    code = (
        "import sys, storage, storage.cli, storage.store, storage.migrate;"
        "bad = [m for m in ('torch', 'transformers', 'gradio', 'steering') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_migrations_keep_a_single_head() -> None:
    # Two migrations naming the same down_revision would fork the schema's history: Alembic
    # then refuses "upgrade head". Each new migration must build on the current head.
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [HEAD_REVISION], heads
