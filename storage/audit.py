"""The tamper-evident audit chain: append (hashed and signed), walk the hashes, classify damage.

Each event's hash is ``sha256(prev_hash + canonical_json(body))`` where ``body`` holds the sequence
number, UTC time, actor, action, object type and id, and details. Changing, removing, adding or
swapping any stored event therefore breaks either its own hash or the link from the next event.
Anyone can recompute that chain, including someone rewriting it; so each hash is also signed with
the Ed25519 key of ``signing.py`` (message: the hash's 64 ASCII hex digits), which is not in the
database. :func:`verify` walks the hashes; ``integrity.py`` adds signatures and checkpoints.

Appends must happen inside the caller's write transaction (the state change and its event commit
together) *after* :func:`lock_head`, which serialises appenders across processes: on PostgreSQL it
is a ``SELECT ... FOR UPDATE`` on the one-row head table; on SQLite the store's write transactions
start with ``BEGIN IMMEDIATE``, so the lock is already held and ``FOR UPDATE`` is simply omitted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from .canonical import canonical_json, format_ts
from .errors import ValidationError
from .records import VerifyResult
from .signing import Signer
from .tables import OBJECT_ID_LEN, AuditChainHeadRow, AuditEventRow, Base

GENESIS_HASH = "0" * 64
HEAD_ID = 1
# When looking for events deleted and the rest renumbered, try at most this many shifts.
_MAX_RENUMBER_SHIFT = 1000
# Where lock_head leaves the locked head and the signer for append() in the same session, and
# where append() lists what it added (the store writes checkpoints from it after the commit).
_HEAD_KEY = "storage.audit.locked_head"
_SIGNER_KEY = "storage.audit.signer"
APPENDED_KEY = "storage.audit.appended"

_Row = TypeVar("_Row", bound=Base)


def event_body(
    seq: int,
    ts: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: Any,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "ts": ts,
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
    }


def compute_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(body)).encode("utf-8")).hexdigest()


def sign_hash(signer: Signer, digest: str) -> str:
    return signer.sign(digest.encode("ascii"))


def read_head(session: Session) -> AuditChainHeadRow:
    """The chain head as this transaction sees it (no lock: for readers)."""
    return session.execute(
        select(AuditChainHeadRow).where(AuditChainHeadRow.id == HEAD_ID)
    ).scalar_one()


def lock_head(session: Session, signer: Signer) -> AuditChainHeadRow:
    """Lock and return the chain head; call first thing in every write transaction.

    This is the lock that serialises appenders (and, because it is taken before the workflow
    reads its rows, every state change). :func:`append` uses the head locked here and signs
    with ``signer``.
    """
    stmt = select(AuditChainHeadRow).where(AuditChainHeadRow.id == HEAD_ID).with_for_update()
    head = session.execute(stmt).scalar_one()
    session.info[_HEAD_KEY] = head
    session.info[_SIGNER_KEY] = signer
    session.info[APPENDED_KEY] = []
    return head


_LIMITS = {"actor": 64, "action": 64, "object_type": 32, "object_id": OBJECT_ID_LEN}


def append(
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    details: dict[str, Any] | None = None,
) -> AuditEventRow:
    """Add the next event to the chain within the caller's transaction."""
    fields = {
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
    }
    for name, value in fields.items():
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"An audit event needs a non-empty {name.replace('_', ' ')}.")
        if len(value) > _LIMITS[name]:
            raise ValidationError(
                f"The audit {name.replace('_', ' ')} {value[:20]!r}... is longer than "
                f"{_LIMITS[name]} characters; shorten it."
            )
    details = {} if details is None else details
    if not isinstance(details, dict):
        raise ValidationError("Audit event details must be a dictionary (a JSON object).")
    try:
        details_json = canonical_json(details)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"Audit event details cannot be stored as JSON ({exc}); use plain numbers, text, "
            "lists and dictionaries, and null instead of NaN or infinity."
        ) from exc
    # Round-trip so the stored text re-serialises to exactly what was hashed (tuples -> lists).
    details = json.loads(details_json)

    head = session.info.get(_HEAD_KEY)
    if head is None:  # a programming error, not a user's: every write must lock the head first
        raise RuntimeError("audit.append() needs audit.lock_head() earlier in the transaction")
    seq = head.last_seq + 1
    ts = format_ts(datetime.now(UTC))
    body = event_body(seq, ts, details=details, **fields)
    digest = compute_hash(head.last_hash, body)
    signer: Signer = session.info[_SIGNER_KEY]
    event = AuditEventRow(
        seq=seq,
        ts=ts,
        details=details_json,
        prev_hash=head.last_hash,
        hash=digest,
        sig=sign_hash(signer, digest),
        key_id=signer.key_id,
        **fields,
    )
    session.add(event)
    session.info[APPENDED_KEY].append((seq, digest, action))
    head.last_seq = seq
    head.last_hash = digest
    session.flush()
    return event


