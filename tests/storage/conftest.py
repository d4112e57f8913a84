"""Fixtures: every store test runs on SQLite and on PostgreSQL (a fresh schema per test).

PostgreSQL comes from ``STORAGE_TEST_PG_URL`` (default: the local trust-auth server). When it is
unreachable the postgresql cases fail if ``CI`` is set (CI promises a server) and skip otherwise.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage import Store
from storage.db import create_store_engine
from storage.migrate import upgrade_to_head

PG_URL = os.environ.get("STORAGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Cheap argon2 parameters: the tests check behaviour, not hashing cost.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a developer's own DATABASE_URL or data folder leak into a test."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("STEERING_DATA_DIR", raising=False)
    monkeypatch.delenv("STEERING_PASSWORD", raising=False)
    monkeypatch.delenv("STEERING_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("STEERING_CHECKPOINT_FILE", raising=False)
    monkeypatch.delenv("STEERING_CHECKPOINT_WITNESS", raising=False)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[object]:
    engine = create_engine(
        PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        engine.dispose()
        yield exc
        return
    yield engine
    engine.dispose()


def schema_url(schema: str) -> str:
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


class SchemaPool:
    """Fresh, already migrated PostgreSQL schemas, prepared a few at a time in the background.

    Creating the tables takes the server ~0.3 s per schema; doing it ahead, in parallel, keeps
    the PostgreSQL half of the suite about as fast as the SQLite half. Every test still gets a
    schema nobody has used before, and every schema is dropped afterwards.
    """

    AHEAD = 2

    def __init__(self, admin) -> None:
        self.admin = admin
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pg-schema")
        self.ready: deque[Future[str]] = deque()
        self.drops: list[Future[None]] = []

    def _create(self, migrate: bool) -> str:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        if migrate:
            engine = create_store_engine(schema_url(schema))
            try:
                upgrade_to_head(engine)
            finally:
                engine.dispose()
        return schema

    def take(self) -> str:
        while len(self.ready) < self.AHEAD + 1:
            self.ready.append(self.pool.submit(self._create, True))
        return self.ready.popleft().result()

    def blank(self) -> str:
        return self._create(False)

    def drop(self, schema: str) -> None:
        def _drop() -> None:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

        self.drops.append(self.pool.submit(_drop))

    def close(self) -> None:
        for future in self.ready:
            self.drop(future.result())
        for future in self.drops:
            future.result()
        self.pool.shutdown()


@pytest.fixture(scope="session")
def pg_schemas(pg_admin) -> Iterator[SchemaPool | Exception]:
    if isinstance(pg_admin, Exception):
        yield pg_admin
        return
    pool = SchemaPool(pg_admin)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test instead of migrating each time."""
    path = tmp_path_factory.mktemp("template") / "lab.db"
    Store.open(f"sqlite:///{path}", path.parent / "data").close()  # closing checkpoints the WAL
    return path


def _pg_or_skip(request: pytest.FixtureRequest) -> SchemaPool:
    pool = request.getfixturevalue("pg_schemas")
    if isinstance(pool, Exception):
        message = f"PostgreSQL at {PG_URL} is unreachable: {pool}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return pool


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database nobody else uses: a fresh SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "lab.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    pool = _pg_or_skip(request)
    schema = pool.take()
    try:
        yield schema_url(schema)
    finally:
        pool.drop(schema)


@pytest.fixture(params=BACKENDS)
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables yet), for testing the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    pool = _pg_or_skip(request)
    schema = pool.blank()
    try:
        yield schema_url(schema)
    finally:
        pool.drop(schema)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(db_url: str, data_dir: Path) -> Iterator[Store]:
    s = Store.open(db_url, data_dir, password_hasher=FAST_HASHER)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def people(store: Store) -> dict[str, str]:
    """Four users, one per role plus a second reviewer; returns role-ish label -> name."""
    names = {"builder": "alice", "reviewer": "bob", "reviewer2": "rita", "admin": "ada"}
    for label, name in names.items():
        store.add_user(name, label.rstrip("2"), PASSWORD)
    return names


@pytest.fixture
def raw(db_url: str) -> Iterator[object]:
    """A plain engine on the same database, for tampering behind the ORM's back."""
    engine = create_engine(db_url)
    yield engine
    engine.dispose()
