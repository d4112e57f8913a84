"""Checking checkpoint logs against the chain: the store's log, its witness, or a copy.

Every line must be signed by the audit key and match the database (a checkpoint past the head:
events were truncated; another hash at its seq: history was rewritten by a key holder). A whole
log (the store's own, the witness, ``verify --witness FILE``) must also link line to line and
hold every checkpoint the chain records as written to it (``audit.checkpoint`` events), so
deleting, emptying or trimming it is caught. A copy of a few checkpoints (one taken from a report
or an export, ``verify --checkpoints FILE``) is checked line by line only: it holds what it holds.

Old lines, written before lines were linked, carry no ``prev``: they are accepted before the
first linked line of a file (a store's log from before the link existed), never after one (the
key holder alone writes lines, so an old line after a linked one was moved there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, checkpoints
from .checkpoint_events import RecordedCheckpoint
from .checkpoints import Checkpoint
from .signing import Keyring
from .tables import AuditChainHeadRow, AuditEventRow

# (first event concerned, reason, message), as integrity.verify reports it
Problem = tuple[int, str, str]
MISSING = "checkpoint-missing"
UNLINKED = "checkpoint-unlinked"


@dataclass(frozen=True)
class LogCheck:
    """How many lines were read, the newest authentic checkpoint, the first problem."""

    count: int
    latest: Checkpoint | None
    problem: Problem | None


def _stored_hash(session: Session, seq: int) -> str | None:
    if seq == 0:
        return audit.GENESIS_HASH
    return session.execute(select(AuditEventRow.hash).where(AuditEventRow.seq == seq)).scalar()


def _against_database(
    session: Session, cp: Checkpoint, head: AuditChainHeadRow, where: str
) -> Problem | None:
    if cp.seq > head.last_seq:
        return (
            head.last_seq + 1,
            "truncated",
            f"Events {head.last_seq + 1} to {cp.seq} were removed: the checkpoint of {cp.time} "
            f"in {where} recorded {cp.seq} events, the database now has {head.last_seq}.",
        )
    if _stored_hash(session, cp.seq) != cp.head:
        return (
            cp.seq,
            "edited",
            f"The history up to event {cp.seq} differs from the checkpoint of {cp.time} in "
            f"{where}: events up to there were rewritten and re-signed (by someone holding the "
            "signing key).",
        )
    return None


def _link_problem(
    line: checkpoints.LogLine, previous: str | None, seen_linked: bool, where: str
) -> Problem | None:
    cp = line.checkpoint
    assert cp is not None
    if cp.prev is None:
        if not seen_linked:
            return None  # an old line, before any linked one: the tolerated old format
        return (
            cp.seq,
            UNLINKED,
            f"Line {line.number} of {where} is an unlinked (old-format) line after linked ones: "
            "it was moved or copied there.",
        )
    expected = checkpoints.FIRST_PREV if previous is None else checkpoints.line_hash(previous)
    if cp.prev == expected:
        return None
    return (
        cp.seq,
        UNLINKED,
        f"Line {line.number} of {where} does not link to the line before it: lines were "
        "removed, inserted or reordered there.",
    )


def _missing(
    path: Path, found: set[tuple[int, str, str]], required: list[RecordedCheckpoint], what: str
) -> Problem | None:
    if not required:
        return None
    if not found:
        last = required[-1]
        state = "empty" if path.exists() else "missing"
        return (
            required[0].event_seq,
            MISSING,
            f"The {what} {path} is {state}, but the audit trail records {len(required)} "
            f"checkpoint{'' if len(required) == 1 else 's'} written to it (the last of "
            f"{last.time}, at event {last.event_seq}): it was deleted or emptied.",
        )
    for r in required:
        if (r.seq, r.head, r.time) not in found:
            return (
                r.event_seq,
                MISSING,
                f"The {what} {path} lacks the checkpoint of {r.time} (event {r.seq}) that the "
                f"audit trail records at event {r.event_seq}: lines were removed from it.",
            )
    return None


def check_log(
    session: Session,
    keyring: Keyring,
    path: Path,
    head: AuditChainHeadRow,
    required: list[RecordedCheckpoint] | None,
    what: str = "checkpoint log",
) -> LogCheck:
    """Compare the log at ``path`` with the database. ``required``: the checkpoints the chain
    records as written to this file (a whole log, linked); None for a copy of a few lines."""
    lines = checkpoints.read_log(path)
    where = str(path)
    problems: list[Problem] = []
    latest: Checkpoint | None = None
    found: set[tuple[int, str, str]] = set()
    previous: str | None = None
    seen_linked = False
    for line in lines:
        cp = line.checkpoint
        if cp is None:
            problems.append(
                (
                    0,
                    "bad-signature",
                    f"Checkpoint line {line.number} of {where} is unreadable ({line.problem}).",
                )
            )
        elif not checkpoints.is_authentic(keyring, cp):
            problems.append(
                (
                    cp.seq,
                    "bad-signature",
                    f"Checkpoint line {line.number} of {where} (event {cp.seq}, {cp.time}) is "
                    "not signed by the audit key: the checkpoint log was tampered with.",
                )
            )
        else:
            if latest is None or cp.seq >= latest.seq:
                latest = cp
            found.add((cp.seq, cp.head, cp.time))
            problem = _against_database(session, cp, head, where)
            if required is not None and problem is None:
                problem = _link_problem(line, previous, seen_linked, where)
            if problem is not None:
                problems.append(problem)
            seen_linked = seen_linked or cp.prev is not None
        previous = line.text
    if required is not None:
        missing = _missing(path, found, required, what)
        if missing is not None:  # first: at a tie it says more than the broken link it leaves
            problems.insert(0, missing)
    first = min(problems, key=lambda p: p[0]) if problems else None
    return LogCheck(len(lines), latest, first)


def recorded_problem(session: Session, recorded: list[RecordedCheckpoint]) -> Problem | None:
    """The first checkpoint the chain records whose head is no longer the database's."""
    for r in recorded:
        if _stored_hash(session, r.seq) != r.head:
            return (
                r.seq,
                "edited",
                f"The history up to event {r.seq} differs from the checkpoint the audit trail "
                f"recorded at event {r.event_seq}: events up to there were rewritten.",
            )
    return None
