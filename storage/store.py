"""The Store facade: the one object the dashboard and the CLI talk to.

``Store`` is assembled from one mixin per idea, each in its own module, all built on the units of
work of ``store_base.py`` (one transaction per state change and its audit event):

- ``store_users.py``: users, passwords and sign-in;
- ``store_work.py``: example sets, vectors and evaluations, the builder's work;
- ``store_review.py``: submissions and the review workflow (submit, approve, reject, revoke);
- ``store_audit.py``: the audit trail: recording, reading, verifying, checkpoints, key rotation,
  migration of an unsigned chain, export;
- ``store_api.py``: the serving API's keys, switches and usage;
- ``store_jobs.py``: heavy jobs (builds, evaluations, answer generations) as records.

This module holds only the composition and the lifecycle (open, close, context manager). Methods
return frozen records from ``records.py``; they never leak ORM objects.
"""

from __future__ import annotations

from pathlib import Path

from argon2 import PasswordHasher

from .db import (
    create_store_engine,
    describe_url,
    resolve_data_dir,
    resolve_url,
    translate_db_errors,
)
from .migrate import upgrade_to_head
from .store_api import ApiMixin
from .store_audit import AuditMixin
from .store_jobs import JobsMixin
from .store_review import ReviewMixin
from .store_users import UsersMixin
from .store_work import WorkMixin


class Store(UsersMixin, WorkMixin, ReviewMixin, AuditMixin, ApiMixin, JobsMixin):
    """Persistence for users, example sets, vectors, evaluations, submissions, the audit trail
    and heavy jobs."""

    @classmethod
    def open(
        cls,
        url: str | None = None,
        data_dir: str | Path | None = None,
        *,
        password_hasher: PasswordHasher | None = None,
        signing: bool = True,
    ) -> Store:
        """Connect (explicit URL > ``DATABASE_URL`` > ``<data_dir>/lab.db``), migrate, load the key.

        ``signing=False`` skips loading the signing key, for those who only read and verify
        (an auditor with the public keyring); the first write then loads it.
        """
        folder = resolve_data_dir(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        resolved = resolve_url(url, folder)
        engine = create_store_engine(resolved)
        try:
            with translate_db_errors(resolved):
                upgrade_to_head(engine)
            store = cls(engine, folder, resolved, password_hasher)
            if signing:
                store._signer()
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({describe_url(self.url)!r})"
