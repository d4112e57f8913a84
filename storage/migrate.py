"""Apply Alembic migrations, configured in code (no alembic.ini), safely from many processes.

Every ``Store.open`` calls :func:`upgrade_to_head`. Several processes may start at once (the
dashboard's workers, a CLI call, the test suite's spawned appenders), so the upgrade runs inside a
transaction holding a lock: SQLite's ``BEGIN IMMEDIATE`` write lock, or a PostgreSQL advisory lock
scoped to the current schema. Whoever gets the lock second finds the schema already at head. Within one process a thread lock
also serialises upgrades, because Alembic's ``context``/``op`` proxies are process-global.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from .db import write_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Alembic's ``context`` and ``op`` are process-global proxies: two threads migrating at once
# (two stores opened concurrently) would trample each other, so upgrades in one process queue.
_ALEMBIC_LOCK = threading.Lock()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return cfg


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


def upgrade_to_head(engine: Engine) -> str:
    """Bring the schema to the newest revision; return that revision."""
    head = head_revision()
    if current_revision(engine) == head:
        return head
    cfg = alembic_config()
    with _ALEMBIC_LOCK, write_engine(engine).begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema()))"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return head
