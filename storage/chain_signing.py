"""Sign an audit chain written before signing existed (``python -m storage migrate``).

The old plain chain is verified first: signing a chain that someone already rewrote would bless
the rewrite. A broken chain stops the migration with the first bad event named, unless the
operator accepts it (``--accept-broken-chain``), which is itself recorded as a
``chain.accepted_broken`` event. Then every existing event is signed in one transaction and a
``chain.signed`` event records the head at migration, so verify can say which events were signed
at write time and which at migration. Runs inside the store's write transaction (head locked).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit
from .errors import StorageError
from .integrity import CHAIN_ACCEPTED_BROKEN, CHAIN_SIGNED
from .signing import Signer
from .tables import AuditEventRow


class ChainBrokenError(StorageError):
    """The plain chain to be signed is already broken; nothing was signed."""


def unsigned_count(session: Session) -> int:
    return session.execute(
        select(func.count()).select_from(AuditEventRow).where(AuditEventRow.sig.is_(None))
    ).scalar_one()


def signed_count(session: Session) -> int:
    return session.execute(
        select(func.count()).select_from(AuditEventRow).where(AuditEventRow.sig.is_not(None))
    ).scalar_one()


def sign_existing(session: Session, signer: Signer, *, accept_broken: bool, actor: str) -> int:
    """Sign every event of a never-signed chain; returns how many were signed (0: nothing to do).

    Refuses a chain that already has signed events: signatures removed from a signed chain are
    damage for verify to report, not something to paper over by signing again.
    """
    todo = unsigned_count(session)
    if todo == 0:
        return 0
    if signed_count(session):
        raise ChainBrokenError(
            f"{todo} audit events have no signature although the chain is already signed: they "
            "were inserted or stripped by someone without the key. Run 'python -m storage "
            "verify' to see the first one; nothing was signed."
        )
    plain = audit.verify(session)
    if not plain.ok and not accept_broken:
        raise ChainBrokenError(
            f"The existing audit chain is broken at event {plain.first_broken_seq} "
            f"({plain.reason}): {plain.message} Nothing was signed. Find out what happened; to "
            "sign it as it is anyway, run 'python -m storage migrate --accept-broken-chain' "
            "(that decision is recorded in the audit trail)."
        )
    head_seq, head_hash = plain.head_seq, plain.head_hash
    rows = session.execute(
        select(AuditEventRow).where(AuditEventRow.sig.is_(None)).order_by(AuditEventRow.seq)
    ).scalars()
    mismatched = []  # events whose content already did not match their hash: named, not hidden
    for row in rows:
        row.sig = audit.sign_hash(signer, row.hash)
        row.key_id = signer.key_id
        if not plain.ok and not audit.content_ok(row):
            mismatched.append(row.seq)
    session.flush()
    if not plain.ok:
        audit.append(
            session,
            actor,
            CHAIN_ACCEPTED_BROKEN,
            "audit",
            "chain",
            {
                "first_broken_seq": plain.first_broken_seq,
                "reason": plain.reason,
                "message": plain.message,
                "content_mismatch": mismatched,
            },
        )
    audit.append(
        session,
        actor,
        CHAIN_SIGNED,
        "audit",
        "chain",
        {"head_seq": head_seq, "head_hash": head_hash, "events": todo, "key_id": signer.key_id},
    )
    return todo
