"""``storage verify``'s comparison of the stored rows with what the signed chain says about them.

The chain is verified first (links, signatures, checkpoints); then every row it describes is
folded from its events and compared: submissions (status and frozen content, as for serving in
``signed_state.py``), users' roles and active flags, API keys' revocation, limits, prefix and
metrics right,
and the steering and sampling switches. A row edited or added behind the store shows up here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import api_keys, tables
from .signed_state import (
    SUBMISSION_STATUS,
    SubmissionTrail,
    submission_fields,
    submission_mismatch,
)

USER_ACTIVE = {"user.create": True, "user.activate": True, "user.deactivate": False}
KEY_ACTIVE = {"api_key.create": True, "api_key.revoke": False}
SWITCH_ACTIONS = {
    f"api.{name}_{state}": (name, state == "on")
    for name in api_keys.SWITCH_DEFAULTS
    for state in ("on", "off")
}


@dataclass
class _Folded:
    """Every row the chain describes, as its events leave it."""

    submissions: dict[int, SubmissionTrail] = field(default_factory=dict)
    users: dict[str, tuple[int, str | None, bool]] = field(default_factory=dict)
    keys: dict[str, tuple[int, bool, Any, str | None, bool]] = field(default_factory=dict)
    switches: dict[str, tuple[int, bool]] = field(default_factory=dict)


def _fold_all(s: Session) -> _Folded:
    E = tables.AuditEventRow
    actions = [*SUBMISSION_STATUS, *USER_ACTIVE, *KEY_ACTIVE, *SWITCH_ACTIONS]
    stmt = (
        select(E.seq, E.action, E.actor, E.object_id, E.details)
        .where(E.action.in_(actions))
        .order_by(E.seq)
        .execution_options(yield_per=1000)
    )
    folded = _Folded()
    for seq, action, actor, object_id, text in s.execute(stmt):
        details = json.loads(text)
        if action in SUBMISSION_STATUS:
            if object_id.isdigit():
                folded.submissions.setdefault(int(object_id), SubmissionTrail()).fold(
                    seq, action, actor, details
                )
        elif action in USER_ACTIVE:
            _, role, _ = folded.users.get(object_id, (0, None, True))
            role = details.get("role", role) if action == "user.create" else role
            folded.users[object_id] = (seq, role, USER_ACTIVE[action])
        elif action in KEY_ACTIVE:
            _, _, limits, prefix, metrics = folded.keys.get(object_id, (0, True, None, None, False))
            if action == "api_key.create":
                limits, prefix = details.get("submissions"), details.get("prefix")
                metrics = bool(details.get("metrics", False))  # keys made before 0006: none
            folded.keys[object_id] = (seq, KEY_ACTIVE[action], limits, prefix, metrics)
        else:
            name, enabled = SWITCH_ACTIONS[action]
            folded.switches[name] = (seq, enabled)
    return folded


def _compare(what: str, pairs: Iterable[tuple[str, Any, Any]], seq: int) -> list[str]:
    """The first field of ``pairs`` (name, stored, signed) that differs, said as a problem."""
    for name, stored, signed in pairs:
        if stored != signed:
            return [
                f"{what}: {name} is {stored!r} in the database but {signed!r} in the signed "
                f"audit trail (its event {seq})."
            ]
    return []


def record_problems(s: Session) -> list[str]:
    """Every stored row that differs from what the (already verified) chain says about it.

    Rows are compared with the chain, not the other way round: a row the chain describes but the
    database lacks gives nothing anyone could use, while an edited or added row could be served.
    """
    folded = _fold_all(s)
    problems: list[str] = []
    for row in s.execute(select(tables.SubmissionRow).order_by(tables.SubmissionRow.id)).scalars():
        trail = folded.submissions.get(row.id, SubmissionTrail())
        found = submission_mismatch(submission_fields(s, row), trail)
        if found:
            problems.append(found)
    for user in s.execute(select(tables.UserRow).order_by(tables.UserRow.name)).scalars():
        if user.name not in folded.users:
            problems.append(
                f"User {user.name!r} is in the database but was never created in the "
                "signed audit trail."
            )
            continue
        seq, role, active = folded.users[user.name]
        pairs: tuple[tuple[str, Any, Any], ...] = (
            ("role", user.role, role),
            ("active", bool(user.active), active),
        )
        problems += _compare(f"User {user.name!r}", pairs, seq)
    for key in s.execute(select(tables.ApiKeyRow).order_by(tables.ApiKeyRow.name)).scalars():
        if key.name not in folded.keys:
            problems.append(
                f"API key {key.name!r} is in the database but was never created in "
                "the signed audit trail."
            )
            continue
        seq, active, limits, prefix, metrics = folded.keys[key.name]
        pairs = (
            ("active", bool(key.active), active),
            ("revoked", key.revoked_at is not None, not active),
            ("submissions", key.submissions, limits),
            ("prefix", key.prefix, prefix),
            ("metrics", bool(key.metrics), metrics),
        )
        problems += _compare(f"API key {key.name!r}", pairs, seq)
    for name, default in api_keys.SWITCH_DEFAULTS.items():
        seq, signed = folded.switches.get(name, (0, default))
        pairs = (("enabled", api_keys.switch(s, name), signed),)
        problems += _compare(f"The API switch {name!r}", pairs, seq)
    return problems
