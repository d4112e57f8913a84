"""Conditional steering in the dashboard (issue 21, point 6): the Build tab's "Steer only questions
like these examples" box and the gate's chart and sentence, Compare saying whether the vector was
applied, the evidence panel, the review and the report saying where it was applied in words, and
the GGUF download saying that llama.cpp has no gate.

The builds run on the tiny model with the bundled everyday prompts; its gate tells the addition
questions of ``tests.app.support.rows`` from everyday requests (a quick check: block 0, every
build prompt above the threshold and every everyday one below it).
"""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch

from dashboard.report import evaluation_report_html
from dashboard.tabs import build, compare, downloads, examples, review
from dashboard.views.build import NO_GATE, condition_choice, gate_view
from dashboard.views.common import md
from dashboard.views.compare import NO_GATE_WORDS, evaluation_view, gate_markdown
from steering.condition import MIN_CONDITION_ROWS
from steering.engine.gate import GateDecision
from steering.evaluation.results import GateReport
from steering.export import gguf_condition_warning
from steering.vectors import ControlVector, GateCondition
from tests.app.support import (
    PASSWORD,
    REASON,
    attach_evaluation,
    csv_text,
    login,
    rows,
    sample_report,
)

ADDITION = "What is 3 plus 9?"
EVERYDAY = "How do I boil an egg so the yolk stays soft?"


def _upload(ctx, tmp_path, n: int):
    """Bob, signed in, with ``n`` addition rows uploaded (70 % of them are build rows)."""
    path = tmp_path / f"pairs-{n}.csv"
    path.write_text(csv_text(rows(n)), encoding="utf-8")
    session = login(ctx, "bob", PASSWORD)
    examples.upload_examples(ctx, session, str(path))
    return session


# ------------------------------------------------------------------------------------- Build


def test_the_box_is_on_from_sixteen_build_rows_and_says_why_it_is_off_below():
    assert MIN_CONDITION_ROWS == 16
    on = condition_choice(16)
    assert on.value is True and "your 16 build rows" in on.info
    off = condition_choice(15)
    assert off.value is False
    assert "at least 16 build rows and this build would use 15" in off.info
    assert "steers every prompt" in off.info
    nothing = condition_choice(None)
    assert nothing.value is True and "tab 2 (Examples)" in nothing.info


def test_the_box_default_follows_the_rows_the_build_would_use(ctx, tmp_path):
    session = _upload(ctx, tmp_path, 30)
    count = len(session.build_rows)
    assert count >= 16  # 30 rows, 30 % held out
    assert build.condition_default(session).value is True
    assert f"your {count} build rows" in build.condition_default(session).info
    quick = build.condition_default(session, max_rows=12)  # "rows to use per split"
    assert quick.value is False and "would use 12" in quick.info
    small = _upload(ctx, tmp_path, 12)
    assert len(small.build_rows) < 16 and build.condition_default(small).value is False


def _condition(threshold: float = 0.3) -> GateCondition:
    return GateCondition(2, torch.ones(8), threshold, 0.875)


def test_the_gate_chart_and_sentence_come_from_the_vectors_metadata():
    metadata = {
        "condition_task_scores": [0.5, 0.41, 0.2],
        "condition_everyday_scores": [0.1, 0.35, -0.2, 0.0],
    }
    view = gate_view(_condition(0.3), metadata)
    assert (
        "the gate opens for 2 of your 3 build questions and for 1 of 4 everyday requests"
        in view.sentence
    )
    figure = view.figure
    assert figure is not None
    by_name = {trace.name: trace for trace in figure.data}
    everyday = next(t for n, t in by_name.items() if n.startswith("everyday requests"))
    task = next(t for n, t in by_name.items() if n.startswith("your examples' questions"))
    assert list(everyday.x) == metadata["condition_everyday_scores"]
    assert list(task.x) == metadata["condition_task_scores"]
    assert everyday.name == "everyday requests (1 of 4 open the gate)"
    assert task.name == "your examples' questions (2 of 3 open the gate)"
    # Task dots on one line, everyday dots on the other, never crossing over.
    assert all(0.5 <= y <= 1.5 for y in task.y) and all(-0.5 <= y <= 0.5 for y in everyday.y)
    line = by_name["the gate opens at 0.30"]
    assert list(line.x) == [0.3, 0.3]
    # The technical figures are the folded details, not the sentence.
    assert "block" not in view.sentence.lower() and "threshold" not in view.sentence.lower()
    assert "**Block the gate reads:** 2" in view.details
    assert "cosine similarity 0.3 or more" in view.details
    assert "88%" in view.details  # balanced accuracy 0.875
    # A threshold moved: the same scores count differently.
    assert (
        "for 1 of your 3 build questions and for 0 of 4"
        in gate_view(_condition(0.45), metadata).sentence
    )


