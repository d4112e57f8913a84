"""Apply Alembic migrations, configured in code (no alembic.ini), safely from many processes.

Every ``Store.open`` calls :func:`upgrade_to_head`. Several processes may start at once (the
dashboard's workers, a CLI call, the test suite's spawned appenders), so the upgrade runs inside a
transaction holding a lock: SQLite's ``BEGIN IMMEDIATE`` write lock, or a PostgreSQL advisory lock
scoped to the current schema. Whoever gets the lock second finds the schema already at head.
Within one process a thread lock also serialises upgrades, because Alembic's ``context``/``op``
proxies are process-global.

The common case (schema already current) is answered with one query against ``alembic_version``
without importing Alembic at all, which keeps CLI calls and worker start-up quick.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from .db import write_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions. A test checks it against Alembic's own view, so a
# new migration without bumping this fails loudly instead of being skipped.
HEAD_REVISION = "0008"
_ALEMBIC_LOCK = threading.Lock()


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return cfg


def head_revision() -> str:
    """The head according to Alembic's script directory (slow: imports Alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_heads()[0]


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a blank database."""
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (sa_exc.OperationalError, sa_exc.ProgrammingError):
            return None  # no alembic_version table yet


def upgrade_to_head(engine: Engine) -> str:
    """Bring the schema to the newest revision; return that revision."""
    if current_revision(engine) == HEAD_REVISION:
        return HEAD_REVISION
    upgrade_to(engine, "head")
    return HEAD_REVISION


def upgrade_to(engine: Engine, revision: str) -> None:
    """Upgrade to ``revision`` under the locks (tests build old databases with an older one)."""
    from alembic import command

    cfg = alembic_config()
    with _ALEMBIC_LOCK, write_engine(engine).begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema()))"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
