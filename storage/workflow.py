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
from dataclasses import dataclass
from typing import Any

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
    if strength == 0:
        raise ValidationError(
            "Strength 0 means no steering, so there is nothing to approve: submit one of the "
            "evaluated strengths other than 0."
        )
    if not isinstance(layers, list | tuple) or not layers:
        raise ValidationError("Choose at least one layer to steer.")
    if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in layers):
        raise ValidationError(
            f"Layers must be whole numbers of 0 or more (block indices), got {list(layers)!r}."
        )
    if len(set(layers)) != len(layers):
        raise ValidationError(f"A layer is listed twice in {list(layers)!r}.")
    return sorted(layers)


def _number_text(value: float) -> str:
    return f"{value:g}"


def _layers_text(layers: tuple[int, ...] | list[int]) -> str:
    return ", ".join(str(i) for i in layers)


def _layer_set(raw: object) -> tuple[int, ...] | None:
    """A stored layer list as a sorted tuple, or None when it is missing or not a list of ints."""
    if not isinstance(raw, list | tuple) or not raw:
        return None
    if any(isinstance(i, bool) or not isinstance(i, int) for i in raw):
        return None
    return tuple(sorted(set(raw)))


def evaluated_options(
    config: dict[str, object], results: dict[str, object]
) -> list[tuple[float, tuple[int, ...]]]:
    """The (strength, layer set) pairs an evaluation measured, strength 0 left out.

    Read from the stored JSON, not from the engine's types (the store never imports the engine):
    each entry of ``results["results"]`` has its ``alpha``, and its ``layers`` when it is a row of
    a layer sweep; otherwise the evaluation's layers are ``config["layers"]``.
    """
    rows = results.get("results")
    if not isinstance(rows, list):
        return []
    default_layers = _layer_set(config.get("layers"))
    options = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        alpha = row.get("alpha")
        if isinstance(alpha, bool) or not isinstance(alpha, int | float):
            continue
        if not math.isfinite(alpha) or alpha == 0:
            continue
        layers = _layer_set(row.get("layers")) or default_layers
        if layers is not None:
            options.append((float(alpha), layers))
    return options


def check_evaluated(
    strength: float,
    layers: list[int],
    evaluation_id: int,
    config: dict[str, object],
    results: dict[str, object],
) -> float:
    """The evaluated strength ``strength`` stands for; refuse anything the evaluation did not test.

    What is approved must be exactly what was evaluated (product brief): the strength must be one
    of the evaluation's strengths (a float typed back from a screen may differ in its last bits,
    so a match within 1e-9 counts and the evaluated value is what gets stored) and the layers one
    of its layer sets.
    """
    options = evaluated_options(config, results)
    if not options:
        raise ValidationError(
            f"Evaluation {evaluation_id} lists no strength other than 0 with the layers it "
            "tested, so there is nothing it could support. Run an evaluation at the strength "
            "you want reviewed."
        )
    strengths = sorted({alpha for alpha, _ in options})
    tested = ", ".join(_number_text(a) for a in strengths)
    matches = [
        (alpha, chosen)
        for alpha, chosen in options
        if math.isclose(alpha, strength, rel_tol=1e-9, abs_tol=1e-12)
    ]
    if not matches:
        raise ValidationError(
            f"Strength {_number_text(strength)} was not evaluated: evaluation {evaluation_id} "
            f"tested {tested}. Submit one of those, or run an evaluation that includes "
            f"{_number_text(strength)} first."
        )
    wanted = tuple(sorted(layers))
    for alpha, chosen in matches:
        if chosen == wanted:
            return alpha
    layer_sets = " or ".join(sorted({_layers_text(chosen) for _, chosen in matches}))
    raise ValidationError(
        f"Layers {_layers_text(wanted)} were not evaluated at strength {_number_text(strength)}: "
        f"evaluation {evaluation_id} tested layers {layer_sets}. Submit those layers, or run an "
        "evaluation on these first."
    )


# The evaluation outcomes (``EvaluationRow.outcome``, the engine's ``Verdict``) that recommend
# deploying; steering.evaluation.results.Verdict.recommendation maps the same (a test checks).
DEPLOY_OUTCOMES = frozenset({"improves"})


@dataclass(frozen=True)
class AgainstEvidence:
    """A submission that goes against its evaluation: what the evidence says, and the builder's
    reason for submitting anyway (None when none was given, e.g. through the store directly)."""

    concern: str
    reason: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {"concern": self.concern, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Any) -> AgainstEvidence | None:
        if not isinstance(data, dict) or not data.get("concern"):
            return None
        reason = data.get("reason")
        return cls(str(data["concern"]), None if reason is None else str(reason))


def check_reason(reason: str | None) -> str | None:
    """The stripped reason for deciding against the evidence, None when blank; capped in length."""
    if reason is None or not isinstance(reason, str) or not reason.strip():
        return None
    reason = reason.strip()
    if len(reason) > MAX_COMMENT:
        raise ValidationError(f"The reason is too long: keep it under {MAX_COMMENT} characters.")
    return reason


def against_evidence(
    strength: float, results: dict[str, object], outcome: str | None = None
) -> str | None:
    """Why submitting ``strength`` goes against the evaluation, in plain words, or None.

    People may decide against the evidence, but never unknowingly (product brief): a strength
    other than the one the evaluation chose, or an evaluation whose outcome does not recommend
    deploying, is flagged to the builder, the reviewer, the report and the audit trail. Not a
    refusal. Both are read from the results JSON (``chosen_alpha``, ``outcome``), which the
    evaluation's hash covers; ``outcome`` is the one the store keeps for JSON written before
    outcomes were (``StoredEvaluation.outcome``, filled by migration 0004). Without either there
    is no recommendation to deploy, so the submission is flagged too.
    """
    concerns = []
    chosen = results.get("chosen_alpha")
    if isinstance(chosen, int | float) and not isinstance(chosen, bool) and chosen != 0:
        if not math.isclose(float(chosen), float(strength), rel_tol=1e-9, abs_tol=1e-12):
            concerns.append(
                f"the evaluation chose strength {_number_text(float(chosen))}, not "
                f"{_number_text(float(strength))}"
            )
    else:
        concerns.append("the evaluation chose no strength (none did better than no vector)")
    named = results.get("outcome")
    if isinstance(named, str) and named:
        outcome = named
    if outcome not in DEPLOY_OUTCOMES:
        concerns.append("the evaluation's verdict does not recommend deploying the vector")
    if not concerns:
        return None
    text = "; ".join(concerns)
    return text[0].upper() + text[1:] + "."
