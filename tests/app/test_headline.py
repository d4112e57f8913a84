"""The headline box a manager reads first, in the report and on the Review tab: the decision,
the recommendation, one sentence when they disagree, what the vector is for, and why a score
can be below guessing; nothing in the report speaks to the reviewer."""

from __future__ import annotations

import dataclasses
import json
import re

from dashboard.report import evaluation_report_html
from dashboard.tabs import review
from dashboard.views.audit import AUDIT_COLUMNS
from steering.evaluation.results import Verdict
from tests.app.support import REASON, approved, login, sample_report, submitted


def _improving(evaluation):
    """The stored evaluation with its verdict changed to "improves" at the chosen 0.5."""
    report = dataclasses.replace(sample_report(), outcome=Verdict.IMPROVES)
    results = json.loads(json.dumps(report.to_dict()))
    return dataclasses.replace(evaluation, results=results, outcome="improves")


def _with(evaluation, **results):
    return dataclasses.replace(evaluation, results={**evaluation.results, **results})


def _box(ctx, sid: int, evaluation=None, **kwargs) -> dict[str, str]:
    """The headline box's parts by id, as plain text (absent parts are missing keys)."""
    sub = ctx.store.get_submission(sid)
    evaluation = evaluation or ctx.store.get_evaluation(sub.evaluation_id)
    page = evaluation_report_html(sub, ctx.store.get_vector(sub.vector_id), evaluation, **kwargs)
    box = page[page.index("<section class='headline'") : page.index("</section>")]
    parts = re.findall(r"<div id='([a-z-]+)'>(.*?)</div>", box, flags=re.S)
    return {key: " ".join(re.sub(r"<[^>]+>", " ", text).split()) for key, text in parts}


def _review(ctx, sid: int, decision: str, comment: str) -> None:
    reviewer = login(ctx, "rita")
    review.show_submission(ctx, reviewer, sid)
    review.decide(ctx, reviewer, decision, comment)


def _day(ctx, sid: int) -> str:
    when = ctx.store.get_submission(sid).reviews[-1].created_at
    return f"{when.day} {when:%b}"


def test_approved_against_the_evidence_says_so_in_one_sentence(ctx, examples_file):
    sid = approved(ctx, examples_file)  # the evidence: not enough to recommend deploying
    box = _box(ctx, sid, against_evidence=ctx.store.against_evidence(sid))
    assert list(box) == [
        "decision",
        "recommendation",
        "disagreement",
        "against-evidence",
        "purpose",
    ]
    assert box["decision"].startswith("Decision: approved by rita on ")
    assert "Looks good." not in box["decision"]  # the sentence below quotes it
    assert box["recommendation"].startswith("Recommendation: not enough evidence.")
    assert box["disagreement"] == (
        f"Approved by rita on {_day(ctx, sid)} although the evidence is not enough to recommend "
        "deploying. Their reason: “Looks good.”"
    )
    assert f"by bob: the evaluation's verdict does not recommend deploying the vector. Their " \
        f"reason: “{REASON}”" in box["against-evidence"]  # fmt: skip
    assert box["purpose"] == (
        "What it is for: making the model tiny-llama answer questions like those of the example "
        "set “pairs” correctly more often, for example “What is 2 plus 1?”."
    )


def test_the_report_never_speaks_to_the_reviewer(ctx, examples_file):
    sid = approved(ctx, examples_file)
    sub = ctx.store.get_submission(sid)
    page = evaluation_report_html(
        sub,
        ctx.store.get_vector(sub.vector_id),
        ctx.store.get_evaluation(sub.evaluation_id),
        against_evidence=ctx.store.against_evidence(sid),
    )
    readable = re.sub(r"<(script|style).*?</\1>", " ", page, flags=re.S)
    readable = re.sub(r"<[^>]+>", " ", readable)
    assert "Approving records" not in readable
    assert not re.search(r"\byou(r|rs|rself)?\b", readable, flags=re.I)


def test_approved_as_the_evidence_says_has_no_disagreement(ctx, examples_file):
    sid = approved(ctx, examples_file)
    sub = ctx.store.get_submission(sid)
    box = _box(ctx, sid, _improving(ctx.store.get_evaluation(sub.evaluation_id)))
    assert list(box) == ["decision", "recommendation", "purpose"]
    assert box["decision"].startswith("Decision: approved by rita on ")
    assert box["decision"].endswith("UTC. Comment: “Looks good.”")
    assert box["recommendation"].startswith("Recommendation: deploy.")


def test_rejected_as_the_evidence_says_and_against_it(ctx, examples_file):
    sid = submitted(ctx, examples_file)
    _review(ctx, sid, "reject", "Not enough questions.")
    box = _box(ctx, sid, against_evidence=ctx.store.against_evidence(sid))
    assert box["decision"].startswith("Decision: rejected by rita on ")
    assert box["decision"].endswith("Comment: “Not enough questions.”")
    assert "disagreement" not in box  # rejected, and the evidence did not recommend deploying
    sub = ctx.store.get_submission(sid)
    box = _box(ctx, sid, _improving(ctx.store.get_evaluation(sub.evaluation_id)))
    assert box["disagreement"] == (
        f"Rejected by rita on {_day(ctx, sid)} although the evidence says deploy. Their reason: "
        "“Not enough questions.”"
    )


def test_pending_says_nobody_has_decided(ctx, examples_file):
    sid = submitted(ctx, examples_file)
    box = _box(ctx, sid, against_evidence=ctx.store.against_evidence(sid))
    assert box["decision"] == (
        "Decision: waiting for a reviewer. Submitted by bob; nobody has approved or rejected it "
        "yet."
    )
    assert "disagreement" not in box
    assert REASON in box["against-evidence"]


def test_below_guessing_is_explained_where_it_occurs(ctx, examples_file):
    sid = submitted(ctx, examples_file)
    stored = ctx.store.get_evaluation(ctx.store.get_submission(sid).evaluation_id)
    # 50 % without the vector and 70 % at 0.5: with three options (33 %) nothing is below.
    assert "below-guessing" not in _box(ctx, sid, _with(stored, chance=1 / 3, options=[3, 3]))
    assert "below-guessing" not in _box(ctx, sid)  # no answer options recorded at all
    # With a 60 % chance rate the model without the vector is below it, the vector is not.
    box = _box(ctx, sid, _with(stored, chance=0.6, options=[2, 2]))
    assert box["below-guessing"].startswith(
        "Below guessing: The model without the vector gets 50% right, less than the 60% that "
        "picking at random gets, because on multiple-choice questions the model picks the option "
        "it finds most likely"
    )
    assert "at strength 0.5" not in box["below-guessing"]
    both = _box(ctx, sid, _with(stored, chance=0.75, options=[4, 4]))["below-guessing"]
    assert "without the vector gets 50% right and at strength 0.5 the model gets 70% right" in both


def test_the_review_tab_starts_with_the_same_box(ctx, examples_file):
    sid = approved(ctx, examples_file)
    view = review.show_submission(ctx, login(ctx, "rita"), sid)
    first = view.headline.split("\n\n")
    assert first[0].startswith("**Decision: approved** by rita on ")
    assert first[1].startswith("**Recommendation: not enough evidence.**")
    assert first[2].startswith(f"Approved by rita on {_day(ctx, sid)} although the evidence")
    assert any(part.startswith("**What it is for:** making the model tiny") for part in first)


def test_the_audit_table_puts_what_happened_first():
    # In a narrow window the first columns are the ones on screen (tests/app/test_browser_narrow).
    assert AUDIT_COLUMNS[:2] == ["action", "actor"]
