"""What the signed audit trail says about the rows it describes, and where the rows differ.

Anyone with write access to the database can edit a table behind the store (plain SQL); nobody
can change the signed chain without the key. So "approved" is decided from the chain: a
submission is approved when its latest decision event is a signed approval of the content it
froze at submit (vector, the vector file's sha256, strength, layers, evaluation), that content
equals the row's, and no reject or revoke came later. :class:`SignedApprovals` answers that for
the API's gate and the downloads, cached per submission and chain head (the chain head changes
with every event, the row is compared on every call). ``record_check.py`` is ``storage verify``'s
side: every row the chain describes compared with it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit, tables, workflow
from .errors import PermissionDeniedError
from .signing import Keyring, SigningKeyError, load_keyring

SUBMISSION_STATUS = {
    "submission.create": workflow.DRAFT,
    "submission.submit": workflow.SUBMITTED,
    "submission.approve": workflow.APPROVED,
    "submission.reject": workflow.REJECTED,
    "submission.revoke": workflow.REVOKED,
}
# Submissions the serving cache remembers at most (one chain head each).
_CACHE_SIZE = 4096


class RecordMismatchError(PermissionDeniedError):
    """A submission's stored row says something its signed audit trail does not (403)."""

    def __init__(self, submission_id: int, detail: str, signed_status: str | None) -> None:
        super().__init__(
            f"the stored record of submission {submission_id} does not match the signed audit trail"
        )
        self.submission_id = submission_id
        self.detail = detail  # which field differs: for the operator's log, not the caller
        self.signed_status = signed_status  # the status the signed trail gives it (None: none)


@dataclass(frozen=True)
class SubmissionFields:
    """What the API or a download would hand out for a submission: compared with the trail."""

    id: int
    status: str
    vector_id: int
    vector_sha256: str
    strength: float
    layers: tuple[int, ...]
    evaluation_id: int | None
    content_hash: str | None
    created_by: str


def submission_fields(s: Session, row: Any) -> SubmissionFields:
    """The fields of a ``SubmissionRow`` or a ``StoredSubmission``, with its vector's sha256."""
    vector = s.get_one(tables.VectorRow, row.vector_id)
    return SubmissionFields(
        id=int(row.id),
        status=str(row.status),
        vector_id=int(row.vector_id),
        vector_sha256=vector.content_hash,
        strength=float(row.strength),
        layers=tuple(int(i) for i in row.layers),
        evaluation_id=row.evaluation_id,
        content_hash=row.content_hash,
        created_by=str(row.created_by),
    )


@dataclass
class SubmissionTrail:
    """A submission as its events tell it, folded in sequence order."""

    status: str | None = None  # None: the chain has no event for it
    seq: int = 0  # the last event folded in
    created_by: str | None = None
    content: dict[str, Any] = field(default_factory=dict)  # as last fixed: create, then submit
    content_hash: str | None = None  # frozen at the (latest) submit
    approved_hash: str | None = None  # what the latest approval approved
    problem: str | None = None  # an event that is not intact or not signed (serving only)

    def fold(self, seq: int, action: str, actor: str, details: dict[str, Any]) -> None:
        self.status, self.seq = SUBMISSION_STATUS[action], seq
        if action == "submission.create":
            self.created_by = actor
            self.content = {k: details.get(k) for k in _CONTENT_KEYS}
        elif action == "submission.submit":
            frozen = details.get("content") or {}
            self.content = {k: frozen.get(k) for k in (*_CONTENT_KEYS, "vector_content_hash")}
            self.created_by = frozen.get("created_by", self.created_by)
            self.content_hash = details.get("content_hash")
            self.approved_hash = None
        elif action == "submission.approve":
            self.approved_hash = details.get("content_hash")


_CONTENT_KEYS = ("vector_id", "strength", "layers", "evaluation_id")


def _differs(fields: SubmissionFields, trail: SubmissionTrail) -> tuple[str, Any, Any] | None:
    """The first field whose row value is not the trail's: (field, row value, trail value)."""
    content = trail.content
    pairs: list[tuple[str, Any, Any]] = [
        ("status", fields.status, trail.status),
        ("vector", fields.vector_id, content.get("vector_id")),
        ("strength", fields.strength, content.get("strength")),
        ("layers", list(fields.layers), content.get("layers")),
        ("evaluation", fields.evaluation_id, content.get("evaluation_id")),
        ("created_by", fields.created_by, trail.created_by),
    ]
    if trail.status != workflow.DRAFT:  # frozen at submit: the content hash and the file's hash
        pairs.append(("content hash", fields.content_hash, trail.content_hash))
        pairs.append(("vector sha256", fields.vector_sha256, content.get("vector_content_hash")))
    for name, stored, signed in pairs:
        if name == "strength" and isinstance(signed, int | float) and not isinstance(signed, bool):
            signed = float(signed)
        if stored != signed:
            return name, stored, signed
    if trail.status == workflow.APPROVED and trail.approved_hash != trail.content_hash:
        return "approved content", trail.approved_hash, trail.content_hash
    return None


