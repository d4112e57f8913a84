"""The store's settings, read from the environment in this one module.

Every variable the store understands is read here, by :func:`from_env`, into one frozen
:class:`StorageSettings`; the rest of the package asks :func:`settings` instead of reading
``os.environ``. An unset or blank variable means "use the default", which the reader of each
setting names (``db.py``: the data folder and the URL; ``signing.py``: the key file;
``checkpoints.py``: the checkpoint log and its witness). Every value is free text or a path, so
nothing here can be invalid; a wrong path or URL is reported when the store opens or writes it.

Variables: ``STEERING_DATA_DIR``, ``DATABASE_URL``, ``STEERING_AUDIT_KEY_FILE``,
``STEERING_CHECKPOINT_FILE``, ``STEERING_CHECKPOINT_WITNESS`` (a second file, on another disk or
mount, that receives every checkpoint too; unset: none) and ``STEERING_PASSWORD`` (the CLI's
password for ``add-user`` and ``reset-password``; kept out of the settings' repr).

The storage package imports nothing from ``steering``, so the one rule it needs (blank means unset)
is written here rather than taken from :class:`steering.settings.EnvReader`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DATA_DIR = "STEERING_DATA_DIR"
DATABASE_URL = "DATABASE_URL"
AUDIT_KEY_FILE = "STEERING_AUDIT_KEY_FILE"
CHECKPOINT_FILE = "STEERING_CHECKPOINT_FILE"
CHECKPOINT_WITNESS = "STEERING_CHECKPOINT_WITNESS"
PASSWORD = "STEERING_PASSWORD"
# Every variable from_env reads: the cached accessor re-reads only when one of these changes.
VARIABLES = (DATA_DIR, DATABASE_URL, AUDIT_KEY_FILE, CHECKPOINT_FILE, CHECKPOINT_WITNESS, PASSWORD)


@dataclass(frozen=True)
class StorageSettings:
    """What the store takes from the environment; None: the variable is unset or blank."""

    data_dir: str | None = None
    database_url: str | None = None
    audit_key_file: str | None = None
    checkpoint_file: str | None = None
    checkpoint_witness: str | None = None
    password: str | None = field(default=None, repr=False)


def _text(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    return raw or None


def from_env(env: Mapping[str, str]) -> StorageSettings:
    """The store's settings from ``env``."""
    return StorageSettings(
        data_dir=_text(env, DATA_DIR),
        database_url=_text(env, DATABASE_URL),
        audit_key_file=_text(env, AUDIT_KEY_FILE),
        checkpoint_file=_text(env, CHECKPOINT_FILE),
        checkpoint_witness=_text(env, CHECKPOINT_WITNESS),
        # A password is taken exactly as written: spaces may be part of it.
        password=env.get(PASSWORD) or None,
    )


def settings(env: Mapping[str, str] | None = None) -> StorageSettings:
    """The store's settings: from ``env`` when given (tests), else from this process's
    environment, read once and again only when one of :data:`VARIABLES` changed (a test's
    ``monkeypatch.setenv`` is seen on the next call)."""
    if env is not None:
        return from_env(env)
    current = tuple((name, os.environ[name]) for name in VARIABLES if name in os.environ)
    return _cached(current)


@functools.lru_cache(maxsize=8)
def _cached(values: tuple[tuple[str, str], ...]) -> StorageSettings:
    return from_env(dict(values))
