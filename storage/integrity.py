"""Full verification of the audit trail: hash links, every signature, every checkpoint.

What each check catches (the README's table says the same, each row backed by a test):

* hash links (``audit.verify``): edits, deletions, insertions, reorders by anyone who does not
  recompute hashes;
* signatures: the same *with* recomputed hashes, because the rewriter cannot sign without the
  private key, which is not in the database;
* checkpoints (signed, kept outside the database): truncation of the newest events, and a history
  re-signed by someone holding the key, up to the last checkpoint the log (or a copy in a
  report) holds.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, checkpoints
from .records import VerifyResult
from .signing import Keyring, SigningKeyError
from .tables import AuditChainHeadRow, AuditEventRow

# Audit actions written by the migration that signs an older plain chain (chain_signing.py).
CHAIN_SIGNED = "chain.signed"
CHAIN_ACCEPTED_BROKEN = "chain.accepted_broken"


def _details(session: Session, action: str) -> tuple[int, dict] | None:
    row = session.execute(
        select(AuditEventRow).where(AuditEventRow.action == action).order_by(AuditEventRow.seq)
    ).scalar()
    if row is None:
        return None
    try:
        return row.seq, json.loads(row.details)
    except ValueError:
        return row.seq, {}


def _check_key_matches(session: Session, keyring: Keyring, where: str) -> None:
    """Exit-2 case: the public key given cannot be the one that signed this chain at all."""
    named = session.execute(
        select(AuditEventRow.key_id).where(AuditEventRow.key_id.is_not(None)).distinct()
    ).scalars()
    used = {key_id for key_id in named if key_id is not None}
    if used and not used & keyring.key_ids():
        raise SigningKeyError(
            f"The public key in {where} did not sign this audit trail: its events name key "
            f"{', '.join(sorted(used))}, the file lists {', '.join(sorted(keyring.key_ids()))}. "
            "Give the keyring of this deployment (audit-signing.pub)."
        )


def _walk_signatures(
    session: Session,
    keyring: Keyring,
    migration_head: int,
    lenient_until: int,
    accepted_mismatch: frozenset[int] = frozenset(),
) -> tuple[int, int, tuple[int, str] | None]:
    """Check every event's signature; returns (at write, at migration, first failure).

    ``lenient_until``: events up to here belong to an old chain an operator accepted as broken;
    their links are not checked, but each must still hash to its stored hash (except those the
    migration recorded as already not matching, ``accepted_mismatch``) and carry a valid
    signature, so nothing in them changed after the migration.
    """
    at_write = at_migration = 0
    prev: AuditEventRow | None = None
    stmt = select(AuditEventRow).order_by(AuditEventRow.seq).execution_options(yield_per=1000)
    for row in session.execute(stmt).scalars():
        if lenient_until:
            linked = prev is None or (row.prev_hash == prev.hash and row.seq == prev.seq + 1)
            if row.seq not in accepted_mismatch and not audit.content_ok(row):
                return at_write, at_migration, (row.seq, "edited")
            if row.seq > lenient_until + 1 and not linked:
                return at_write, at_migration, (row.seq, "edited")
        if not keyring.verify(row.seq, row.key_id, row.hash.encode("ascii"), row.sig):
            return at_write, at_migration, (row.seq, "bad-signature")
        if row.seq <= migration_head:
            at_migration += 1
        else:
            at_write += 1
        prev = row
    return at_write, at_migration, None


def _bad_signature_message(seq: int, row: AuditEventRow | None, keyring: Keyring) -> str:
    if row is not None and row.sig is None:
        return (
            f"Event {seq} is not signed. If this database predates signed audit trails, run "
            "'python -m storage migrate'; otherwise its signature was removed."
        )
    expected = keyring.entry_for(seq).key_id
    return (
        f"Event {seq} does not carry a valid signature by key {expected}: it was written or "
        "rewritten by someone without the signing key (recomputed hashes included)."
    )


def _check_checkpoints(
    session: Session, keyring: Keyring, log: Path, head: AuditChainHeadRow
) -> tuple[int, checkpoints.Checkpoint | None, tuple[int, str, str] | None]:
    """Compare every checkpoint in ``log`` with the database; (count, latest, first problem)."""
    lines = checkpoints.read_log(log)
    problems: list[tuple[int, str, str]] = []
    latest: checkpoints.Checkpoint | None = None
    for line in lines:
        cp = line.checkpoint
        if cp is None:
            problems.append(
                (
                    0,
                    "bad-signature",
                    f"Checkpoint line {line.number} of {log} is unreadable ({line.problem}).",
                )
            )
            continue
        if not checkpoints.is_authentic(keyring, cp):
            problems.append(
                (
                    cp.seq,
                    "bad-signature",
                    f"Checkpoint line {line.number} of {log} (event {cp.seq}, {cp.time}) is not "
                    "signed by the audit key: the checkpoint log was tampered with.",
                )
            )
            continue
        if latest is None or cp.seq >= latest.seq:
            latest = cp
        if cp.seq > head.last_seq:
            problems.append(
                (
                    head.last_seq + 1,
                    "truncated",
                    f"Events {head.last_seq + 1} to {cp.seq} were removed: the checkpoint of "
                    f"{cp.time} recorded {cp.seq} events, the database now has {head.last_seq}.",
                )
            )
            continue
        stored = (
            audit.GENESIS_HASH
            if cp.seq == 0
            else session.execute(
                select(AuditEventRow.hash).where(AuditEventRow.seq == cp.seq)
            ).scalar()
        )
        if stored != cp.head:
            problems.append(
                (
                    cp.seq,
                    "edited",
                    f"The history up to event {cp.seq} differs from the checkpoint of {cp.time}: "
                    "events up to there were rewritten and re-signed (by someone holding the "
                    "signing key).",
                )
            )
    first = min(problems, key=lambda p: p[0]) if problems else None
    return len(lines), latest, first


def verify(session: Session, keyring: Keyring | None, log: Path | None, where: str) -> VerifyResult:
    """Everything in one snapshot; ``keyring`` None only when there is nothing signed to check."""
    plain = audit.verify(session)
    head = audit.read_head(session)
    if keyring is None:
        if plain.count == 0 and plain.ok:
            return plain
        raise SigningKeyError(f"No public key to check the signatures with ({where}).")
    _check_key_matches(session, keyring, where)
    signed = _details(session, CHAIN_SIGNED)
    migration_head = int(signed[1].get("head_seq", 0)) if signed else 0
    accepted = _details(session, CHAIN_ACCEPTED_BROKEN)
    lenient_until, mismatch = 0, frozenset[int]()
    if not plain.ok and accepted is not None:
        accepted_seq = accepted[1].get("first_broken_seq")
        if plain.first_broken_seq is not None and plain.first_broken_seq == accepted_seq:
            lenient_until = migration_head  # the operator's recorded decision covers this break
            mismatch = frozenset(accepted[1].get("content_mismatch", []))
    at_write, at_migration, bad = _walk_signatures(
        session, keyring, migration_head, lenient_until, mismatch
    )
    base = dataclasses.replace(plain, signed_at_write=at_write, signed_at_migration=at_migration)
    plain_break = None if (plain.ok or lenient_until) else plain.first_broken_seq
    if bad is not None and (plain_break is None or bad[0] < plain_break):
        seq, reason = bad
        row = session.get(AuditEventRow, seq)
        message = (
            _bad_signature_message(seq, row, keyring)
            if reason == "bad-signature"
            else f"Event {seq} was edited after the migration signed it."
        )
        return dataclasses.replace(
            base, ok=False, count=seq - 1, first_broken_seq=seq, reason=reason, message=message
        )
    if plain_break is not None:
        return base
    count, latest, problem = (0, None, None)
    if log is not None:
        count, latest, problem = _check_checkpoints(session, keyring, log, head)
    total = head.last_seq
    if problem is not None:
        seq, reason, message = problem
        return dataclasses.replace(
            base,
            ok=False,
            count=max(seq - 1, 0),
            first_broken_seq=seq or None,
            reason=reason,
            message=message,
            checkpoints=count,
            latest_checkpoint=latest,
        )
    how = f"{at_write} signed at write time"
    if at_migration:
        how += f", {at_migration} signed at migration"
    if lenient_until:
        how += f"; the old chain was accepted as broken at event {plain.first_broken_seq}"
    return dataclasses.replace(
        base,
        ok=True,
        count=total,
        first_broken_seq=None,
        reason=None,
        message=f"audit chain ok: {total} events ({how}); {count} checkpoints match",
        checkpoints=count,
        latest_checkpoint=latest,
    )
