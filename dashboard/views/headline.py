"""The headline box a manager reads first (the report's and the Review tab's): the decision, the
recommendation, one sentence when they disagree, what the vector is for and, where a score is
below guessing, why that can happen.

Every sentence speaks about people in the third person: the report is read by people who took
none of the decisions in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dashboard.views.common import md, one_line
from dashboard.views.compare import recommendation_markdown
from steering.evaluation.results import EvaluationReport, Recommendation
from storage import StoredReview, StoredSubmission
from storage.workflow import APPROVED, DRAFT, SUBMITTED, AgainstEvidence

# How a reviewer's decision is named as a verb ("Approved by bo") and as a state.
_DONE = {"approve": "Approved", "reject": "Rejected", "revoke": "Approval revoked"}

# What the evidence says, said after "although" or "as".
_EVIDENCE_SAYS = {
    Recommendation.DEPLOY: "the evidence says deploy",
    Recommendation.DO_NOT_DEPLOY: "the evidence says do not deploy",
    Recommendation.NOT_ENOUGH_EVIDENCE: "the evidence is not enough to recommend deploying",
}


@dataclass(frozen=True)
class Headline:
    """The box's sentences as Markdown (user text escaped), each empty when it does not apply."""

    decision: str
    recommendation: str
    disagreement: str  # the decision goes against the recommendation
    submitted_against: str  # the builder submitted against the evidence, with their reason
    purpose: str
    below_guessing: str

    def markdown(self) -> str:
        """The whole box as one Markdown text, in the order the report shows it."""
        parts = (
            self.decision,
            self.recommendation,
            self.disagreement,
            self.submitted_against,
            self.purpose,
            self.below_guessing,
        )
        return "\n\n".join(part for part in parts if part)


def when_text(moment: datetime) -> str:
    """``2 Dec 2025, 14:03 UTC``: a date a manager reads without thinking about formats."""
    return f"{moment.day} {moment:%b %Y}, {moment:%H:%M} UTC"


def _quoted(text: str) -> str:
    return f"“{md(text.strip())}”"


def latest_decision(sub: StoredSubmission) -> StoredReview | None:
    """The review that set the submission's present state (None while nobody has decided)."""
    return sub.reviews[-1] if sub.reviews and sub.status not in (DRAFT, SUBMITTED) else None


def decision_markdown(sub: StoredSubmission, *, comment: bool = True) -> str:
    """Who decided what and when, with the reviewer's comment (unless ``comment`` is False: the
    disagreement sentence quotes it); or that nobody has decided yet."""
    review = latest_decision(sub)
    if review is None:
        if sub.status == DRAFT:
            return f"**Decision: none yet.** {md(sub.created_by)} has not submitted it for review."
        return (
            f"**Decision: waiting for a reviewer.** Submitted by {md(sub.created_by)}; nobody "
            "has approved or rejected it yet."
        )
    said = f" Comment: {_quoted(review.comment)}" if comment and review.comment.strip() else ""
    return (
        f"**Decision: {md(sub.status)}** by {md(review.reviewer)} on "
        f"{when_text(review.created_at)}.{said}"
    )


def _follows_evidence(recommendation: Recommendation, flag: AgainstEvidence | None) -> bool:
    return recommendation is Recommendation.DEPLOY and flag is None


def disagreement_markdown(
    sub: StoredSubmission, recommendation: Recommendation, flag: AgainstEvidence | None
) -> str:
    """One plain sentence when the decision goes against the evidence: approved although the
    evidence does not support deploying, or rejected or revoked although it does."""
    review = latest_decision(sub)
    if review is None:
        return ""
    approving = sub.status == APPROVED
    if approving == _follows_evidence(recommendation, flag):
        return ""
    if approving and recommendation is Recommendation.DEPLOY and flag is not None:
        # The recommendation is to deploy, but not at the strength that was approved.
        says = flag.concern[:1].lower() + flag.concern[1:].rstrip(".")
    else:
        says = _EVIDENCE_SAYS[recommendation]
    reason = (
        f" Their reason: {_quoted(review.comment)}"
        if review.comment.strip()
        else " They gave no reason."
    )
    who = md(review.reviewer)
    return (
        f"{_DONE.get(review.decision, md(sub.status))} by {who} on "
        f"{review.created_at.day} {review.created_at:%b} although {says}.{reason}"
    )


def submitted_against_markdown(sub: StoredSubmission, flag: AgainstEvidence | None) -> str:
    """The builder's submission against the evidence, with their reason, in the third person."""
    if flag is None:
        return ""
    reason = (
        f"Their reason: {_quoted(flag.reason)}"
        if flag.reason
        else "Their reason is in the submit event of the audit trail."
    )
    return (
        f"⚠ **Submitted against the evidence** by {md(sub.created_by)}: "
        f"{md(flag.concern[:1].lower() + flag.concern[1:])} {reason}"
    )


def purpose_markdown(report: EvaluationReport, lineage: Mapping[str, Any]) -> str:
    """What the vector is for: the model it steers and the task of its example set, shown by one
    of the questions it was measured on."""
    model = lineage.get("model_name") or lineage.get("model_id") or report.model
    name = str(lineage.get("dataset_name") or "")
    task = f"the example set {_quoted(name)}" if name else "its example set"
    text = (
        f"**What it is for:** making the model {md(model or 'it was built on')} answer "
        f"questions like those of {task} correctly more often"
    )
    if report.samples:
        text += f", for example {_quoted(one_line(report.samples[0].prompt, 140))}"
    return text + "."


def below_guessing_markdown(report: EvaluationReport, submitted: float | None) -> str:
    """Why a score below guessing is possible, when a score the box names is below it."""
    if report.chance is None:
        return ""
    base = report.baseline
    steered = report.result_at(submitted) if submitted else None
    below = []
    if base is not None and base.accuracy < report.chance:
        below.append(f"the model without the vector gets {base.accuracy:.0%} right")
    if steered is not None and steered.accuracy < report.chance:
        below.append(f"at strength {steered.alpha:g} the model gets {steered.accuracy:.0%} right")
    if not below:
        return ""
    scores = " and ".join(below)
    return (
        f"**Below guessing:** {scores[0].upper() + scores[1:]}, less than the "
        f"{report.chance:.0%} that picking at random gets, because on multiple-choice questions "
        "the model picks the option it finds most likely, and a small model (a base model above "
        "all, one not tuned to answer questions) or a vector pushing it off course can keep "
        "preferring a wrong option; the test is not broken."
    )


def headline(
    sub: StoredSubmission,
    report: EvaluationReport,
    lineage: Mapping[str, Any],
    flag: AgainstEvidence | None,
) -> Headline:
    """The box for one submission and its evaluation (``flag``: it went against the evidence)."""
    recommendation = report.outcome.recommendation
    disagreement = disagreement_markdown(sub, recommendation, flag)
    return Headline(
        decision=decision_markdown(sub, comment=not disagreement),
        recommendation=recommendation_markdown(report, sub.strength),
        disagreement=disagreement,
        submitted_against=submitted_against_markdown(sub, flag),
        purpose=purpose_markdown(report, lineage),
        below_guessing=below_guessing_markdown(report, sub.strength),
    )
