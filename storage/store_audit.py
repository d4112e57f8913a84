"""The audit trail, as part of the ``Store`` facade (see ``store.py``).

Recording actions that change no stored state, reading events back (failed sign-ins only for
reviewers and admins), full verification (hash links, signatures, checkpoints, the rows the chain
describes: ``integrity.py``), the signed trail's word on an approval (``signed_state.py``),
checkpoints on demand, key rotation, signing a chain written before signing existed
(``chain_signing.py``) and exporting the trail with its latest checkpoint (``export.py``). The
chain itself (hashing, signing, locking the head) is ``audit.py``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from . import (
    audit,
    chain_signing,
    checkpoints,
    integrity,
    records,
    signed_state,
    signing,
    tables,
    workflow,
)
from .errors import PermissionDeniedError, ValidationError
from .export import FORMATS, to_csv, to_json
from .files import replace_file
from .signing import Signer
from .store_base import StoreBase
from .users import FAILED_LOGIN, SYSTEM_ACTOR

_ACTION_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


class AuditMixin(StoreBase):
    """Record, read, verify, checkpoint, rotate the key, migrate and export the audit trail."""

    def record_event(
        self,
        actor: str,
        action: str,
        object_type: str,
        object_id: str | int,
        details: dict[str, Any] | None = None,
    ) -> records.StoredAuditEvent:
        """Audit an action that changes no stored state (e.g. "generate", "vector.export")."""
        if not isinstance(action, str) or not _ACTION_RE.match(action):
            raise ValidationError(
                f"{action!r} is not a valid action name: use lowercase letters, digits and "
                "'.', '_' or '-', e.g. 'generate' or 'vector.export'."
            )
        with self._write() as s:
            self._actor(s, actor, allow_system=True, doing="record actions")
            return records.StoredAuditEvent.from_row(
                audit.append(s, actor, action, object_type, object_id, details)
            )

    def audit_events(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        viewer_role: str | None = None,
    ) -> list[records.StoredAuditEvent]:
        """Audit events matching all the given filters, in sequence order.

        Pass the signed-in user's ``viewer_role``: failed sign-ins are left out for builders
        (only reviewers and admins see them). None (the CLI, the system) shows everything.
        """
        M = tables.AuditEventRow
        stmt = select(M)
        if viewer_role is not None and not workflow.may_review(viewer_role):
            stmt = stmt.where(M.action != FAILED_LOGIN)
        if actor is not None:
            stmt = stmt.where(M.actor == actor)
        if action is not None:
            stmt = stmt.where(M.action == action)
        if object_type is not None:
            stmt = stmt.where(M.object_type == object_type)
        if object_id is not None:
            stmt = stmt.where(M.object_id == str(object_id))
        # ts is ISO 8601 text in one fixed format, so text order is time order.
        if since is not None:
            stmt = stmt.where(M.ts >= audit.format_ts(since))
        if until is not None:
            stmt = stmt.where(M.ts < audit.format_ts(until))
        if after_seq is not None:
            stmt = stmt.where(M.seq > after_seq)
        stmt = stmt.order_by(M.seq.desc() if newest_first else M.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as s:
            return [records.StoredAuditEvent.from_row(r) for r in s.execute(stmt).scalars()]

    def failed_logins(self, viewer_role: str, limit: int = 200) -> list[records.StoredAuditEvent]:
        """The newest failed sign-ins, for reviewers and admins only (builders are refused)."""
        if not workflow.may_review(viewer_role):
            raise PermissionDeniedError(
                "Only reviewers and admins can see failed sign-ins; ask one of them."
            )
        return self.audit_events(action=FAILED_LOGIN, limit=limit, newest_first=True)

    def _keyring(self, public_key: str | Path | None) -> tuple[signing.Keyring | None, str]:
        """The keyring to verify with: ``public_key`` (keyring or PEM), else the one in use."""
        path = Path(public_key).expanduser() if public_key else self.key_paths.keyring
        if public_key is None and not path.exists():
            return None, str(path)  # fine for an empty chain; verify says so otherwise
        return signing.load_keyring(path), str(path)

    def verify(
        self,
        checkpoints_file: str | Path | None = None,
        public_key: str | Path | None = None,
        witness_file: str | Path | None = None,
    ) -> records.VerifyResult:
        """Check hash links, every signature, every checkpoint and the rows the chain describes;
        see ``records.VerifyResult``.

        ``checkpoints_file``: checkpoints copied from reports or exports, checked one by one
        instead of this store's log (which must also be complete and linked); ``witness_file``:
        a copy of the witness (or of the log), checked as a whole log instead of
        ``STEERING_CHECKPOINT_WITNESS``; ``public_key``: a keyring or PEM public key instead of
        the one in use. Raises SigningKeyError when no usable public key is at hand or it did
        not sign this chain.
        """
        keyring, where = self._keyring(public_key)
        log = Path(checkpoints_file).expanduser() if checkpoints_file else self.checkpoint_path
        if checkpoints_file is not None and not log.is_file():
            raise ValidationError(f"There is no checkpoint file at {log}.")
        witness = self.witness_path
        if witness_file is not None:
            witness = Path(witness_file).expanduser()
            if not witness.is_file():
                raise ValidationError(f"There is no checkpoint witness file at {witness}.")
        logs = integrity.Logs(log, log_is_copy=checkpoints_file is not None, witness=witness)
        with self._read(snapshot=True) as s:
            return integrity.verify(s, keyring, logs, where)

    def confirm_approved(self, submission: records.StoredSubmission) -> None:
        """Raise RecordMismatchError unless the signed audit trail approved exactly
        ``submission`` as read (status, vector and its sha256, strength, layers, evaluation):
        what a download hands out is what the chain approved, not what a row says."""
        with self._read() as s:
            self.signed_approvals.confirm(s, signed_state.submission_fields(s, submission))

    def checkpoint(self) -> checkpoints.Checkpoint:
        """Sign the current head, append it to the checkpoint log (and the witness), record it
        as an ``audit.checkpoint`` event, and return the log's line."""
        return self._write_checkpoint(self._signer())

    def latest_checkpoint(self) -> checkpoints.Checkpoint | None:
        """The newest authentic checkpoint of the log (None when there is none yet)."""
        keyring, _ = self._keyring(None)
        if keyring is None:
            return None
        return checkpoints.latest(self.checkpoint_path, keyring)

    def rotate_key(self, actor: str = SYSTEM_ACTOR) -> tuple[str, str]:
        """Sign from the next event on with a new key; returns (old, new) key fingerprints.

        For a lost or retired key: the old private key is not needed (nor kept); its public key
        stays in the keyring so the events it signed still verify. The rotation is audited with
        both fingerprints, in an event signed by the new key.
        """
        keyring = signing.load_keyring(self.key_paths.keyring)
        old_id = keyring.current.key_id
        new = Signer.generate()
        with self._write(signer=new) as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="rotate keys"
            )
            first_seq = audit.read_head(s).last_seq + 1
            signing.install_key(self.key_paths, keyring.with_key(new.public_key, first_seq), new)
            audit.append(
                s, actor, "key.rotate", "audit", "key", {"old_key": old_id, "new_key": new.key_id}
            )
        self._signer_cache = new
        return old_id, new.key_id

    def migrate_chain(self, *, accept_broken: bool = False, actor: str = SYSTEM_ACTOR) -> int:
        """Sign an audit chain written before signing existed; returns how many events were signed.

        A broken old chain raises ChainBrokenError unless ``accept_broken`` (then audited as
        ``chain.accepted_broken``). Refused when the checkpoint log shows this deployment already
        had a signed chain: signatures stripped from it must not be replaced by signing again.
        """
        with self._read() as s:
            todo = chain_signing.unsigned_count(s)
        if todo == 0:
            return 0
        previous = checkpoints.latest(self.checkpoint_path)
        if previous is not None and previous.seq > 0:
            raise chain_signing.ChainBrokenError(
                f"The checkpoint log {self.checkpoint_path} shows this audit trail was already "
                f"signed (up to event {previous.seq}), yet {todo} events are unsigned now: they "
                "were stripped or inserted. Run 'python -m storage verify'; nothing was signed."
            )
        signer = signing.open_signer(self.key_paths, may_create=True)
        with self._write(signer=signer) as s:
            signed = chain_signing.sign_existing(
                s, signer, accept_broken=accept_broken, actor=actor
            )
        self._signer_cache = signer
        self.checkpoint()
        return signed

    def export_audit(
        self, fmt: str, path: str | Path, actor: str = SYSTEM_ACTOR
    ) -> records.ExportResult:
        """Write the audit trail to ``path`` as "csv" or "json"; the export itself is audited.

        A copy is also kept in the file store, and its hash is in the ``audit.export`` event,
        so an auditor can later prove which file was handed over. The latest checkpoint goes
        with it (CSV: a final comment row; JSON: ``checkpoint``), so every copy that leaves the
        machine also carries a signed head to check the database against later.
        """
        if fmt not in FORMATS:
            raise ValidationError(f"Unknown export format {fmt!r}: choose csv or json.")
        target = Path(path).expanduser()
        if target.is_dir():
            raise ValidationError(f"{target} is a folder; give a file name to write to.")
        if not target.parent.is_dir():
            raise ValidationError(f"The folder {target.parent} does not exist; create it first.")
        verified = self.verify()
        with self._read(snapshot=True) as s:
            rows = s.execute(
                select(tables.AuditEventRow)
                .where(tables.AuditEventRow.seq <= verified.head_seq)
                .order_by(tables.AuditEventRow.seq)
            ).scalars()
            events = [records.StoredAuditEvent.from_row(r) for r in rows]
        checkpoint = verified.latest_checkpoint
        if fmt == "csv":
            data = to_csv(events, checkpoint)
        else:
            data = to_json(events, verified, audit.format_ts(datetime.now(UTC)), checkpoint)
        digest, _ = self.files.save(data, f".{fmt}")
        replace_file(target, data, 0o644)
        self.record_event(
            actor,
            "audit.export",
            "audit",
            "chain",
            {
                "format": fmt,
                "count": len(events),
                "last_seq": events[-1].seq if events else 0,
                "sha256": digest,
                "chain_ok": verified.ok,
                "checkpoint_seq": checkpoint.seq if checkpoint else None,
            },
        )
        return records.ExportResult(path=target, format=fmt, count=len(events), sha256=digest)