def add_with_event(
    session: Session,
    row: _Row,
    actor: str,
    action: str,
    object_type: str,
    details: dict[str, Any],
    *,
    object_id: str | int | None = None,
) -> _Row:
    """Add ``row`` and append its audit event, together, in the caller's transaction.

    The event names ``object_id``, by default the row's own primary key (assigned by the flush
    before the event is written). Returns the row.
    """
    session.add(row)
    session.flush()
    if object_id is None:
        identity = inspect(row).identity
        assert identity is not None  # flushed above, so the row has its key
        object_id = identity[0]
    append(session, actor, action, object_type, object_id, details)
    return row


def row_hash(event: AuditEventRow, seq: int | None = None) -> str:
    """Recompute an event's hash from its stored columns (optionally as if it had ``seq``)."""
    body = event_body(
        event.seq if seq is None else seq,
        event.ts,
        event.actor,
        event.action,
        event.object_type,
        event.object_id,
        json.loads(event.details),
    )
    return compute_hash(event.prev_hash, body)


def content_ok(event: AuditEventRow) -> bool:
    """Whether the event still hashes to its stored hash."""
    try:
        return row_hash(event) == event.hash
    except (ValueError, TypeError):  # details no longer valid JSON: it was edited
        return False


@dataclass
class _Walk:
    """What the walk knows at the first event that does not fit."""

    row: AuditEventRow
    prev_row: AuditEventRow | None
    next_row: AuditEventRow | None
    expected_seq: int
    expected_prev: str
    content_ok: bool
    beyond_head: bool


def _lookahead(
    rows: Iterator[AuditEventRow],
) -> Iterator[tuple[AuditEventRow, AuditEventRow | None]]:
    current = next(rows, None)
    while current is not None:
        following = next(rows, None)
        yield current, following
        current = following


