"""Tab 4, Compare: answers without and with the vector, the held-out evaluation, submitting.

The strength is chosen on build rows and reported on held-out rows (``evaluate_heldout``); the
submission freezes the vector, the strength, the layers and that evaluation.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

from dashboard import views
from dashboard.common import (
    Progress,
    UserError,
    loaded_model,
    need_user,
    one_job,
    quiet,
    sha256_text,
)
from dashboard.context import AppContext
from dashboard.session import BrowserSession
from dashboard.tabs.events import guarded, progress_bar
from dashboard.tabs.evidence import create_evidence
from steering.engine.generate import side_by_side
from steering.evaluation.evaluate import evaluate_heldout
from steering.evaluation.strengths import parse_strengths
from steering.layers import layers_text, parse_layers
from steering.vectors import ControlVector


def _need_vector(session: BrowserSession) -> ControlVector:
    if session.vector is None or session.vector_id is None:
        raise UserError("Build a vector first (tab 3, Build).")
    return session.vector


def steer_layers(session: BrowserSession, layers: str | None) -> list[int]:
    """The layers typed (else the recommended ones), checked against the vector's layers."""
    vector = _need_vector(session)
    spec = (layers or "").strip() or layers_text(session.recommended) or "all"
    chosen = parse_layers(spec, max(vector.layers) + 1)
    missing = [i for i in chosen if i not in vector.directions]
    if missing:
        raise UserError(
            f"The vector was built without layer(s) {missing}; it covers "
            f"{layers_text(vector.layers)}."
        )
    return chosen


def compare(
    ctx: AppContext,
    session: BrowserSession,
    prompt: str,
    strength: float,
    layers: str | None = None,
    max_new_tokens: int = 48,
) -> tuple[str, str]:
    """The unsteered and steered answers to one prompt, from one batched call."""
    user = need_user(session)
    vector = _need_vector(session)
    if not (prompt or "").strip():
        raise UserError("Type a question, or pick one of the held-out questions.")
    chosen = steer_layers(session, layers)
    with one_job(user, "answer generation"):
        answers = side_by_side(
            loaded_model(ctx, session),
            prompt,
            vector,
            float(strength),
            layers=chosen,
            max_new_tokens=int(max_new_tokens),
        )
    ctx.store.record_event(
        user,
        "generate",
        "vector",
        session.vector_id,
        {"prompt_sha256": sha256_text(prompt), "strength": float(strength), "layers": chosen},
    )
    return answers["unsteered"], answers["steered"]


def evaluate(
    ctx: AppContext,
    session: BrowserSession,
    strengths: str = "0, 0.25, 0.5, 1",
    layers: str | None = None,
    max_questions: int | None = None,
    side_effects: bool = True,
    progress: Progress = quiet,
) -> views.EvaluationView:
    """Held-out evaluation at several strengths; stored with its configuration."""
    user = need_user(session)
    vector = _need_vector(session)
    alphas = parse_strengths(strengths)
    chosen = steer_layers(session, layers)
    build_rows, heldout_rows = list(session.build_rows), list(session.heldout_rows)
    if max_questions:
        limit = max(1, int(max_questions))
        build_rows, heldout_rows = build_rows[:limit], heldout_rows[:limit]
    if not heldout_rows:
        raise UserError("The example set has no held-out rows to evaluate on.")
    with one_job(user, "evaluation"):
        report = evaluate_heldout(
            loaded_model(ctx, session),
            vector,
            build_rows,
            heldout_rows,
            alphas=tuple(alphas),
            layers=chosen,
            progress=lambda done, total: progress(done, total, "Scoring held-out questions"),
            side_effects=side_effects,
        )
    config = {
        "strengths": list(alphas),
        "layers": chosen,
        "build_rows": len(build_rows),
        "heldout_rows": len(heldout_rows),
        "side_effects": bool(side_effects),
        "dataset_hash": session.example_set.content_hash if session.example_set else "",
    }
    stored = ctx.store.add_evaluation(session.vector_id, config, report.to_dict(), user)
    session.evaluation, session.evaluation_id = report, stored.id
    session.evaluation_layers = chosen
    return views.evaluation_view(report)