def submission_mismatch(fields: SubmissionFields, trail: SubmissionTrail) -> str | None:
    """Why the row does not match its trail, naming the submission and the field; None if it does."""
    where = f"Submission {fields.id}"
    if trail.problem is not None:
        return f"{where}: {trail.problem}"
    if trail.status is None:
        return f"{where} is in the database but has no event in the signed audit trail."
    differs = _differs(fields, trail)
    if differs is None:
        return None
    name, stored, signed = differs
    return (
        f"{where}: {name} is {stored!r} in the database but {signed!r} in the signed audit "
        f"trail (its event {trail.seq})."
    )


def _submission_events(s: Session, submission_id: int) -> list[tables.AuditEventRow]:
    E = tables.AuditEventRow
    stmt = (
        select(E)
        .where(
            E.object_type == "submission",
            E.object_id == str(submission_id),
            E.action.in_(list(SUBMISSION_STATUS)),
        )
        .order_by(E.seq)
    )
    return list(s.execute(stmt).scalars())


def _intact(event: tables.AuditEventRow, keyring: Keyring | None) -> bool:
    signed = keyring is not None and keyring.verify(
        event.seq, event.key_id, event.hash.encode("ascii"), event.sig
    )
    return signed and audit.content_ok(event)


def _unbroken_after(s: Session, seq: int, head: tuple[int, str], keyring: Keyring | None) -> bool:
    """Whether every event after ``seq`` up to the head is still there and the head event is
    signed: a reject or revoke deleted from the middle leaves a gap, and renumbering the rest
    breaks the head event's signature. (Cheap checks, once per head; a forged event filling a
    gap is left to ``storage verify``, which checks every signature.)"""
    E = tables.AuditEventRow
    head_seq, head_hash = head
    after = s.execute(select(func.count()).select_from(E).where(E.seq > seq)).scalar_one()
    if after != head_seq - seq:
        return False
    last = s.get(E, head_seq)
    return last is not None and last.hash == head_hash and _intact(last, keyring)


def signed_trail(
    s: Session, submission_id: int, keyring: Keyring | None, head: tuple[int, str]
) -> SubmissionTrail:
    """The submission's trail from its events, each checked to hash and to carry its signature;
    for an approval, also that no later event is missing (``head``: the chain's seq and hash)."""
    trail = SubmissionTrail()
    for event in _submission_events(s, submission_id):
        if not _intact(event, keyring):
            trail.problem = f"its event {event.seq} is not intact or not signed by the audit key."
            return trail
        trail.fold(event.seq, event.action, event.actor, json.loads(event.details))
    if trail.status == workflow.APPROVED and not _unbroken_after(s, trail.seq, head, keyring):
        trail.problem = (
            f"events after its approval (event {trail.seq}) are missing or the chain's head "
            "is not signed: a later decision may have been removed."
        )
    return trail


class SignedApprovals:
    """The API's and the downloads' check that a submission is approved by the signed trail.

    The trail of each submission is read and its signatures checked once per chain head; every
    call still compares it with the row as read now, so an edit of the row is seen at once.
    """

    def __init__(self, keyring_path: Path) -> None:
        self.keyring_path = keyring_path
        self._lock = threading.Lock()
        self._trails: dict[int, tuple[tuple[int, str], SubmissionTrail]] = {}
        self._keyring: tuple[tuple[int, int], Keyring | None] | None = None

    def _current_keyring(self) -> Keyring | None:
        """The keyring, read again only when its file changed (a rotation adds a key)."""
        try:
            stat = self.keyring_path.stat()
            mark = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            return None
        cached = self._keyring
        if cached is not None and cached[0] == mark:
            return cached[1]
        try:
            keyring: Keyring | None = load_keyring(self.keyring_path)
        except SigningKeyError:
            keyring = None  # nothing can be confirmed: every approval is refused
        self._keyring = (mark, keyring)
        return keyring

    def trail(self, s: Session, submission_id: int) -> SubmissionTrail:
        H = tables.AuditChainHeadRow  # two columns, not the ORM row: this runs per request
        seq, digest = s.execute(select(H.last_seq, H.last_hash).where(H.id == audit.HEAD_ID)).one()
        mark = (int(seq), str(digest))
        with self._lock:
            cached = self._trails.get(submission_id)
        if cached is not None and cached[0] == mark:
            return cached[1]
        trail = signed_trail(s, submission_id, self._current_keyring(), mark)
        with self._lock:
            if len(self._trails) >= _CACHE_SIZE:
                self._trails.clear()
            self._trails[submission_id] = (mark, trail)
        return trail

    def confirm(self, s: Session, fields: SubmissionFields) -> None:
        """Raise RecordMismatchError unless the signed trail approved exactly ``fields``."""
        trail = self.trail(s, fields.id)
        problem = submission_mismatch(fields, trail)
        if problem is None and trail.status != workflow.APPROVED:
            problem = f"Submission {fields.id} is {trail.status} in the signed audit trail."
        if problem is not None:
            signed = trail.status if trail.problem is None else None
            raise RecordMismatchError(fields.id, problem, signed)