def test_a_vector_without_a_gate_says_so_and_draws_nothing():
    note = "No gate: it needs at least 16 build rows and this set has 8, so ..."
    assert gate_view(None, {}, note) == dataclasses.replace(gate_view(None, {}), sentence=md(note))
    plain = gate_view(None, {"condition_task_scores": [0.5]})
    assert plain.sentence == NO_GATE and plain.figure is None and plain.details == ""


def test_a_build_with_the_box_on_gates_and_compare_says_whether_it_applied(ctx, tmp_path):
    session = _upload(ctx, tmp_path, 30)
    built = build.build(ctx, session, max_rows=None, condition=True)
    vector = session.vector
    assert vector is not None and vector.condition is not None
    assert built.gate.figure is not None
    count = len(session.build_rows)
    assert f"of your {count} build questions" in built.gate.sentence
    assert "Build note:" in built.gate.details  # the engine's own sentence, with the figures
    # The stored file keeps the gate and the scores: a reopened vector shows the same.
    stored = ControlVector.from_bytes(ctx.store.read_vector_file(session.vector_id))
    assert stored.condition is not None and stored.condition.layer == vector.condition.layer
    reopened = build.reopen_vector(ctx, session, session.vector_id)
    assert reopened.gate.sentence == built.gate.sentence
    assert [list(t.x) for t in reopened.gate.figure.data] == [
        list(t.x) for t in built.gate.figure.data
    ]

    # Compare: a question like the examples is steered; an everyday one is the model's own.
    threshold = session.vector.condition.threshold
    asked = compare.compare_answers(ctx, session, compare.AnswerRequest(ADDITION, 4.0, None, 8))
    gate = asked["steered"].gate
    assert gate is not None and gate.applied
    said = compare.applied_markdown(session, asked["steered"])
    assert said.startswith("**Applied:** this question reads like your examples (similarity ")
    shown = re.search(r"\(similarity (-?\d\.\d+); the gate opens at (-?\d\.\d+)\)\.$", said)
    assert shown is not None
    assert float(shown.group(1)) == pytest.approx(gate.similarity, abs=0.005)
    assert float(shown.group(2)) == pytest.approx(threshold, abs=0.005)
    everyday = compare.compare_answers(ctx, session, compare.AnswerRequest(EVERYDAY, 4.0, None, 8))
    assert everyday["steered"].gate is not None and not everyday["steered"].gate.applied
    assert everyday["steered"].text == everyday["unsteered"].text
    said = compare.applied_markdown(session, everyday["steered"])
    assert said.startswith("**Not applied:** this question does not read like your examples")
    assert said.endswith("so this answer is the model's own.")
    # Without the vector (strength 0) there is nothing to say.
    unsteered = compare.compare_answers(ctx, session, compare.AnswerRequest(ADDITION, 0, None, 4))
    assert compare.applied_markdown(session, unsteered["steered"]) == ""

    # The evaluation measures the gate; its evidence says where the vector was applied.
    evaluated = compare.evaluate(ctx, session, "0, 1", "", 4, False)
    said = re.fullmatch(
        r"The vector was applied to \*\*(\d+) of 4\*\* new task questions and to \*\*(\d+) of "
        r"(\d+)\*\* everyday requests; where it was not applied, the model answered as it does "
        r"without the vector\.",
        evaluated.gate,
    )
    assert said is not None, evaluated.gate
    report = session.evaluation
    assert report is not None and report.gate is not None
    assert int(said.group(1)) == round(report.gate.task_open_rate * 4)
    # This gate tells addition questions from everyday requests: open for nearly all of the
    # former, for few of the latter.
    assert int(said.group(1)) >= 3 and int(said.group(2)) <= 0.05 * int(said.group(3))
    assert int(said.group(3)) == report.gate.everyday_rows > 0
    assert f"block {vector.condition.layer}," in evaluated.gate_details


def test_with_the_box_off_the_vector_steers_every_prompt_and_compare_says_nothing(ctx, tmp_path):
    session = _upload(ctx, tmp_path, 30)
    built = build.build(ctx, session, condition=False)
    assert session.vector.condition is None
    assert built.gate.figure is None and "every prompt" in built.gate.sentence
    answers = compare.compare_answers(ctx, session, compare.AnswerRequest(EVERYDAY, 4.0, None, 4))
    assert answers["steered"].gate is None
    assert compare.applied_markdown(session, answers["steered"]) == ""


# ------------------------------------------------------------------------------------ Compare


