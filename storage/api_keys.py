"""The serving API's records: keys, the gate on submissions, switches, usage counters, samples.

Keys are 256-bit random secrets shown once when created; only their SHA-256 is stored. A slow
password hash (argon2, as for users) would protect nothing more here: nobody can guess a 256-bit
random value, so a leaked table gives no key, while every API request must look its key up fast.

The gate (:func:`served_submission`) is the one place that decides whether a key may use a
submission: only ``approved`` ones (the row, and the signed audit trail approving exactly that
row: ``signed_state.py``), only those the key is limited to, only while steering is switched on.
The caller applies exactly the strength and layers returned, nothing the request says.

Usage is one counter per (key, submission, UTC hour), incremented outside the audit chain, so a
busy API does not add one signed event per request. Key creation and revocation, and the two
switches, are audited. Prompts and answers are kept only while ``sampling`` is switched on.
The functions take the caller's session; :class:`storage.Store` wraps them in transactions.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from . import audit, tables, workflow
from .errors import (
    AlreadyExistsError,
    NotFoundError,
    PermissionDeniedError,
    StorageError,
    ValidationError,
)
from .records import RowRecord
from .signed_state import SignedApprovals, submission_fields

KEY_PREFIX = "cvl-"
STEERING = "steering"  # on unless an admin switches it off
SAMPLING = "sampling"  # off unless an admin switches it on
SWITCH_DEFAULTS = {STEERING: True, SAMPLING: False}
UNSTEERED = 0  # the submission id under which unsteered requests are counted
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class StoredApiKey(RowRecord):
    """An API key's label, limits and state (its hash never leaves the store)."""

    TABLE = tables.ApiKeyRow
    HIDE = frozenset({"key_hash"})

    id: int
    name: str
    prefix: str
    submissions: tuple[int, ...] | None
    active: bool
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    metrics: bool  # may also read GET /metrics (otherwise an ordinary key)


class SteeringOffError(StorageError):
    """An admin switched all steering off; unsteered requests are still served."""


@dataclass(frozen=True)
class ServedSubmission:
    """What the API applies for a request naming an approved submission, and for which model."""

    submission_id: int
    vector_id: int
    strength: float
    layers: tuple[int, ...]
    model_id: str | None
    model_fingerprint: str | None
    # The number format its evaluation ran in ("float32", "bfloat16"), which the API serves it
    # in; None for evaluations stored before formats were recorded. Read from the evaluation's
    # report, which its results hash (frozen in the submission's signed content) covers.
    dtype: str | None = None


@dataclass(frozen=True)
class UsageCount:
    """Requests one key made with one submission (0: unsteered) in one UTC hour, and of their
    prompts how many the vector was applied to and how many its gate left unsteered (a
    completions request with several prompts counts each; both 0 when unsteered)."""

    key_name: str
    submission_id: int
    hour: str
    count: int
    applied: int = 0
    not_applied: int = 0


@dataclass(frozen=True)
class ApiSample:
    """A kept prompt and answer (only while sampling is on)."""

    key_name: str
    submission_id: int
    messages: tuple[Any, ...]
    answer: str
    created_at: datetime


def new_secret() -> str:
    """A fresh key: the prefix (so a leaked one is recognisable) and 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hour_of(moment: datetime) -> str:
    """The UTC hour a request is counted under, e.g. ``2026-01-10T14``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(
            f"{name!r} is not a valid key name: use 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit (e.g. the calling team or service)."
        )
    return name


def _check_submissions(submissions: Any) -> list[int] | None:
    if submissions is None:
        return None
    ids = list(submissions)
    if not ids or any(isinstance(i, bool) or not isinstance(i, int) or i < 1 for i in ids):
        raise ValidationError(
            "Submissions must be a list of submission ids (whole numbers from 1), e.g. 3,7."
        )
    return sorted(set(ids))


def _key_row(s: Session, name: str) -> tables.ApiKeyRow:
    row = s.execute(select(tables.ApiKeyRow).where(tables.ApiKeyRow.name == name)).scalar()
    if row is None:
        raise NotFoundError(f"There is no API key named {name!r}; list them with 'api-keys'.")
    return row


