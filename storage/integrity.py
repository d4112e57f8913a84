"""Full verification of the audit trail: hash links, every signature, every checkpoint.

What each check catches (the README's table says the same, each row backed by a test):

* hash links (``audit.verify``): edits, deletions, insertions, reorders by anyone who does not
  recompute hashes;
* signatures: the same *with* recomputed hashes, because the rewriter cannot sign without the
  private key, which is not in the database;
* checkpoints (signed, kept outside the database): truncation of the newest events, and a history
  re-signed by someone holding the key, up to the last checkpoint the log (or a copy in a
  report) holds;
* the checkpoint log itself (``checkpoint_logs.py``): every checkpoint is also an
  ``audit.checkpoint`` event, so a deleted, emptied or trimmed log (or witness) is caught, and its
  lines link, so lines removed from the middle are too;
* the rows the chain describes (``record_check.py``): a submission, user, API key or switch
  edited behind the store (reason ``record-mismatch``), once the chain itself holds.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, checkpoint_events, checkpoint_logs, record_check
from .records import VerifyResult
from .settings import CHECKPOINT_WITNESS
from .signing import Keyring, SigningKeyError
from .tables import AuditEventRow

# Audit actions written by the migration that signs an older plain chain (chain_signing.py).
CHAIN_SIGNED = "chain.signed"
CHAIN_ACCEPTED_BROKEN = "chain.accepted_broken"
# VerifyResult.reason when the chain holds but a row it describes says something else.
RECORD_MISMATCH = "record-mismatch"


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


def verify(session: Session, keyring: Keyring | None, logs: Logs, where: str) -> VerifyResult:
    """Everything in one snapshot; ``keyring`` None only when there is nothing signed to check."""
    plain = audit.verify(session)
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
    return _anchored(session, keyring, base, logs, plain, lenient_until, at_write, at_migration)


@dataclass(frozen=True)
class Logs:
    """The checkpoint files verify compares the chain with.

    ``log``: the store's own log (or, with ``log_is_copy``, a copy of a few checkpoints, e.g.
    from a report, checked line by line only); ``witness``: the second file that receives every
    checkpoint (``STEERING_CHECKPOINT_WITNESS``, or ``verify --witness FILE``), None when unset.
    """

    log: Path | None
    log_is_copy: bool = False
    witness: Path | None = None


def _anchored(
    session: Session,
    keyring: Keyring,
    base: VerifyResult,
    logs: Logs,
    plain: VerifyResult,
    lenient_until: int,
    at_write: int,
    at_migration: int,
) -> VerifyResult:
    """The chain links and is signed: now the checkpoint logs, then the rows it describes."""
    head = audit.read_head(session)
    recorded = checkpoint_events.recorded(session)
    count, latest, problems = 0, None, []
    first_recorded = checkpoint_logs.recorded_problem(session, recorded)
    if first_recorded is not None:
        problems.append(first_recorded)
    if logs.log is not None:
        own = checkpoint_logs.check_log(
            session, keyring, logs.log, head, None if logs.log_is_copy else recorded
        )
        count, latest = own.count, own.latest
        problems += [own.problem] if own.problem else []
    witnessed = [r for r in recorded if r.witness]
    if logs.witness is not None:
        seen = checkpoint_logs.check_log(
            session, keyring, logs.witness, head, witnessed, "checkpoint witness"
        )
        problems += [seen.problem] if seen.problem else []
    total = head.last_seq
    if problems:
        seq, reason, message = min(problems, key=lambda p: p[0])
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
    mismatches = record_check.record_problems(session)
    if mismatches:
        shown = " ".join(mismatches[:5])
        more = f" ({len(mismatches) - 5} more)" if len(mismatches) > 5 else ""
        return dataclasses.replace(
            base,
            ok=False,
            count=total,
            first_broken_seq=None,
            reason=RECORD_MISMATCH,
            message=f"The stored records do not match the signed audit trail: {shown}{more}",
            checkpoints=count,
            latest_checkpoint=latest,
        )
    how = f"{at_write} signed at write time"
    if at_migration:
        how += f", {at_migration} signed at migration"
    if lenient_until:
        how += f"; the old chain was accepted as broken at event {plain.first_broken_seq}"
    message = f"audit chain ok: {total} events ({how}); {count} checkpoints match"
    if logs.witness is not None:
        message += f", and the witness holds all {len(witnessed)} written to it"
    elif witnessed:
        message += (
            f" (the witness that received {len(witnessed)} of them was not checked: set "
            f"{CHECKPOINT_WITNESS} or pass --witness FILE)"
        )
    message += "; the stored records match it"
    return dataclasses.replace(
        base,
        ok=True,
        count=total,
        first_broken_seq=None,
        reason=None,
        message=message,
        checkpoints=count,
        latest_checkpoint=latest,
    )