def test_the_applied_sentence_names_the_similarity_and_the_threshold():
    assert gate_markdown(GateDecision(True, 0.4204), 0.3101) == (
        "**Applied:** this question reads like your examples (similarity 0.42; the gate opens "
        "at 0.31)."
    )
    assert gate_markdown(GateDecision(False, 0.05), 0.31) == (
        "**Not applied:** this question does not read like your examples (similarity 0.05; the "
        "gate opens at 0.31), so this answer is the model's own."
    )
    # Just under the threshold never reads as equal to it.
    close = gate_markdown(GateDecision(False, 0.30991), 0.31012)
    assert "similarity 0.3099; the gate opens at 0.3101" in close
    assert gate_markdown(None, 0.31) == "" and gate_markdown(GateDecision(True, 0.5), None) == ""


# ------------------------------------------------------------------- evidence, review, report

GATE = GateReport(
    task_open_rate=0.96,
    everyday_open_rate=0.01,
    task_rows=100,
    everyday_rows=200,
    layer=3,
    threshold=0.3125,
)
DISRUPTION = (
    "The gain comes from disrupting the model, not from better reasoning: the probability the "
    "model gives the correct answer fell from 0.410 to 0.020."
)


def _gated_report():
    report = sample_report()
    return dataclasses.replace(
        report, gate=GATE, disruption=DISRUPTION, verdict=f"{report.verdict} {DISRUPTION}"
    )


def test_the_evidence_says_where_the_vector_was_applied_before_the_figures():
    view = evaluation_view(_gated_report())
    assert view.gate == (
        "The vector was applied to **96 of 100** new task questions and to **2 of 200** everyday "
        "requests; where it was not applied, the model answered as it does without the vector."
    )
    assert "block 3" in view.gate_details and "0.3125 or more" in view.gate_details
    assert "96.0% of 100 task questions" in view.gate_details
    # Counts are round(rate * rows), whatever the rows.
    other = dataclasses.replace(GATE, task_open_rate=0.25, task_rows=12, everyday_rows=30)
    shown = evaluation_view(dataclasses.replace(sample_report(), gate=other)).gate
    assert "**3 of 12**" in shown and "**0 of 30**" in shown  # 0.01 * 30 rounds to 0
    assert evaluation_view(sample_report()).gate == NO_GATE_WORDS
    assert evaluation_view(sample_report()).gate_details == ""


def test_the_disruption_note_stands_with_the_verdict_once():
    view = evaluation_view(_gated_report())
    assert view.verdict_box.count("disrupting the model") == 1
    assert f"⚠ **{md(DISRUPTION)}**" in view.verdict_box
    assert view.verdict.count("disrupting the model") == 1
    # A note the verdict does not carry yet is added to it.
    bare = dataclasses.replace(sample_report(), disruption=DISRUPTION)
    assert evaluation_view(bare).verdict.endswith(DISRUPTION)
    assert "disrupting" not in evaluation_view(sample_report()).verdict_box


def test_review_report_and_gguf_download_of_a_conditional_vector(ctx, tmp_path):
    session = _upload(ctx, tmp_path, 30)
    build.build(ctx, session)
    assert session.vector.condition is not None  # on by default with enough rows
    attach_evaluation(ctx, session, _gated_report())
    compare.submit(ctx, session, reason=REASON)
    sid = ctx.store.list_submissions()[-1].id

    reviewer = login(ctx, "rita", PASSWORD)
    shown = review.show_submission(ctx, reviewer, sid)
    assert "**96 of 100** new task questions" in shown.evidence.gate
    assert "disrupting the model" in shown.summary  # the verdict, with its note

    sub = ctx.store.get_submission(sid)
    page = evaluation_report_html(
        sub, ctx.store.get_vector(sub.vector_id), ctx.store.get_evaluation(sub.evaluation_id)
    )
    body = page[page.index("<body>") :]
    words = body.index("<div id='gate'>")
    assert "96 of 100</strong> new task questions" in body[words:]
    assert body.index("Accuracy against strength") < words < body.index("<details id='technical'>")
    assert body.index("<details id='technical'>") < body.index("<div id='gate-details'>")
    assert "disrupting the model" in body[: body.index("<details id='technical'>")]

    review.decide(ctx, reviewer, "approve", "Measured on held-out rows.")
    note = downloads.gguf_note(ctx, sid)
    warning = gguf_condition_warning(session.vector)
    assert warning is not None and warning in note
    assert "llama.cpp applies a control vector to every prompt" in note


def test_the_gguf_note_of_an_unconditional_vector_has_no_gate_warning(ctx, tmp_path):
    session = _upload(ctx, tmp_path, 12)  # too few rows for a gate
    build.build(ctx, session)
    assert session.vector.condition is None
    attach_evaluation(ctx, session)
    compare.submit(ctx, session, reason=REASON)
    sid = ctx.store.list_submissions()[-1].id
    reviewer = login(ctx, "rita", PASSWORD)
    review.show_submission(ctx, reviewer, sid)
    review.decide(ctx, reviewer, "approve", "Fine.")
    assert "every prompt" not in downloads.gguf_note(ctx, sid)
