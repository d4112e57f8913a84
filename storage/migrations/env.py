"""Alembic environment for the store.

Alembic is configured in code (``storage/migrate.py``), which hands over an open connection
inside a transaction that already holds the migration lock; there is no alembic.ini.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.tables import Base

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:  # e.g. `alembic -x` style use by a developer with sqlalchemy.url set
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("error: set sqlalchemy.url (or run migrations through storage.migrate)")
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