def verify(session: Session) -> VerifyResult:
    """Walk the chain in sequence order; stop at the first event that does not fit and say why.

    The caller should give a session whose reads share one snapshot (SQLite: one transaction;
    PostgreSQL: REPEATABLE READ), or a concurrent append could look like an insertion.
    """
    head = read_head(session)
    stmt = select(AuditEventRow).order_by(AuditEventRow.seq).execution_options(yield_per=1000)
    rows = iter(session.execute(stmt).scalars())
    expected_seq, expected_prev, count = 1, GENESIS_HASH, 0
    prev_row: AuditEventRow | None = None

    def result(**kw: Any) -> VerifyResult:
        return VerifyResult(head_seq=head.last_seq, head_hash=head.last_hash, **kw)

    for row, next_row in _lookahead(rows):
        intact = content_ok(row)
        beyond_head = row.seq > head.last_seq
        if (
            intact
            and row.prev_hash == expected_prev
            and row.seq == expected_seq
            and not beyond_head
        ):
            expected_seq, expected_prev, count = expected_seq + 1, row.hash, count + 1
            prev_row = row
            continue
        walk = _Walk(row, prev_row, next_row, expected_seq, expected_prev, intact, beyond_head)
        seq, reason, message = _classify(session, walk, head)
        if seq == (prev_row.seq if prev_row else None):
            count -= 1  # the break lies in the event we had just accepted
        return result(ok=False, count=count, first_broken_seq=seq, reason=reason, message=message)

    if head.last_seq > count:
        missing = head.last_seq - count
        return result(
            ok=False,
            count=count,
            first_broken_seq=count + 1,
            reason="deleted",
            message=(
                f"Event {count + 1} was deleted: the chain records {head.last_seq} events but "
                f"only {count} are present ({missing} missing from the end)."
            ),
        )
    if head.last_hash != expected_prev:
        return result(
            ok=False,
            count=count,
            first_broken_seq=head.last_seq or None,
            reason="edited",
            message=(
                f"Event {head.last_seq} was edited or replaced: its hash differs from the one "
                "recorded when it was written."
            ),
        )
    return result(ok=True, count=count, message=f"audit chain ok: {count} events")


def _seq_of_hash(session: Session, digest: str) -> int | None:
    return session.execute(select(AuditEventRow.seq).where(AuditEventRow.hash == digest)).scalar()


def _classify(session: Session, w: _Walk, head: AuditChainHeadRow) -> tuple[int, str, str]:
    """Name the kind of tampering at the first break; returns (seq, reason, message)."""
    row = w.row
    link_ok = row.prev_hash == w.expected_prev
    exp = w.expected_seq

    # An event that links to one stored *after* it was moved ahead of it.
    if not link_ok:
        target = _seq_of_hash(session, row.prev_hash)
        if target is not None and target > row.seq:
            return (
                exp,
                "reordered",
                f"Events were reordered at position {exp}: the event stored there follows event "
                f"{target}, which is now stored after it.",
            )
    # Two events claim the same predecessor: the one we just accepted was slipped in.
    if not link_ok and w.prev_row is not None and row.prev_hash == w.prev_row.prev_hash:
        return (
            w.prev_row.seq,
            "inserted",
            f"Event {w.prev_row.seq} was inserted: the event after it still links to the event "
            "before it.",
        )
    # The next event skips this one and links to the last good event.
    if w.next_row is not None and w.next_row.prev_hash == w.expected_prev and row.seq >= exp:
        return (
            row.seq,
            "inserted",
            f"Event {row.seq} was inserted: the next event links past it to event {exp - 1}.",
        )
    if w.beyond_head:
        return (
            row.seq,
            "inserted",
            f"Event {row.seq} was inserted: the chain head records only {head.last_seq} events.",
        )
    if row.seq > exp:
        return (
            exp,
            "deleted",
            f"Event {exp} was deleted: the sequence jumps from {exp - 1} to {row.seq}.",
        )
    if not w.content_ok:
        total = session.execute(select(func.count()).select_from(AuditEventRow)).scalar_one()
        missing = min(head.last_seq - total, _MAX_RENUMBER_SHIFT)
        for shift in range(1, missing + 1):
            try:
                if row_hash(row, row.seq + shift) == row.hash:
                    return (
                        exp,
                        "deleted",
                        f"Event {exp} was deleted and the later events renumbered to hide the gap.",
                    )
            except (ValueError, TypeError):
                break
        return (
            row.seq,
            "edited",
            f"Event {row.seq} was edited: its content no longer matches its hash.",
        )
    # Intact content, right number, but it links to an event that is not its predecessor.
    if _seq_of_hash(session, row.prev_hash) is None and w.prev_row is not None:
        return (
            w.prev_row.seq,
            "edited",
            f"Event {w.prev_row.seq} was replaced: event {row.seq} no longer links to it.",
        )
    return (
        row.seq,
        "edited",
        f"Event {row.seq} was edited: it does not link to the event before it.",
    )