def submit(
    ctx: AppContext,
    session: BrowserSession,
    strength: float | None = None,
    layers: str | None = None,
) -> str:
    """Freeze vector + strength + layers + evaluation and send it for review."""
    user = need_user(session)
    _need_vector(session)
    if session.evaluation_id is None or session.evaluation is None:
        raise UserError("Run the held-out evaluation first: reviewers need the evidence.")
    offered = ", ".join(f"{a:g}" for a in evaluated_strengths(session))
    if strength is None:
        strength = session.evaluation.chosen_alpha
    if strength is None:
        raise UserError(f"Choose one of the evaluated strengths to submit: {offered}.")
    if float(strength) == 0:
        raise UserError(
            "Strength 0 means no steering, so there is nothing to approve. The evaluation found no "
            "strength that did better on the build rows; to submit anyway, choose one of the "
            f"evaluated strengths: {offered}."
        )
    # Anything the evaluation did not test is refused by the store (storage.workflow's rule).
    chosen = steer_layers(session, layers) if (layers or "").strip() else session.evaluation_layers
    draft = ctx.store.create_submission(
        session.vector_id, float(strength), chosen, session.evaluation_id, user
    )
    sent = ctx.store.submit(draft.id, user, draft.version)
    return (
        f"Submission #{sent.id} sent for review: vector #{sent.vector_id} at strength "
        f"{sent.strength:g} on layers {layers_text(sent.layers)}. A reviewer other than you "
        "must approve it."
    )


def evaluated_strengths(session: BrowserSession) -> list[float]:
    """The strengths the session's evaluation tested, other than 0: what may be submitted."""
    if session.evaluation is None:
        return []
    return sorted({r.alpha for r in session.evaluation.results if r.alpha != 0})


@dataclass(frozen=True)
class CompareTab:
    """What other tabs fill in: the held-out questions (Examples) and the layers (Build)."""

    question: gr.Dropdown
    steer_layers: gr.Textbox


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

        gr.Markdown(
            "### Held-out evaluation\nAccuracy on questions the vector never saw, at several "
            "strengths. The strength is chosen on build rows and reported on held-out rows."
        )
        with gr.Row():
            strengths = gr.Textbox(
                value="0, 0.25, 0.5, 1",
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
        verdict = gr.Markdown(elem_id="eval-verdict", elem_classes=["verdict"])
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
        submit_status = gr.Markdown(elem_id="submit-status")
    question.change(lambda q: q or gr.skip(), question, prompt)

    def do_generate(
        session: BrowserSession, text: str, alpha: float, layers: str, tokens: int
    ) -> dict:
        answer_plain, answer_steered = compare(ctx, session, text, alpha, layers, tokens)
        return {
            unsteered: answer_plain,
            steered: answer_steered,
            compare_status: f"Strength {alpha:g}: both answers come from one batched call.",
        }

    generate.click(
        guarded(compare_status, do_generate),
        [state, prompt, strength, steer_layers_box, max_tokens],
        [unsteered, steered, compare_status],
    )

    def do_evaluate(
        session: BrowserSession,
        alphas: str,
        layers: str,
        limit: float | None,
        effects_on: bool,
        progress=gr.Progress(),  # noqa: B008
    ) -> dict:
        view = evaluate(
            ctx, session, alphas, layers, int(limit or 0), effects_on, progress_bar(progress)
        )
        return {
            state: session,
            verdict: f"**{html.escape(view.verdict)}**" if view.verdict else "",
            **evidence.show(view),
            submit_strength: gr.Dropdown(
                choices=[(f"{a:g}", a) for a in evaluated_strengths(session)],
                value=view.chosen_alpha or None,
            ),
            submit_layers: layers_text(session.evaluation_layers),
        }

    run_eval.click(
        guarded(verdict, do_evaluate),
        [state, strengths, steer_layers_box, max_questions, side_effects],
        [state, verdict, *evidence.components, submit_strength, submit_layers],
    )

    def do_submit(session: BrowserSession, alpha: float | None, layers: str) -> dict:
        return {submit_status: submit(ctx, session, alpha, layers)}

    submit_button.click(
        guarded(submit_status, do_submit),
        [state, submit_strength, submit_layers],
        [submit_status],
    )
    return CompareTab(question, steer_layers_box)
