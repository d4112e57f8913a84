"""Decisions against the evidence: asked for a reason, flagged to the reviewer, in the audit trail.

The sample evaluation (``support.sample_report``) chose strength 0.5 and its verdict is "could be
chance" (not enough evidence): every submission of it goes against the evidence. A copy whose
outcome is "improves" submitted at its chosen strength does not.
"""

from __future__ import annotations

import dataclasses

import pytest

from dashboard.common import UserError
from dashboard.tabs import compare, review
from steering.evaluation.results import Verdict
from tests.app.support import (
    PASSWORD,
    REASON,
    attach_evaluation,
    builder_with_vector,
    login,
    sample_report,
)


def improving_report():
    """The sample evaluation at strengths 0, 0.5 and 1, its verdict "improves" at 0.5."""
    report = sample_report()
    one = dataclasses.replace(report.results[1], alpha=1.0, correct=6, accuracy=0.6)
    return dataclasses.replace(
        report, outcome=Verdict.IMPROVES, results=(*report.results, one), verdict="improves"
    )


def test_a_verdict_that_does_not_recommend_deploying_needs_a_reason(ctx, examples_file):
    builder = builder_with_vector(ctx, examples_file)
    attach_evaluation(ctx, builder)
    assert compare.evidence_concern(builder, 0.5) == (
        "The evaluation's verdict does not recommend deploying the vector."
    )
    with pytest.raises(UserError, match="write why in 'Why submit against the evidence'"):
        compare.submit(ctx, builder)
    with pytest.raises(UserError, match="goes against the evidence"):
        compare.submit(ctx, builder, reason="   ")
    assert ctx.store.list_submissions() == []  # nothing half-made
    message = compare.submit(ctx, builder, reason=REASON)
    assert message.endswith("It is flagged as going against the evidence, with your reason.")
    event = ctx.store.audit_events(action="submission.submit")[-1]
    assert event.details["against_evidence"] == {
        "concern": "The evaluation's verdict does not recommend deploying the vector.",
        "reason": REASON,
    }


def test_a_strength_the_evaluation_did_not_choose_is_flagged(ctx, examples_file):
    builder = builder_with_vector(ctx, examples_file)
    attach_evaluation(ctx, builder, improving_report())
    # The evaluation's choice, with a verdict to deploy: no question asked, no flag.
    assert compare.evidence_concern(builder, 0.5) is None
    compare.submit(ctx, builder)
    assert "against_evidence" not in ctx.store.audit_events(action="submission.submit")[-1].details
    # Strength 1 was evaluated but not chosen.
    assert compare.evidence_concern(builder, 1.0) == ("The evaluation chose strength 0.5, not 1.")
    with pytest.raises(UserError, match="The evaluation chose strength 0.5, not 1"):
        compare.submit(ctx, builder, strength=1.0)
    compare.submit(ctx, builder, strength=1.0, reason="Stronger reads better to our users.")
    flag = ctx.store.against_evidence(ctx.store.list_submissions()[-1].id)
    assert flag is not None and flag.reason == "Stronger reads better to our users."
    assert ctx.store.against_evidence(ctx.store.list_submissions()[0].id) is None


def test_the_reviewer_is_warned_above_approve_and_the_approval_carries_the_flag(ctx, examples_file):
    builder = builder_with_vector(ctx, examples_file)
    attach_evaluation(ctx, builder)
    compare.submit(ctx, builder, reason=REASON)
    sid = ctx.store.list_submissions()[-1].id
    reviewer = login(ctx, "rita", PASSWORD)
    view = review.show_submission(ctx, reviewer, sid)
    assert "approve" in view.actions  # not blocked: people decide
    assert view.warning.startswith("⚠ **Submitted against the evidence.**")
    assert "does not recommend deploying" in view.warning
    assert "A pilot on one team; we accept the risk." in view.warning
    review.decide(ctx, reviewer, "approve", "Accepted for the pilot.")
    approval = ctx.store.audit_events(action="submission.approve")[-1]
    assert approval.details["against_evidence"]["reason"] == REASON
    assert ctx.store.verify().ok


def test_no_warning_when_the_submission_follows_the_evidence(ctx, examples_file):
    builder = builder_with_vector(ctx, examples_file)
    attach_evaluation(ctx, builder, improving_report())
    compare.submit(ctx, builder)
    sid = ctx.store.list_submissions()[-1].id
    reviewer = login(ctx, "rita", PASSWORD)
    assert review.show_submission(ctx, reviewer, sid).warning == ""
    review.decide(ctx, reviewer, "approve", "Fine.")
    assert "against_evidence" not in ctx.store.audit_events(action="submission.approve")[-1].details


def test_an_unevaluated_strength_is_still_refused_whatever_the_reason(ctx, examples_file):
    builder = builder_with_vector(ctx, examples_file)
    attach_evaluation(ctx, builder)
    with pytest.raises(Exception, match="Strength 2 was not evaluated"):
        compare.submit(ctx, builder, strength=2.0, reason=REASON)
    assert ctx.store.list_submissions() == []
