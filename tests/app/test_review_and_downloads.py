"""Tabs 5-7 without a browser: review with the workflow's rules, downloads, the audit trail."""

from __future__ import annotations

import csv
import re

import gguf
import pytest

from dashboard.common import KNOWN_ERRORS, UserError, submission_choices
from dashboard.tabs import audit, compare, downloads, review
from steering.vectors import ControlVector
from storage import PermissionDeniedError
from storage.workflow import refusal
from tests.app.support import (
    PASSWORD,
    REASON,
    VERDICT,
    approved,
    attach_evaluation,
    builder_with_vector,
    login,
    submitted,
)

# ------------------------------------------------------------------------------ review


def test_a_builder_is_never_offered_a_decision_on_their_submission(ctx, examples_file):
    sid = submitted(ctx, examples_file)
    builder = login(ctx, "bob", PASSWORD)
    view = review.show_submission(ctx, builder, sid)
    assert view.actions == () and not view.can_decide and not view.can_revoke
    # The reason shown is the workflow's own words, the one the store would raise.
    assert view.note == refusal(
        "approve", actor="bob", role="builder", creator="bob", status="submitted", submission_id=sid
    )
    assert "only reviewers and admins" in view.note
    with pytest.raises(PermissionDeniedError):
        review.decide(ctx, builder, "approve", "mine")  # and the store refuses anyway


def test_a_reviewer_who_created_the_submission_gets_no_approve_button(ctx, examples_file):
    reviewer = login(ctx, "rita", PASSWORD)
    builder_session = builder_with_vector(ctx, examples_file)
    # Rita builds on Bob's examples and vector and submits it herself.
    reviewer.example_set, reviewer.example_set_id = (
        builder_session.example_set,
        builder_session.example_set_id,
    )
    reviewer.vector, reviewer.vector_id = builder_session.vector, builder_session.vector_id
    reviewer.recommended = builder_session.recommended
    attach_evaluation(ctx, reviewer)
    compare.submit(ctx, reviewer, reason=REASON)
    sid = ctx.store.list_submissions()[-1].id
    view = review.show_submission(ctx, reviewer, sid)
    assert view.actions == ()
    assert "four-eyes" in view.note and "ask another reviewer" in view.note
    ctx.store.add_user("rex", "reviewer", PASSWORD)
    other = login(ctx, "rex", PASSWORD)
    assert review.show_submission(ctx, other, sid).actions == ("approve", "reject")


def test_a_reviewer_sees_the_evidence_and_may_decide(ctx, examples_file):
    sid = submitted(ctx, examples_file)
    reviewer = login(ctx, "rita", PASSWORD)
    view = review.show_submission(ctx, reviewer, sid)
    assert view.actions == ("approve", "reject") and view.note == ""
    assert view.verdict == VERDICT
    assert f"**Verdict:** {VERDICT}" in view.summary
    assert "**Strength** 0.5" in view.summary and "matches" in view.summary
    assert view.table["KL (nats)"].tolist() == ["0", "0.0312"]
    assert view.table["correct"].tolist() == ["5", "7"]
    assert view.history.empty


def test_review_approve_then_revoke(ctx, examples_file):
    sid = approved(ctx, examples_file)
    reviewer = login(ctx, "rita", PASSWORD)
    view = review.show_submission(ctx, reviewer, sid)
    assert view.actions == ("revoke",)
    assert view.history[["reviewer", "decision", "comment"]].values.tolist() == [
        ["rita", "approve", "Looks good."]
    ]
    builder = login(ctx, "bob", PASSWORD)
    assert review.show_submission(ctx, builder, sid).actions == ()
    assert "revoked" in review.decide(ctx, reviewer, "revoke", "Superseded.")
    view = review.show_submission(ctx, reviewer, sid)
    assert view.actions == ()
    assert view.note == "This submission is revoked; there is nothing to decide."
    actions = [e.action for e in ctx.store.audit_events(object_type="submission")]
    assert actions == [
        "submission.create",
        "submission.submit",
        "submission.approve",
        "submission.revoke",
    ]


def test_stale_decision_is_refused(ctx, examples_file):
    sid = submitted(ctx, examples_file)
    ctx.store.add_user("rex", "reviewer", PASSWORD)
    first, second = login(ctx, "rita", PASSWORD), login(ctx, "rex", PASSWORD)
    review.show_submission(ctx, first, sid)
    review.show_submission(ctx, second, sid)
    review.decide(ctx, first, "approve", "ok")
    with pytest.raises(KNOWN_ERRORS, match="changed by rita"):
        review.decide(ctx, second, "reject", "no")
    assert ctx.store.get_submission(sid).status == "approved"


def test_queue_lists_submissions_newest_first_with_their_status(ctx, examples_file):
    first = submitted(ctx, examples_file)
    second = submitted(ctx, examples_file)
    choices = submission_choices(ctx, "submitted")
    assert [value for _, value in choices] == [second, first]
    assert choices[0][0].startswith(f"#{second} · submitted · by bob · strength 0.5 · ")
    assert submission_choices(ctx, "approved") == []


# ------------------------------------------------------------------------------ downloads