def add_key(
    s: Session, name: str, submissions: Any, actor: str, metrics: bool = False
) -> tuple[StoredApiKey, str]:
    """Create a key (audited as ``api_key.create``); returns it and the secret, shown only now.
    ``metrics``: the key may also read ``GET /metrics``; it is otherwise an ordinary key."""
    _check_name(name)
    allowed = _check_submissions(submissions)
    for submission_id in allowed or ():
        if s.get(tables.SubmissionRow, submission_id) is None:
            raise NotFoundError(f"There is no submission with id {submission_id}.")
    if s.execute(select(tables.ApiKeyRow.id).where(tables.ApiKeyRow.name == name)).scalar():
        raise AlreadyExistsError(f"An API key named {name!r} already exists; choose another name.")
    secret = new_secret()
    row = tables.ApiKeyRow(
        name=name,
        key_hash=hash_secret(secret),
        prefix=secret[:8],
        submissions=allowed,
        active=True,
        created_by=actor,
        created_at=datetime.now(UTC),
        metrics=bool(metrics),
    )
    s.add(row)
    s.flush()
    audit.append(
        s,
        actor,
        "api_key.create",
        "api_key",
        name,
        {"prefix": row.prefix, "submissions": allowed, "metrics": bool(metrics)},
    )
    return StoredApiKey.from_row(row), secret


def revoke_key(s: Session, name: str, actor: str) -> StoredApiKey:
    """Revoke a key for good (audited as ``api_key.revoke``); its next request gets 401."""
    row = _key_row(s, name)
    if row.active:
        row.active = False
        row.revoked_at = datetime.now(UTC)
        audit.append(s, actor, "api_key.revoke", "api_key", name, {"prefix": row.prefix})
    return StoredApiKey.from_row(row)


def list_keys(s: Session) -> list[StoredApiKey]:
    rows = s.execute(select(tables.ApiKeyRow).order_by(tables.ApiKeyRow.name)).scalars()
    return [StoredApiKey.from_row(r) for r in rows]


def key_for_secret(s: Session, secret: str) -> StoredApiKey | None:
    """The active key whose secret this is, else None."""
    if not isinstance(secret, str) or not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    row = s.execute(
        select(tables.ApiKeyRow).where(tables.ApiKeyRow.key_hash == hash_secret(secret))
    ).scalar()
    return StoredApiKey.from_row(row) if row is not None and row.active else None


def switch(s: Session, name: str) -> bool:
    row = s.get(tables.ApiSwitchRow, name)
    return SWITCH_DEFAULTS[name] if row is None else bool(row.enabled)


def set_switch(s: Session, name: str, enabled: bool, actor: str) -> bool:
    """Turn ``steering`` or ``sampling`` on or off (audited as ``api.<name>_on|off``).

    Returns whether anything changed."""
    if name not in SWITCH_DEFAULTS:
        raise ValidationError(f"Unknown switch {name!r}: choose steering or sampling.")
    if switch(s, name) == bool(enabled):
        return False
    row = s.get(tables.ApiSwitchRow, name)
    if row is None:
        row = tables.ApiSwitchRow(name=name)
        s.add(row)
    row.enabled, row.changed_by, row.changed_at = bool(enabled), actor, datetime.now(UTC)
    s.flush()
    action = f"api.{name}_{'on' if enabled else 'off'}"
    audit.append(s, actor, action, "api", name, {"enabled": bool(enabled)})
    return True


_REFUSED = {
    workflow.DRAFT: "is a draft that was never submitted for review",
    workflow.SUBMITTED: "is waiting for review and has not been approved",
    workflow.REJECTED: "was rejected by a reviewer",
    workflow.REVOKED: "was approved but its approval has been revoked",
}


