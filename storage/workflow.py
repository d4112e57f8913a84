"""The review workflow's rules, free of any database code so they can be read in one screen.

States: draft -> submitted -> approved | rejected; approved -> revoked. Nothing else, nothing is
deleted. Four eyes: whoever created a submission cannot review it, whatever their role; only
reviewers and admins review or revoke; every decision carries a comment (the product brief asks
for "approve or reject with a mandatory comment", and a revocation must say why).
"""

from __future__ import annotations

import math

from .errors import PermissionDeniedError, ValidationError, WorkflowError

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
REVIEWER_ROLES = frozenset({"reviewer", "admin"})
MAX_COMMENT = 5000

_WHAT_NEXT = {
    DRAFT: "submit it first",
    SUBMITTED: "it is waiting for a reviewer's decision",
    APPROVED: "an approved submission can only be revoked",
    REJECTED: "a rejected submission is final; create a new submission instead",
    REVOKED: "a revoked submission is final; create a new submission instead",
}


def check_transition(submission_id: int, current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        verb = {
            SUBMITTED: "submitted",
            APPROVED: "approved",
            REJECTED: "rejected",
            REVOKED: "revoked",
        }.get(target, target)
        raise WorkflowError(
            f"Submission {submission_id} is {current} and cannot be {verb}: "
            f"{_WHAT_NEXT.get(current, 'no change is allowed')}."
        )


def check_reviewer(submission_id: int, actor: str, role: str, creator: str, action: str) -> None:
    if role not in REVIEWER_ROLES:
        raise PermissionDeniedError(
            f"{actor} is a {role}; only reviewers and admins can {action} submissions."
        )
    if action != "revoke" and actor == creator:
        raise PermissionDeniedError(
            f"{actor} created submission {submission_id} and cannot review it (four-eyes "
            "rule); ask another reviewer."
        )


def check_comment(comment: str, action: str) -> str:
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
