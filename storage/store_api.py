"""The serving API's keys, switches and usage, as part of the ``Store`` facade (see ``store.py``).

Thin units of work around ``api_keys.py``, which holds the tables' logic and the gate
``served_submission``. Creating and revoking keys and flipping a switch are admin actions and
audit events; counting a request is not (a busy API must not flood the signed chain), so
``record_api_use`` writes without taking the chain's lock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from . import api_keys
from .db import translate_db_errors
from .store_base import StoreBase
from .users import SYSTEM_ACTOR


class ApiMixin(StoreBase):
    """API keys, the steering and sampling switches, usage counters and samples."""

    def add_api_key(
        self,
        name: str,
        submissions: list[int] | None = None,
        actor: str = SYSTEM_ACTOR,
        metrics: bool = False,
    ) -> tuple[api_keys.StoredApiKey, str]:
        """Create an API key (admins, or the system from the CLI); returns it and its secret,
        which is shown only now (only its hash is stored). Audited as ``api_key.create``.
        ``metrics``: the key may also read ``GET /metrics``."""
        with self._write() as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="create API keys"
            )
            return api_keys.add_key(s, name, submissions, actor, metrics)

    def revoke_api_key(self, name: str, actor: str = SYSTEM_ACTOR) -> api_keys.StoredApiKey:
        """Revoke an API key for good (admins or the system); audited as ``api_key.revoke``."""
        with self._write() as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="revoke API keys"
            )
            return api_keys.revoke_key(s, name, actor)

    def list_api_keys(self) -> list[api_keys.StoredApiKey]:
        with self._read() as s:
            return api_keys.list_keys(s)

    def api_key_for(self, secret: str) -> api_keys.StoredApiKey | None:
        """The active API key whose secret this is, else None."""
        with self._read() as s:
            return api_keys.key_for_secret(s, secret)

    def set_api_switch(self, name: str, enabled: bool, actor: str = SYSTEM_ACTOR) -> bool:
        """Switch ``steering`` or ``sampling`` on or off (admins or the system); audited."""
        with self._write() as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="switch the API"
            )
            return api_keys.set_switch(s, name, enabled, actor)

    def api_switch(self, name: str) -> bool:
        with self._read() as s:
            return api_keys.switch(s, name)

    def served_submission(
        self, key: api_keys.StoredApiKey, submission_id: int
    ) -> api_keys.ServedSubmission:
        """What the API may apply for ``key`` and ``submission_id``; see ``api_keys``."""
        with self._read() as s:
            return api_keys.served_submission(s, key, submission_id, self.signed_approvals)

    def usable_submissions(self, key: api_keys.StoredApiKey) -> list[api_keys.ServedSubmission]:
        """The submissions the API would serve to ``key`` now (what it may list for it)."""
        with self._read() as s:
            return api_keys.usable_submissions(s, key, self.signed_approvals)

    def record_api_use(
        self,
        key_id: int,
        submission_id: int,
        sample: tuple[list[Any], str] | None = None,
        *,
        applied: int = 0,
        not_applied: int = 0,
    ) -> None:
        """Count one request; keep ``sample`` (messages, answer) only while sampling is on.
        ``applied`` / ``not_applied``: of its prompts, those the vector steered and those a
        conditional vector's gate left unsteered.

        Not an audit event: counters per (key, submission, hour) keep a busy API from flooding
        the signed chain, so this transaction does not take the chain's lock."""
        with translate_db_errors(self.url):
            with Session(self._writer) as s, s.begin():
                api_keys.count_use(
                    s, key_id, submission_id, datetime.now(UTC), applied, not_applied
                )
                if sample is not None and api_keys.switch(s, api_keys.SAMPLING):
                    api_keys.add_sample(s, key_id, submission_id, *sample)

    def api_usage(self) -> list[api_keys.UsageCount]:
        """Every usage counter (key name, submission, UTC hour, count, applied, not applied),
        newest hour first."""
        with self._read() as s:
            return api_keys.usage(s)

    def api_samples(self) -> list[api_keys.ApiSample]:
        with self._read() as s:
            return api_keys.samples(s)