def served_submission(
    s: Session, key: StoredApiKey, submission_id: Any, approvals: SignedApprovals
) -> ServedSubmission:
    """The approved submission ``key`` may use, with its approved strength and layers.

    Raises PermissionDeniedError (the API answers 403) saying why when it may not, and
    SteeringOffError (503) when steering is switched off. A row that says approved is served
    only when ``approvals`` finds that the signed audit trail approved exactly it
    (RecordMismatchError, a PermissionDeniedError, otherwise)."""
    if isinstance(submission_id, bool) or not isinstance(submission_id, int):
        raise ValidationError(
            "control_vector.submission must be a submission id (a whole number), e.g. "
            '{"control_vector": {"submission": 3}}.'
        )
    if not switch(s, STEERING):
        raise SteeringOffError(
            "Steering is switched off by an administrator; requests without control_vector "
            "are still served."
        )
    if key.submissions is not None and submission_id not in key.submissions:
        raise PermissionDeniedError(
            f"The API key {key.name!r} is not allowed to use submission {submission_id}; ask an "
            "admin to create a key for it."
        )
    row = s.get(tables.SubmissionRow, submission_id)
    if row is None:
        raise PermissionDeniedError(f"There is no submission {submission_id}.")
    if row.status != workflow.APPROVED:
        why = _REFUSED.get(row.status, f"is {row.status}")
        raise PermissionDeniedError(
            f"Submission {submission_id} {why}; only approved submissions can be used."
        )
    approvals.confirm(s, submission_fields(s, row))
    vector = s.get_one(tables.VectorRow, row.vector_id)
    evaluation = s.get(tables.EvaluationRow, row.evaluation_id) if row.evaluation_id else None
    evaluated_in = (evaluation.results or {}).get("dtype") if evaluation is not None else None
    return ServedSubmission(
        submission_id=row.id,
        vector_id=row.vector_id,
        strength=float(row.strength),
        layers=tuple(int(i) for i in row.layers),
        model_id=vector.lineage.get("model_id"),
        model_fingerprint=vector.lineage.get("model_fingerprint"),
        dtype=str(evaluated_in) if evaluated_in else None,
    )


def usable_submissions(
    s: Session, key: StoredApiKey, approvals: SignedApprovals
) -> list[ServedSubmission]:
    """Every submission :func:`served_submission` would serve to ``key`` now, by id: approved
    (row and signed trail), among those the key is limited to; none while steering is off."""
    if not switch(s, STEERING):
        return []
    S = tables.SubmissionRow
    stmt = select(S.id).where(S.status == workflow.APPROVED).order_by(S.id)
    if key.submissions is not None:
        stmt = stmt.where(S.id.in_(list(key.submissions)))
    usable = []
    for submission_id in s.execute(stmt).scalars():
        try:
            usable.append(served_submission(s, key, int(submission_id), approvals))
        except PermissionDeniedError:  # e.g. the row says approved, the signed trail does not
            continue
    return usable


def count_use(
    s: Session,
    key_id: int,
    submission_id: int,
    moment: datetime,
    applied: int = 0,
    not_applied: int = 0,
) -> None:
    """Add one request to the (key, submission, hour) counter, creating it at 1, with its
    prompts the vector was ``applied`` to and those its gate left unsteered (``not_applied``)."""
    if applied < 0 or not_applied < 0:
        raise ValidationError("The applied and not-applied counts cannot be negative.")
    hour = hour_of(moment)
    U = tables.ApiUsageRow
    where = (U.key_id == key_id, U.submission_id == submission_id, U.hour == hour)
    added = {
        "count": U.count + 1,
        "applied": U.applied + applied,
        "not_applied": U.not_applied + not_applied,
    }
    result = s.execute(update(U).where(*where).values(**added))
    changed = cast(CursorResult[Any], result).rowcount
    if not changed:
        s.add(
            U(
                key_id=key_id,
                submission_id=submission_id,
                hour=hour,
                count=1,
                applied=applied,
                not_applied=not_applied,
            )
        )
        s.flush()


def usage(s: Session) -> list[UsageCount]:
    """Every counter, newest hour first, with the key's name."""
    U, K = tables.ApiUsageRow, tables.ApiKeyRow
    rows = s.execute(
        select(K.name, U.submission_id, U.hour, U.count, U.applied, U.not_applied)
        .join(K, K.id == U.key_id)
        .order_by(U.hour.desc(), K.name, U.submission_id)
    )
    return [UsageCount(*row) for row in rows]


def add_sample(
    s: Session, key_id: int, submission_id: int, messages: list[Any], answer: str
) -> None:
    s.add(
        tables.ApiSampleRow(
            key_id=key_id,
            submission_id=submission_id,
            messages=messages,
            answer=answer,
            created_at=datetime.now(UTC),
        )
    )


def samples(s: Session) -> list[ApiSample]:
    S, K = tables.ApiSampleRow, tables.ApiKeyRow
    rows = s.execute(
        select(K.name, S.submission_id, S.messages, S.answer, S.created_at)
        .join(K, K.id == S.key_id)
        .order_by(S.id)
    )
    return [ApiSample(n, sub, tuple(m), a, at) for n, sub, m, a, at in rows]