def test_downloads_of_an_approved_vector(ctx, examples_file):
    sid = approved(ctx, examples_file)
    session = login(ctx, "bob", PASSWORD)
    sub = ctx.store.get_submission(sid)
    st_path = downloads.download_safetensors(ctx, session, sid)
    assert st_path.name == f"control-vector-{sid}-strength-0.5.safetensors"
    vector = ControlVector.load(st_path)
    assert vector.layers == list(sub.layers)
    assert vector.metadata["approved_strength"] == "0.5"
    assert vector.metadata["approved_by"] == "rita"

    gguf_path = downloads.download_gguf(ctx, session, sid)
    assert gguf_path.name == f"control-vector-{sid}-strength-0.5.gguf"
    reader = gguf.GGUFReader(gguf_path)
    names = sorted(t.name for t in reader.tensors)
    assert names == sorted(f"direction.{i}" for i in sub.layers)
    strength = reader.fields["controlvector.strength"]
    assert float(strength.parts[strength.data[0]][0]) == pytest.approx(0.5)
    exports = ctx.store.audit_events(action="vector.export")
    assert [(e.actor, e.details["format"]) for e in exports] == [
        ("bob", "safetensors"),
        ("bob", "gguf"),
    ]


def test_only_approved_vectors_download(ctx, examples_file):
    sid = submitted(ctx, examples_file)
    builder = login(ctx, "bob", PASSWORD)
    with pytest.raises(UserError, match="only approved"):
        downloads.download_gguf(ctx, builder, sid)
    assert submission_choices(ctx, "approved") == []


def test_report_is_self_contained_and_escapes_model_text(ctx, examples_file):
    sid = approved(ctx, examples_file, sample_answer="<script>alert(1)</script>")
    session = login(ctx, "rita", PASSWORD)
    text = downloads.download_report(ctx, session, sid).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>alert(1)</script>" not in text
    assert "Plotly.newPlot" in text and len(text) > 1_000_000  # plotly.js inlined: works offline
    assert "<script src=" not in text
    assert f"<p>{VERDICT}</p>" in text  # the verdict sentence, under the recommendation
    assert "<th>KL (nats)</th>" in text and "KL (bits)" not in text
    assert "<td>0.0312</td>" in text  # the report's KL at strength 0.5
    assert "<td>rita</td><td>approve</td><td>Looks good.</td>" in text


# ------------------------------------------------------------------------------ audit


def test_audit_table_filters_verifies_and_exports(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    table = audit.audit_table(ctx, session, actor="bob")
    assert set(table["actor"]) == {"bob"}
    assert {"login", "example_set.add", "vector.add"} <= set(table["action"])
    assert table["seq"].tolist() == sorted(table["seq"], reverse=True)  # newest first
    only = audit.audit_table(ctx, session, action="vector.add")
    assert only["action"].tolist() == ["vector.add"]
    verified = audit.verify_audit(ctx, session)
    assert verified.ok and verified.summary.startswith("**Intact.**")
    # A builder may not export: the trail lists failed sign-ins, which builders may not see.
    with pytest.raises(UserError, match="only reviewers and admins can export"):
        audit.export_audit(ctx, session, "csv")
    assert ctx.store.audit_events(action="audit.export") == []
    reviewer = login(ctx, "rita", PASSWORD)
    path = audit.export_audit(ctx, reviewer, "csv")
    with path.open(newline="", encoding="utf-8") as file:
        exported = list(csv.reader(file))[1:]
    # Every event up to the export, which is audited after the file is written.
    assert len(exported) == len(ctx.store.audit_events()) - 1
    assert ctx.store.audit_events(action="audit.export")[-1].actor == "rita"


# ------------------------------------------------------------------ approve only what was evaluated


def test_the_reviewer_sees_the_submitted_rows_evidence(ctx, examples_file):
    sid = submitted(ctx, examples_file)
    layers = ", ".join(str(i) for i in ctx.store.get_submission(sid).layers)
    view = review.show_submission(ctx, login(ctx, "rita", PASSWORD), sid)
    # sample_report's row at 0.5: 7 of 10, Wilson interval 0.3968-0.8922, p 0.25; 5 of 10 at 0.
    assert view.summary.endswith(
        f"**Evidence for the submitted strength 0.5** (layers {layers}): 7 of 10 held-out "
        "questions answered correctly (70%, 95 % interval 40% to 89%), against 5 of 10 without "
        "the vector; McNemar p = 0.25."
    )


def test_compare_offers_and_submits_only_evaluated_strengths(ctx, examples_file):
    builder = builder_with_vector(ctx, examples_file)
    attach_evaluation(ctx, builder)
    assert compare.evaluated_strengths(builder) == [0.5]
    for unevaluated in (1.0, 1e300, -7.0):
        with pytest.raises(KNOWN_ERRORS, match=re.escape(f"Strength {unevaluated:g} was not")):
            compare.submit(ctx, builder, strength=unevaluated)
    with pytest.raises(KNOWN_ERRORS, match="finite"):
        compare.submit(ctx, builder, strength=float("nan"))
    assert ctx.store.list_submissions() == []
    compare.submit(ctx, builder, strength=0.5, reason=REASON)
    assert [s.strength for s in ctx.store.list_submissions()] == [0.5]
