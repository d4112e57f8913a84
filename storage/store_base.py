"""The store's state and its units of work: what every part of the ``Store`` facade builds on.

Every state-changing method runs as one unit of work (:meth:`StoreBase._write`): open a write
transaction, lock the audit chain head, check permissions and the workflow against *fresh* rows,
change them, append the audit event, commit. The change and its event are therefore both stored or
both absent, and concurrent writers (threads or processes) are serialised on the chain head, so
optimistic-lock conflicts are detected reliably and reported as :class:`ConflictError`.

Every event is signed (``signing.py``; the key is loaded when the store opens) and a signed
checkpoint is appended to the log outside the database after each approve, reject and revoke and
whenever the chain passes a multiple of 100 events (``checkpoints.py``), after the commit, so a
checkpoint never names a head that was rolled back.

The mixins of ``store_users.py``, ``store_work.py``, ``store_review.py``, ``store_audit.py`` and
``store_api.py`` inherit this class and use only what it defines here (``_write``, ``_read``,
``_actor``, ``_user_row``, ``_get``, ``_signer``, ``files``, ``key_paths``...); ``store.py``
combines them into :class:`~storage.store.Store`. Kept apart from ``store.py`` so the mixins can
import it without an import cycle.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import audit, chain_signing, checkpoint_events, checkpoints, signing, tables
from .db import translate_db_errors, write_engine
from .errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from .files import FileStore
from .signed_state import SignedApprovals
from .signing import Signer
from .users import SYSTEM_ACTOR, Passwords

# Decisions after which a checkpoint is written at once (besides every CHECKPOINT_EVERY events).
CHECKPOINTED_ACTIONS = frozenset({"submission.approve", "submission.reject", "submission.revoke"})


class StoreBase:
    """Connection, files and signing key, and the units of work every store method runs in."""

    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        url: str,
        password_hasher: PasswordHasher | None = None,
    ) -> None:
        self.engine = engine
        self._writer = write_engine(engine)
        self.data_dir = data_dir
        self.url = url
        self.files = FileStore(data_dir)
        self._passwords = Passwords(password_hasher)
        self.key_paths = signing.key_paths(data_dir)
        self.checkpoint_path = checkpoints.checkpoint_path(data_dir)
        self.witness_path = checkpoints.witness_path(self.checkpoint_path)
        # "Approved" as the signed trail says it, cached per submission and chain head.
        self.signed_approvals = SignedApprovals(self.key_paths.keyring)
        self._signer_cache: Signer | None = None

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    # ------------------------------------------------------------------ units of work

    def _signer(self) -> Signer:
        """The signing key, loaded once; created only while the chain is still empty."""
        if self._signer_cache is None:
            with self._read() as s:
                head = audit.read_head(s)
                first = s.execute(
                    select(tables.AuditEventRow.sig).order_by(tables.AuditEventRow.seq).limit(1)
                ).first()
            if first is not None and first.sig is None:
                raise chain_signing.ChainBrokenError(
                    "This database's audit trail was written before events were signed. Run "
                    "'python -m storage migrate' once: it checks the old chain and signs it."
                )
            self._signer_cache = signing.open_signer(self.key_paths, may_create=head.last_seq == 0)
        return self._signer_cache

    @contextlib.contextmanager
    def _write(self, signer: Signer | None = None) -> Iterator[Session]:
        """One write transaction holding the audit-chain lock; commit, then checkpoint if due."""
        with translate_db_errors(self.url):
            try:
                with Session(self._writer, expire_on_commit=False) as session:
                    with session.begin():
                        start = audit.lock_head(session, signer or self._signer()).last_seq
                        yield session
                    appended = session.info.get(audit.APPENDED_KEY, [])
            except StaleDataError as exc:
                raise ConflictError(
                    "Someone else changed this item at the same moment; your change was not "
                    "saved. Reload it and try again."
                ) from exc
        if appended:
            self._checkpoint_if_due(start, appended, signer or self._signer())

    def _checkpoint_if_due(
        self, start_seq: int, appended: list[tuple[int, str, str]], signer: Signer
    ) -> None:
        if all(action == checkpoint_events.CHECKPOINT_ACTION for _, _, action in appended):
            return  # the checkpoint's own event: checkpointing it again would never end
        seq, _, _ = appended[-1]
        every = checkpoints.CHECKPOINT_EVERY
        decided = any(action in CHECKPOINTED_ACTIONS for _, _, action in appended)
        if decided or seq // every > start_seq // every:
            self._write_checkpoint(signer)

    def _write_checkpoint(self, signer: Signer) -> checkpoints.Checkpoint:
        """Checkpoint the head into the log (and the witness) and record it in the chain, under
        the chain's lock, so lines written by several processes link in the order written."""
        with self._write(signer=signer) as session:
            return checkpoint_events.record(
                session, signer, self.checkpoint_path, self.witness_path
            )

    @contextlib.contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[Session]:
        """A read-only transaction; ``snapshot`` makes all its reads see one moment (PG)."""
        engine = self.engine
        if snapshot and self.backend == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        with translate_db_errors(self.url):
            with Session(engine, expire_on_commit=False) as session:
                with session.begin():
                    yield session

    @classmethod
    def _actor(
        cls,
        session: Session,
        actor: str,
        *,
        allow_system: bool = False,
        roles: frozenset[str] | None = None,
        doing: str = "do this",
    ) -> tables.UserRow | None:
        """The acting user, or None for "system" where ``allow_system`` (the CLI, jobs)."""
        if actor == SYSTEM_ACTOR and allow_system:
            return None
        return cls._user_row(session, actor, roles=roles, doing=doing)

    @staticmethod
    def _user_row(
        session: Session,
        actor: str,
        *,
        roles: frozenset[str] | None = None,
        doing: str = "do this",
    ) -> tables.UserRow:
        """The signed-in acting user, checked to exist, be active and hold one of ``roles``."""
        if actor == SYSTEM_ACTOR:
            raise PermissionDeniedError(f"Sign in as a user to {doing}; 'system' cannot.")
        if not isinstance(actor, str) or not actor:
            raise PermissionDeniedError(f"Sign in as a user to {doing}.")
        user = session.execute(select(tables.UserRow).where(tables.UserRow.name == actor)).scalar()
        if user is None:
            raise PermissionDeniedError(f"Unknown user {actor!r}: sign in as an existing user.")
        if not user.active:
            raise PermissionDeniedError(
                f"The account {actor!r} is deactivated; ask an admin to reactivate it."
            )
        if roles is not None and user.role not in roles:
            allowed = " or ".join(sorted(roles))
            raise PermissionDeniedError(f"{actor} is a {user.role}; only {allowed}s can {doing}.")
        return user

    @staticmethod
    def _get(session: Session, model: type, obj_id: int, label: str) -> Any:
        if isinstance(obj_id, bool) or not isinstance(obj_id, int):
            raise ValidationError(
                f"{label.capitalize()} id must be a whole number, not {obj_id!r}."
            )
        row = session.get(model, obj_id)
        if row is None:
            raise NotFoundError(f"There is no {label} with id {obj_id}.")
        return row
