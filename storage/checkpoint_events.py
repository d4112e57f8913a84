"""Each checkpoint written to the log (and the witness) and recorded in the chain as an event.

:func:`record` runs inside a write transaction that holds the chain's lock: it appends the
checkpoint of the locked head to the log and the witness (each line linked to the file's last
one, fsynced), then the ``audit.checkpoint`` event naming it, which commits with the
transaction. The lock keeps lines from several processes in order; a crash between the lines and
the commit leaves lines the chain does not mention, which verify accepts. :func:`recorded` reads
the events back for verify. Kept apart from ``checkpoints.py`` (the file format), which the
records and the chain's own module import, so that neither imports the other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .canonical import format_ts
from .checkpoints import Checkpoint, append_linked
from .errors import StorageError
from .settings import CHECKPOINT_WITNESS
from .signing import Signer
from .tables import AuditEventRow
from .users import SYSTEM_ACTOR

# The chain's record of each checkpoint written (details: seq, head, time, witness).
CHECKPOINT_ACTION = "audit.checkpoint"


def record(session: Session, signer: Signer, log: Path, witness: Path | None) -> Checkpoint:
    """Checkpoint the head locked by ``session``: the log's line, the witness's line, then the
    ``audit.checkpoint`` event in the same transaction; returns the log's checkpoint."""
    head = audit.read_head(session)  # already locked by the caller's write transaction
    time = format_ts(datetime.now(UTC))
    checkpoint = append_linked(log, signer, head.last_seq, head.last_hash, time)
    if witness is not None:
        try:
            append_linked(witness, signer, head.last_seq, head.last_hash, time)
        except OSError as exc:
            raise StorageError(
                f"The checkpoint of event {head.last_seq} could not be written to the witness "
                f"{witness} ({exc}); what was done before it is saved. Make the file writable "
                f"(or unset {CHECKPOINT_WITNESS}) and run 'python -m storage checkpoint'."
            ) from exc
    details = {
        "seq": head.last_seq,
        "head": head.last_hash,
        "time": time,
        "witness": witness is not None,
    }
    audit.append(session, SYSTEM_ACTOR, CHECKPOINT_ACTION, "audit", "checkpoint", details)
    return checkpoint


@dataclass(frozen=True)
class RecordedCheckpoint:
    """A checkpoint as the chain records it (event ``event_seq``)."""

    event_seq: int
    seq: int
    head: str
    time: str
    witness: bool


def recorded(session: Session) -> list[RecordedCheckpoint]:
    """Every ``audit.checkpoint`` event of the chain, in order (their signatures are verify's)."""
    stmt = (
        select(AuditEventRow.seq, AuditEventRow.details)
        .where(AuditEventRow.action == CHECKPOINT_ACTION)
        .order_by(AuditEventRow.seq)
    )
    found = []
    for event_seq, text in session.execute(stmt):
        try:
            doc = json.loads(text)
            found.append(
                RecordedCheckpoint(
                    event_seq,
                    int(doc["seq"]),
                    str(doc["head"]),
                    str(doc["time"]),
                    bool(doc.get("witness", False)),
                )
            )
        except (ValueError, KeyError, TypeError):  # an edited event: its hash check names it
            continue
    return found
