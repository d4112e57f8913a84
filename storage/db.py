"""Engine setup: which database, and how each backend is made safe for an audit trail.

One place decides the URL (explicit > ``DATABASE_URL`` > ``<data_dir>/lab.db``) and configures
the connection so that the rest of the package can assume:

* SQLite runs in WAL mode (readers never block the writer), with foreign keys enforced, a busy
  timeout instead of instant "database is locked" errors, ``synchronous=FULL`` so a committed
  approval survives a power cut, and *write* transactions opened with ``BEGIN IMMEDIATE`` so that
  two processes appending to the audit chain queue up instead of deadlocking on lock upgrade.
* PostgreSQL goes through psycopg 3; its chain appends are serialised by a row lock on the chain
  head (see ``audit.py``), which works the same under any isolation level.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from .errors import DatabaseUnavailableError
from .settings import settings

DEFAULT_DB_FILENAME = "lab.db"
SQLITE_BUSY_TIMEOUT_S = 30.0
# FULL: a commit is on disk before it returns, so an approval survives a power cut. (In WAL mode
# NORMAL would still survive a crashed process, but could lose the last commits on power loss.)
SQLITE_SYNCHRONOUS = "FULL"

# Execution option read by the SQLite "begin" hook; set on the write engine only.
_BEGIN_OPTION = "storage_sqlite_begin"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data folder: explicit argument, else ``STEERING_DATA_DIR``, else ``./data``."""
    if data_dir is None:
        data_dir = settings().data_dir or "data"
    return Path(data_dir).expanduser().resolve()


def resolve_url(url: str | None, data_dir: Path) -> str:
    """The database URL: explicit, else ``DATABASE_URL``, else SQLite in the data folder.

    Plain ``postgresql://`` / ``postgres://`` URLs are pointed at psycopg 3, the only
    PostgreSQL driver this project installs.
    """
    url = url or settings().database_url
    if url is None:
        return f"sqlite:///{data_dir / DEFAULT_DB_FILENAME}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def describe_url(url: str) -> str:
    """The URL without its password, safe for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparseable database URL>"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_store_engine(url: str) -> Engine:
    """Create the engine with the per-backend settings described in the module docstring."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise DatabaseUnavailableError(
            f"The database address {url!r} is not a valid URL. Use e.g. "
            "'sqlite:////path/to/lab.db' or 'postgresql://user@host:5432/dbname'."
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise DatabaseUnavailableError(
                "An in-memory SQLite database cannot hold an audit trail; give a file path."
            )
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise DatabaseUnavailableError(
        f"Unsupported database {backend!r}: use SQLite (the default) or PostgreSQL."
    )


def write_engine(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions take the write lock up front (SQLite)."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Take transaction control away from the sqlite3 module (it would skip BEGIN for
        # SELECT and DDL); the "begin" hook below emits BEGIN itself.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextlib.contextmanager
def translate_db_errors(url: str) -> Iterator[None]:
    """Turn connection-level failures into a message the user can act on."""
    try:
        yield
    except sa_exc.OperationalError as exc:
        text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
        where = describe_url(url)
        if "locked" in text or "busy" in text:
            raise DatabaseUnavailableError(
                f"The database {where} stayed busy for more than {SQLITE_BUSY_TIMEOUT_S:.0f} s "
                "(another program is writing to it). Try again in a moment."
            ) from exc
        if exc.connection_invalidated or "connect" in text or "unable to open" in text:
            detail = " ".join(str(exc.orig).split()).rstrip(".?")
            raise DatabaseUnavailableError(
                f"Cannot reach the database {where} ({detail}). Check that the server is "
                "running and that DATABASE_URL (or --db) is right."
            ) from exc
        raise
