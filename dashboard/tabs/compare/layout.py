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

from dashboard import earlier, estimates
from dashboard.browser_state import BrowserSession
from dashboard.context import AppContext
from dashboard.events import guarded, guarded_steps, progress_bar
from dashboard.evidence import create_evidence
from dashboard.tabs.compare.answers import AnswerRequest, compare_answers, shown_answer, yardstick
from dashboard.tabs.compare.evaluation import (
    DEFAULT_STRENGTHS,
    announce_evaluation,
    evaluate,
    reopen_evaluation,
)
from dashboard.tabs.compare.submission import (
    concern_markdown,
    evaluated_strengths,
    evidence_concern,
    submit,
)
from dashboard.views.compare import EvaluationView
from steering.layers import layers_text


@dataclass(frozen=True)
class CompareTab:
    """What other tabs fill in: the held-out questions (Examples), the layers and the strengths
    to test (Build)."""

    question: gr.Dropdown
    steer_layers: gr.Textbox
    strengths: gr.Textbox  # the strengths to test, suggested per vector by Build
    earlier: gr.Dropdown  # the user's earlier evaluations, kept current by signin and wire


def create_ui(ctx: AppContext, state: gr.State) -> CompareTab:
    with gr.Tab("4 · Compare", id="compare", elem_id="tab-compare"):
        gr.Markdown("### Side by side\nThe same question, answered without and with the vector.")
        question = gr.Dropdown(
            choices=[],
            label="Pick a held-out question (or type your own below)",
            elem_id="compare-question",
        )
        prompt = gr.Textbox(label="Question", lines=3, elem_id="compare-prompt")
        with gr.Row():
            strength = gr.Slider(
                -2,
                4,
                value=0.5,
                step=0.05,
                label="Strength",
                info="0 = no steering; larger = stronger push (too strong degrades answers)",
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
    question.change(lambda q: q or gr.skip(), question, prompt)

    def do_generate(
        session: BrowserSession, text: str, alpha: float, layers: str, tokens: int
    ) -> dict:
        answers = compare_answers(ctx, session, AnswerRequest(text, alpha, layers, tokens))
        return {
            unsteered: shown_answer(answers["unsteered"]),
            steered: shown_answer(answers["steered"]),
            marks: yardstick(session, text, answers),
            compare_status: f"Strength {alpha:g}: both answers come from one batched call (the "
            "model wrote them side by side in the same run, so they differ only by the vector).",
        }

    generate.click(
        guarded(compare_status, do_generate),
        [state, prompt, strength, steer_layers_box, max_tokens],
        [unsteered, steered, marks, compare_status],
    )

    def do_evaluate(
        session: BrowserSession,
        alphas: str,
        layers: str,
        limit: float | None,
        effects_on: bool,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> Iterator[dict]:
        # The estimate first, on the status line, where it stays while the evaluation runs.
        announced = announce_evaluation(ctx, session, alphas, int(limit or 0), effects_on)
        yield {eval_status: announced}
        started = time.monotonic()
        view = evaluate(
            ctx, session, alphas, layers, int(limit or 0), effects_on, progress_bar(progress)
        )
        took = estimates.duration_words(time.monotonic() - started).removeprefix("about ")
        yield {**evaluated(session, view), eval_status: f"Evaluated in {took}. {announced}"}

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

    def do_reopen(session: BrowserSession, evaluation_id: int | None) -> dict:
        if evaluation_id is None:
            return {}
        view = reopen_evaluation(ctx, session, evaluation_id)
        prompts = [e.prompt for e in session.heldout_rows]
        return {
            **evaluated(session, view),
            eval_status: f"Reopened evaluation #{session.evaluation_id} of vector "
            f"#{session.vector_id}: submit it below, or run a new evaluation.",
            steer_layers_box: layers_text(session.evaluation_layers),
            question: gr.Dropdown(choices=[(p[:120], p) for p in prompts], value=None),
        }

    earlier_evaluations.input(
        guarded(eval_status, do_reopen),
        [state, earlier_evaluations],
        [*shown, steer_layers_box, question],
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
    return CompareTab(question, steer_layers_box, strengths, earlier_evaluations)
