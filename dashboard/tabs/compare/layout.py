"""Compare's layout and the events that stay inside the tab: side-by-side answers, the held-out
evaluation with its evidence panel, reopening earlier evaluations, submitting for review.

The handlers only translate between components and the actions of :mod:`.answers`,
:mod:`.evaluation` and :mod:`.submission`, which are plain functions tested without a browser.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import gradio as gr

from dashboard import earlier, estimates, job_watch, jobs
from dashboard.browser_state import BrowserSession
from dashboard.common import KNOWN_ERRORS
from dashboard.context import AppContext
from dashboard.events import guarded, guarded_steps, progress_bar, unchanged
from dashboard.evidence import create_evidence
from dashboard.tabs.compare.answers import (
    AnswerRequest,
    applied_markdown,
    compare_answers,
    offered_strengths,
    shown_answer,
    yardstick,
)
from dashboard.tabs.compare.evaluation import (
    DEFAULT_STRENGTHS,
    announce_evaluation,
    estimate_evaluation,
    evaluate,
    reopen_evaluation,
    shown_evaluation,
)
from dashboard.tabs.compare.submission import (
    concern_markdown,
    evaluated_strengths,
    evidence_concern,
    submit,
)
from dashboard.tabs.compare.vector import finite_strength
from dashboard.views.build import strengths_to_test
from dashboard.views.compare import EvaluationView
from steering.layers import layers_text
from storage import StoredJob


@dataclass(frozen=True)
class CompareTab:
    """What other tabs fill in: the held-out questions (Examples), the layers and the strengths
    to test (Build)."""

    question: gr.Dropdown
    steer_layers: gr.Textbox
    strengths: gr.Textbox  # the strengths to test, suggested per vector by Build
    earlier: gr.Dropdown  # the user's earlier evaluations, kept current by signin and wire
    # An evaluation or answer generation left running by an earlier page, followed.
    jobs: tuple[job_watch.JobWatch, ...]


def create_ui(ctx: AppContext, state: gr.State) -> CompareTab:
    with gr.Tab("4 · Compare", id="compare", elem_id="tab-compare"):
        gr.Markdown("### Side by side\nThe same question, answered without and with the vector.")
        question = gr.Dropdown(
            choices=[],
            label="Pick a held-out question (or type your own below)",
            elem_id="compare-question",
        )
        prompt = gr.Textbox(label="Question", lines=3, elem_id="compare-prompt")
        offered, middle = offered_strengths(DEFAULT_STRENGTHS)
        with gr.Row():
            # The strengths to test below (a vector's own after a build), or any number typed.
            strength = gr.Dropdown(
                choices=[(f"{a:g}", a) for a in offered],
                value=middle,
                allow_custom_value=True,
                label="Strength",
                info="One of the strengths to test below, or type another; 0 = no steering, "
                "too strong degrades answers",
                elem_id="compare-strength",
            )
            steer_layers_box = gr.Textbox(
                label="Layers to steer",
                info="Filled with the recommended layers after a build",
                elem_id="compare-layers",
            )
            max_tokens = gr.Slider(
                8, 160, value=48, step=8, label="Answer length (tokens)", elem_id="compare-tokens"
            )
        generate = gr.Button("Generate both answers", variant="primary", elem_id="compare-button")
        compare_status = gr.Markdown(elem_id="compare-status")
        with gr.Row(elem_classes=["answers"]):
            unsteered = gr.Textbox(
                label="Without the vector",
                lines=6,
                interactive=False,
                elem_id="answer-unsteered",
                buttons=["copy"],
            )
            steered = gr.Textbox(
                label="With the vector",
                lines=6,
                interactive=False,
                elem_id="answer-steered",
                buttons=["copy"],
            )
        # Whether a conditional vector was applied to the steered answer, and why.
        gate = gr.Markdown(elem_id="compare-gate")
        marks = gr.Markdown(elem_id="compare-yardstick")

        gr.Markdown(
            "### Held-out evaluation\nAccuracy on questions the vector never saw, at several "
            "strengths. The strength is chosen on build rows and reported on held-out rows."
        )
        earlier_evaluations = gr.Dropdown(
            choices=[],
            value=None,
            label="Reopen your earlier work",
            info="Evaluations you ran before, newest first; their vector comes back with them, "
            "ready to submit",
            elem_id="compare-earlier",
        )
        with gr.Row():
            strengths = gr.Textbox(
                value=DEFAULT_STRENGTHS,
                label="Strengths to test",
                info="0 (no vector) is always included",
                elem_id="eval-strengths",
            )
            max_questions = gr.Number(
                value=0,
                precision=0,
                minimum=0,
                label="Questions per split (0 = all)",
                info="Fewer questions run faster but give wider error bands",
                elem_id="eval-max",
            )
            side_effects = gr.Checkbox(
                value=True,
                label="Measure side effects on neutral text",
                elem_id="eval-side-effects",
            )
        run_eval = gr.Button("Run held-out evaluation", variant="primary", elem_id="eval-button")
        eval_status = gr.Markdown(elem_id="eval-status")
        evidence = create_evidence(
            "eval", "Results and the paper's diagnostics (first answer token)"
        )

        gr.Markdown("### Submit for review")
        with gr.Row():
            submit_strength = gr.Dropdown(
                choices=[],
                label="Strength to submit",
                info="One of the evaluated strengths; the evaluation's choice comes first",
                elem_id="submit-strength",
            )
            submit_layers = gr.Textbox(
                label="Layers", info="As evaluated", interactive=False, elem_id="submit-layers"
            )
            submit_button = gr.Button(
                "Submit for review", variant="primary", elem_id="submit", scale=0, min_width=180
            )
        concern = gr.Markdown(elem_id="submit-concern")
        reason = gr.Textbox(
            label="Why submit against the evidence (required)",
            lines=2,
            visible=False,
            elem_id="submit-reason",
        )
        submit_status = gr.Markdown(elem_id="submit-status")
        evaluation_job = job_watch.JobWatch(
            (jobs.EVALUATION,), eval_status, job_watch.create_timer()
        )
        generation_job = job_watch.JobWatch(
            (jobs.GENERATION,), compare_status, job_watch.create_timer()
        )
    question.change(lambda q: q or gr.skip(), question, prompt)

    def do_generate(
        session: BrowserSession, text: str, alpha: float | str | None, layers: str, tokens: int
    ) -> dict:
        value = finite_strength(alpha)  # a typed strength arrives as text
        answers = compare_answers(ctx, session, AnswerRequest(text, value, layers, tokens))
        return {
            unsteered: shown_answer(answers["unsteered"]),
            steered: shown_answer(answers["steered"]),
            gate: applied_markdown(session, answers["steered"]),
            marks: yardstick(session, text, answers),
            compare_status: f"Strength {value:g}: both answers come from one batched call (the "
            "model wrote them side by side in the same run, so they differ only by the vector).",
        }

    generate.click(
        guarded(compare_status, do_generate),
        [state, prompt, strength, steer_layers_box, max_tokens],
        [unsteered, steered, gate, marks, compare_status],
    )

    def on_strengths(text: str) -> dict:
        choices, chosen = offered_strengths(text)
        if not choices:  # still being typed: the offer stays as it was
            return unchanged([strength])
        return {strength: gr.Dropdown(choices=[(f"{a:g}", a) for a in choices], value=chosen)}

    # Filled by a build, an import or a reopened vector (dashboard.tabs.build), or typed.
    strengths.change(on_strengths, [strengths], [strength], show_progress="hidden")

    def do_evaluate(
        session: BrowserSession,
        alphas: str,
        layers: str,
        limit: float | None,
        effects_on: bool,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> Iterator[dict]:
        # The estimate first, on the status line, where it stays while the evaluation runs; the
        # previous verdict goes meanwhile: it does not describe the evaluation running.
        announced = announce_evaluation(ctx, session, alphas, int(limit or 0), effects_on)
        expected = estimate_evaluation(ctx, session, alphas, int(limit or 0), effects_on).words
        previous = shown_evaluation(ctx, session)
        yield {eval_status: announced, **evidence.clear()}
        started = time.monotonic()
        try:
            view = evaluate(
                ctx, session, alphas, layers, int(limit or 0), effects_on, progress_bar(progress)
            )
        except KNOWN_ERRORS:
            if previous is not None:  # refused or failed: the evaluation still chosen comes back
                yield evidence.show(previous)
            raise
        took = estimates.duration_words(time.monotonic() - started).removeprefix("about ")
        # The result replaces the announcement: the estimate is history now.
        done = f"Evaluated in {took} (expected beforehand: {expected})."
        yield {**evaluated(session, view), eval_status: done}

    def evaluated(session: BrowserSession, view: EvaluationView) -> dict:
        """The evidence on screen, the strengths offered for submission, the list of evaluations."""
        flagged = evidence_concern(session, view.chosen_alpha)
        return {
            earlier_evaluations: gr.Dropdown(
                choices=earlier.evaluation_choices(ctx, session), value=session.evaluation_id
            ),
            state: session,
            eval_status: "",
            **evidence.show(view),
            submit_strength: gr.Dropdown(
                choices=[(f"{a:g}", a) for a in evaluated_strengths(session)],
                value=view.chosen_alpha or None,
            ),
            submit_layers: layers_text(session.evaluation_layers),
            concern: concern_markdown(flagged),
            reason: gr.Textbox(visible=flagged is not None, value=""),
        }

    shown = [state, eval_status, *evidence.components, submit_strength, submit_layers]
    shown += [concern, reason, earlier_evaluations]
    # One progress bar, over the chart, naming the phase and the time left.
    run_eval.click(
        guarded_steps(eval_status, do_evaluate),
        [state, strengths, steer_layers_box, max_questions, side_effects],
        shown,
        show_progress_on=[evidence.chart],
    )

    reopened = [*shown, steer_layers_box, strengths, question]

    def do_reopen(session: BrowserSession, evaluation_id: int | None) -> dict:
        if not evaluation_id:  # the list was opened and closed without a choice
            return unchanged(reopened)
        view = reopen_evaluation(ctx, session, evaluation_id)
        prompts = [e.prompt for e in session.heldout_rows]
        steered = layers_text(session.evaluation_layers)
        return {
            **evaluated(session, view),
            eval_status: f"Reopened evaluation #{session.evaluation_id} of vector "
            f"#{session.vector_id}: submit it below, or run a new evaluation.",
            steer_layers_box: steered,
            # Its vector's own strengths, as after its build (the side-by-side list follows).
            strengths: strengths_to_test(session.vector, steered),
            question: gr.Dropdown(choices=[(p[:120], p) for p in prompts], value=None),
        }

    earlier_evaluations.input(
        guarded(eval_status, do_reopen), [state, earlier_evaluations], reopened
    )

    def on_strength(session: BrowserSession, alpha: float | None) -> dict:
        flagged = evidence_concern(session, alpha)
        return {
            concern: concern_markdown(flagged),
            reason: gr.Textbox(visible=flagged is not None),
        }

    submit_strength.change(on_strength, [state, submit_strength], [concern, reason])

    def do_submit(session: BrowserSession, alpha: float | None, layers: str, why: str) -> dict:
        return {submit_status: submit(ctx, session, alpha, layers, why)}

    submit_button.click(
        guarded(submit_status, do_submit),
        [state, submit_strength, submit_layers, reason],
        [submit_status],
    )

    def done_elsewhere(session: BrowserSession, job: StoredJob, said: str) -> dict:
        # An evaluation started by an earlier page: reopened, as if it had just run here.
        assert job.result_id is not None
        return {**do_reopen(session, job.result_id), eval_status: said}

    # The outputs of reopening (``reopened`` above, the strengths to test included).
    job_watch.wire(ctx, state, evaluation_job, done_elsewhere, reopened)
    # Answers are not kept: the record only says when the generation has ended.
    job_watch.wire(ctx, state, generation_job, lambda *_: {}, [])
    return CompareTab(
        question,
        steer_layers_box,
        strengths,
        earlier_evaluations,
        (evaluation_job, generation_job),
    )
