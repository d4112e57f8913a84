"""Status while a job runs and after: the announcement is replaced by the result, a new
evaluation hides the previous verdict until it is done (and brings it back if it fails), the
verdict is said once, and a model's pace is measured as it loads so the first estimate is ready."""

from __future__ import annotations

import argparse
import dataclasses

import gradio as gr
import pytest

import app as app_main
from dashboard import estimates, events
from dashboard.common import UserError
from dashboard.evidence import create_evidence
from dashboard.tabs.compare import layout
from dashboard.ui import build_ui
from dashboard.views.compare import evaluation_view, verdict_markdown
from dashboard.web import SignedInUser
from steering.evaluation.results import Verdict
from tests.app.handlers import by_id, handler_of
from tests.app.support import VERDICT, attach_evaluation, builder_with_vector, sample_report
from tests.tiny import make_tiny


@pytest.fixture()
def demo(ctx) -> gr.Blocks:
    return build_ui(ctx)


@pytest.fixture()
def evaluated_before(ctx, examples_file, monkeypatch):
    """Bob with a vector and an evaluation on screen, signed in for the handlers."""
    session = builder_with_vector(ctx, examples_file)
    attach_evaluation(ctx, session)
    monkeypatch.setattr(
        events, "current_user", lambda request: SignedInUser("bob", "builder", session.owner)
    )
    return session


def run_evaluation(demo, session) -> list[dict]:
    block_fn = handler_of(demo, "eval-button", "click")
    steps = block_fn.fn(session, "0, 1", "", 3, False)
    return [by_id(block_fn, step) for step in steps]


def test_a_new_evaluation_hides_the_last_verdict_and_its_result_replaces_the_estimate(
    demo, evaluated_before
):
    first, *_, last = run_evaluation(demo, evaluated_before)
    assert first["eval-status"].startswith("**Evaluating: this should take")
    # While it runs, nothing of the previous evaluation is on screen.
    assert first["eval-verdict"] == "" and first["eval-chart"] is None
    assert first["eval-samples"] == ""
    # Done: the status says how long it took, the announcement is gone.
    assert last["eval-status"].startswith("Evaluated in ")
    assert "(expected beforehand: " in last["eval-status"]
    assert "Evaluating" not in last["eval-status"]
    assert "should take" not in last["eval-status"]
    assert last["eval-verdict"].startswith("**Recommendation: ")
    assert VERDICT not in last["eval-verdict"]  # the new evaluation's verdict, not the old one


def test_a_refused_evaluation_brings_the_last_one_back(demo, evaluated_before, monkeypatch):
    def refused(*args, **kwargs):
        raise UserError("Waiting for your previous job to finish.")

    monkeypatch.setattr(layout, "evaluate", refused)
    cleared, restored, problem = run_evaluation(demo, evaluated_before)
    assert cleared["eval-verdict"] == ""
    assert VERDICT.split(";")[0] in restored["eval-verdict"]  # the evaluation still chosen
    assert problem == {"eval-status": "**Problem:** Waiting for your previous job to finish."}


def test_the_verdict_is_said_once_in_one_box():
    with gr.Blocks():
        evidence = create_evidence("t", "Results")
    shown = evidence.show(evaluation_view(sample_report()))[evidence.headline]
    assert shown.startswith("**Recommendation: not enough evidence.**")
    assert shown.count("Recommendation") == 1
    assert shown.count("7 of 10") == 1  # the counts once, not in a second paragraph
    assert "\n\n" not in shown  # one paragraph: the box is drawn once
    assert "so the difference could be chance" in shown  # the verdict's conclusion is kept


def test_the_box_keeps_the_submitted_strength_and_below_guessing():
    report = dataclasses.replace(
        sample_report(), chosen_alpha=0.0, outcome=Verdict.NO_STRENGTH_CHOSEN, chance=0.75
    )
    box = verdict_markdown(report, submitted=0.5)
    assert box.startswith("**Recommendation: do not deploy.**")
    assert box.endswith(
        "The submitted strength 0.5 answered 7 of 10 held-out questions (70%) correctly. "
        "That is below guessing (75% right by picking at random)."
    )


def test_the_pace_is_measured_when_the_model_loads(tmp_path, monkeypatch):
    from storage import Store

    measured = []
    real = estimates.measure_pace

    def counting(loaded):
        measured.append(loaded)
        return real(loaded)

    monkeypatch.setattr(estimates, "measure_pace", counting)
    args = argparse.Namespace(model="tiny-model", dtype="float32")
    with Store.open(data_dir=tmp_path / "data") as store:
        ctx = app_main.dashboard_context(store, args)
        ctx.loader = lambda spec, dtype=None: make_tiny("llama")
        loaded = ctx.model()
        assert measured == [loaded]  # timed as it loaded, before anyone asked for an estimate
        estimates.pace(loaded)  # the first build's estimate: no second timing
        assert measured == [loaded]
        ctx.close()
