"""The review workflow's rules, free of any database code so they can be read in one screen.

States: draft -> submitted -> approved | rejected; approved -> revoked. Nothing else, nothing is
deleted. Four eyes: whoever created a submission cannot approve or reject it, whatever their role;
only reviewers and admins review or revoke; every decision carries a comment (the product brief
asks for "approve or reject with a mandatory comment", and a revocation must say why).

This module is the one owner of these rules: the store enforces them through :func:`refusal` and
the dashboard asks :func:`available_actions` / :func:`may_review` which buttons to offer, so the
two can never disagree.
"""

from __future__ import annotations

import math

from .errors import PermissionDeniedError, StorageError, ValidationError, WorkflowError

# The one list of role names (users.py validates against it; the migration's CHECK mirrors it).
ROLES: tuple[str, ...] = ("builder", "reviewer", "admin")
REVIEWER_ROLES = frozenset({"reviewer", "admin"})

DRAFT, SUBMITTED, APPROVED, REJECTED, REVOKED = (
    "draft",
    "submitted",
    "approved",
    "rejected",
    "revoked",
)
STATUSES = (DRAFT, SUBMITTED, APPROVED, REJECTED, REVOKED)

TRANSITIONS: dict[str, frozenset[str]] = {
    DRAFT: frozenset({SUBMITTED}),
    SUBMITTED: frozenset({APPROVED, REJECTED}),
    APPROVED: frozenset({REVOKED}),
    REJECTED: frozenset(),
    REVOKED: frozenset(),
}

DECISIONS = {"approve": APPROVED, "reject": REJECTED}
# What a reviewer may do to a submission, in the order the dashboard shows the buttons.
ACTIONS: dict[str, str] = {"approve": APPROVED, "reject": REJECTED, "revoke": REVOKED}
MAX_COMMENT = 5000

_WHAT_NEXT = {
    DRAFT: "submit it first",
    SUBMITTED: "it is waiting for a reviewer's decision",
    APPROVED: "an approved submission can only be revoked",
    REJECTED: "a rejected submission is final; create a new submission instead",
    REVOKED: "a revoked submission is final; create a new submission instead",
}
_PAST = {SUBMITTED: "submitted", APPROVED: "approved", REJECTED: "rejected", REVOKED: "revoked"}


class Refusal(str):
    """The plain message of a refusal, which also knows the error the store raises for it.

    It *is* the message (a ``str``), so the dashboard can show it as is; the store raises
    ``refusal.error(refusal)``, so both read the same rule and the same words.
    """

    error: type[StorageError]

    def __new__(cls, message: str, error: type[StorageError]) -> Refusal:
        made = super().__new__(cls, message)
        made.error = error
        return made


def may_review(role: str) -> bool:
    """Whether this role may approve, reject or revoke at all (reviewers and admins)."""
    return role in REVIEWER_ROLES


def _transition_refusal(submission_id: int, current: str, target: str) -> Refusal | None:
    if target in TRANSITIONS.get(current, frozenset()):
        return None
    return Refusal(
        f"Submission {submission_id} is {current} and cannot be {_PAST.get(target, target)}: "
        f"{_WHAT_NEXT.get(current, 'no change is allowed')}.",
        WorkflowError,
    )


def refusal(
    action: str, *, actor: str, role: str, creator: str, status: str, submission_id: int
) -> Refusal | None:
    """Why ``actor`` may not ``action`` ("approve" | "reject" | "revoke") this submission, or None.

    Checked in this order: the role, four eyes (not for revoke: withdrawing an approval of your
    own work is always allowed to a reviewer), then whether the state allows the transition.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown review action {action!r}; expected one of {tuple(ACTIONS)}")
    if not may_review(role):
        return Refusal(
            f"{actor} is a {role}; only reviewers and admins can {action} submissions.",
            PermissionDeniedError,
        )
    if action != "revoke" and actor == creator:
        return Refusal(
            f"{actor} created submission {submission_id} and cannot review it (four-eyes "
            "rule); ask another reviewer.",
            PermissionDeniedError,
        )
    return _transition_refusal(submission_id, status, ACTIONS[action])


def available_actions(*, actor: str, role: str, creator: str, status: str) -> tuple[str, ...]:
    """The review actions ``refusal`` allows, in the order approve, reject, revoke."""
    return tuple(
        action
        for action in ACTIONS
        if refusal(action, actor=actor, role=role, creator=creator, status=status, submission_id=0)
        is None
    )


def check_transition(submission_id: int, current: str, target: str) -> None:
    """Raise WorkflowError unless ``current -> target`` is one of the allowed transitions."""
    refused = _transition_refusal(submission_id, current, target)
    if refused is not None:
        raise refused.error(refused)


def check_comment(comment: str, action: str) -> str:
    """The stripped comment; a decision without one (or an endless one) is refused."""
    if not isinstance(comment, str) or not comment.strip():
        raise ValidationError(f"Please write a comment explaining why you {action} it.")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise ValidationError(f"The comment is too long: keep it under {MAX_COMMENT} characters.")
    return comment


def check_draft_content(strength: float, layers: list[int] | tuple[int, ...]) -> list[int]:
    """Validate the chosen strength and layers; return the layers sorted, without duplicates."""
    if isinstance(strength, bool) or not isinstance(strength, int | float):
        raise ValidationError(f"The strength must be a number, not {strength!r}.")
    if not math.isfinite(strength):
        raise ValidationError("The strength must be a finite number.")
    if not isinstance(layers, list | tuple) or not layers:
        raise ValidationError("Choose at least one layer to steer.")
    if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in layers):
        raise ValidationError(
            f"Layers must be whole numbers of 0 or more (block indices), got {list(layers)!r}."
        )
    if len(set(layers)) != len(layers):
        raise ValidationError(f"A layer is listed twice in {list(layers)!r}.")
    return sorted(layers)
