"""Tab 4, Compare: answers without and with the vector, the held-out evaluation, submitting.

The strength is chosen on build rows and reported on held-out rows (``evaluate_heldout``); the
submission freezes the vector, the strength, the layers and that evaluation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import gradio as gr

from dashboard import earlier, estimates
from dashboard.browser_state import BrowserSession
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
from dashboard.events import guarded, guarded_steps, progress_bar
from dashboard.evidence import create_evidence
from dashboard.views.common import md
from dashboard.views.compare import EvaluationView, evaluation_view
from steering.data.examples import Example
from steering.engine.generate import Answer, side_by_side_answers
from steering.evaluation.answers import expected_form, extract_answer, is_correct
from steering.evaluation.evaluate import evaluate_heldout
from steering.evaluation.strengths import parse_strengths, with_baseline
from steering.layers import layers_text, parse_layers
from steering.vectors import ControlVector
from storage.workflow import against_evidence


def _need_vector(session: BrowserSession) -> ControlVector:
    if session.vector is None or session.vector_id is None:
        raise UserError("Build a vector first (tab 3, Build).")
    return session.vector


def _need_vector_id(session: BrowserSession) -> int:
    """The stored id of the session's vector (asked only after :func:`_need_vector` passed)."""
    _need_vector(session)
    assert session.vector_id is not None
    return session.vector_id


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
    answers = compare_answers(ctx, session, prompt, strength, layers, max_new_tokens)
    return answers["unsteered"].text, answers["steered"].text


def compare_answers(
    ctx: AppContext,
    session: BrowserSession,
    prompt: str,
    strength: float,
    layers: str | None = None,
    max_new_tokens: int = 48,
) -> dict[str, Answer]:
    """Both answers to one prompt, each knowing whether the token limit cut it."""
    user = need_user(session)
    vector = _need_vector(session)
    if not (prompt or "").strip():
        raise UserError("Type a question, or pick one of the held-out questions.")
    chosen = steer_layers(session, layers)
    with one_job(user, "answer generation"):
        answers = side_by_side_answers(
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
        _need_vector_id(session),
        {"prompt_sha256": sha256_text(prompt), "strength": float(strength), "layers": chosen},
    )
    return answers


def known_question(session: BrowserSession, prompt: str) -> tuple[Example, str] | None:
    """The example-set row with exactly this question and a known answer, and its split."""
    wanted = (prompt or "").strip()
    for rows, split in ((session.heldout_rows, "held-out"), (session.build_rows, "build")):
        for example in rows:
            if example.prompt.strip() == wanted and (example.answer or "").strip():
                return example, split
    return None


def shown_answer(answer: Answer) -> str:
    """The answer as the text box shows it: said so when the token limit stopped it."""
    if answer.cut:
        return f"{answer.text} … (stopped at the {answer.limit}-token limit)"
    return answer.text


def yardstick(session: BrowserSession, prompt: str, answers: dict[str, Answer]) -> str:
    """Both answers marked right or wrong against the example set's correct answer (Markdown).

    The answer is read from each text the way the evaluation reads generated answers
    (``steering.evaluation.answers``), so a mark here means what it means in the evaluation.
    """
    known = known_question(session, prompt)
    if known is None:
        return (
            "This question is not in the example set, so there is no correct answer to mark "
            "the answers against. Pick a held-out question to see right and wrong."
        )
    example, split = known
    answer = str(example.answer)
    choices = tuple(example.choices) if example.choices else None
    lines = [f"**Correct answer: {md(answer)}** (row {example.row}, a {split} question)."]
    for key, label in (("unsteered", "Without the vector"), ("steered", "With the vector")):
        found = extract_answer(answers[key].text, answer, choices)
        right = is_correct(found, answer)
        read = "no answer found" if found is None else f"answer read: {md(found)}"
        cut = " (stopped at the token limit before finishing)" if answers[key].cut else ""
        mark = "✓ right" if right else "✗ wrong"
        lines.append(f"- {label}: **{mark}** ({read}){cut}")
    if expected_form(answer) != answer.strip():
        lines.append(f"\nAnswers are compared in the form {md(expected_form(answer))}.")
    return "\n".join(lines)


def evaluate(
    ctx: AppContext,
    session: BrowserSession,
    strengths: str = "0, 0.25, 0.5, 1",
    layers: str | None = None,
    max_questions: int | None = None,
    side_effects: bool = True,
    progress: Progress = quiet,
) -> EvaluationView:
    """Held-out evaluation at several strengths; stored with its configuration."""
    user = need_user(session)
    vector = _need_vector(session)
    alphas = parse_strengths(strengths)
    chosen = steer_layers(session, layers)
    build_rows, heldout_rows = _evaluation_rows(session, max_questions)
    loaded = loaded_model(ctx, session)
    with one_job(user, "evaluation"):
        # One bar through the phases, each named, with the time left.
        expected = estimate_evaluation(ctx, session, strengths, max_questions, side_effects)
        counts = {estimates.EVAL_BUILD: len(build_rows), estimates.EVAL_HELDOUT: len(heldout_rows)}
        report_progress = estimates.phased_progress(
            progress, expected, estimates.cumulative(counts)
        )
        started = time.monotonic()
        report = evaluate_heldout(
            loaded,
            vector,
            build_rows,
            heldout_rows,
            alphas=tuple(alphas),
            layers=chosen,
            progress=lambda done, total: report_progress(done, total, ""),
            side_effects=side_effects,
        )
    estimates.remember(loaded, "evaluation", expected.seconds, time.monotonic() - started)
    config = {
        "strengths": list(alphas),
        "layers": chosen,
        "build_rows": len(build_rows),
        "heldout_rows": len(heldout_rows),
        "side_effects": bool(side_effects),
        "dataset_hash": session.example_set.content_hash if session.example_set else "",
    }
    stored = ctx.store.add_evaluation(_need_vector_id(session), config, report.to_dict(), user)
    session.evaluation, session.evaluation_id = report, stored.id
    session.evaluation_layers = chosen
    return evaluation_view(report, config=config, lineage=vector.metadata)


def _evaluation_rows(session: BrowserSession, max_questions: int | None) -> tuple[list, list]:
    """The build and held-out rows an evaluation uses (the first ``max_questions`` of each)."""
    build_rows, heldout_rows = list(session.build_rows), list(session.heldout_rows)
    if max_questions:
        limit = max(1, int(max_questions))
        build_rows, heldout_rows = build_rows[:limit], heldout_rows[:limit]
    if not heldout_rows:
        raise UserError("The example set has no held-out rows to evaluate on.")
    return build_rows, heldout_rows


def estimate_evaluation(
    ctx: AppContext,
    session: BrowserSession,
    strengths: str = "0, 0.25, 0.5, 1",
    max_questions: int | None = None,
    side_effects: bool = True,
) -> estimates.Estimate:
    """How long the evaluation should take, by phase, with this model on this machine."""
    _need_vector(session)
    build_rows, heldout_rows = _evaluation_rows(session, max_questions)
    loaded = loaded_model(ctx, session)
    count = len(with_baseline(parse_strengths(strengths)))
    work = estimates.evaluation_work(loaded, build_rows, heldout_rows, count, side_effects)
    return estimates.estimate(loaded, "evaluation", work)


def announce_evaluation(
    ctx: AppContext,
    session: BrowserSession,
    strengths: str = "0, 0.25, 0.5, 1",
    max_questions: int | None = None,
    side_effects: bool = True,
) -> str:
    """What the status says as an evaluation starts: what it runs and how long it should take."""
    need_user(session)
    expected = estimate_evaluation(ctx, session, strengths, max_questions, side_effects)
    build_rows, heldout_rows = _evaluation_rows(session, max_questions)
    count = len(with_baseline(parse_strengths(strengths)))
    effects = ", then side effects on neutral text" if side_effects else ""
    return (
        f"**Evaluating: this should take {expected.words}** ({count} strengths on "
        f"{len(build_rows)} build questions to choose one, then on {len(heldout_rows)} held-out "
        f"questions{effects}; at the speed this model has shown on this machine)."
    )


def reopen_evaluation(
    ctx: AppContext, session: BrowserSession, evaluation_id: int | None
) -> EvaluationView:
    """One of the user's earlier evaluations (and its vector) back in the session, to submit."""
    reopened = earlier.reopen_evaluation(ctx, session, evaluation_id)
    lineage = reopened.vector.stored.lineage if reopened.vector else _need_vector(session).metadata
    return evaluation_view(reopened.report, config=reopened.stored.config, lineage=lineage)


def evidence_concern(session: BrowserSession, strength: float | None) -> str | None:
    """Why submitting ``strength`` goes against the session's evaluation, or None.

    Asked of :func:`storage.workflow.against_evidence` (the store flags the same), on the JSON
    the evaluation is stored as.
    """
    if session.evaluation is None or strength is None or float(strength) == 0:
        return None
    return against_evidence(float(strength), session.evaluation.to_dict())


def submit(
    ctx: AppContext,
    session: BrowserSession,
    strength: float | None = None,
    layers: str | None = None,
    reason: str | None = None,
) -> str:
    """Freeze vector + strength + layers + evaluation and send it for review.

    A strength the evaluation did not choose, or an evaluation that does not recommend
    deploying, is submitted only with a written ``reason``; the audit event carries both.
    """
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
    # A strength the evaluation did not test is refused by the store below, whatever the reason.
    tested = any(math.isclose(a, float(strength)) for a in evaluated_strengths(session))
    concern = evidence_concern(session, float(strength)) if tested else None
    if concern is not None and not (reason or "").strip():
        raise UserError(
            f"This goes against the evidence. {concern} You may still submit it: write why in "
            "'Why submit against the evidence', so the reviewer knows you decided it knowingly."
        )
    # One action, one transaction: a refusal leaves no draft behind to pile up on retries.
    sent = ctx.store.create_and_submit(
        _need_vector_id(session),
        float(strength),
        chosen,
        session.evaluation_id,
        user,
        reason if concern else None,
    )
    message = (
        f"Submission #{sent.id} sent for review: vector #{sent.vector_id} at strength "
        f"{sent.strength:g} on layers {layers_text(sent.layers)}. A reviewer other than you "
        "must approve it."
    )
    if concern is not None:
        message += " It is flagged as going against the evidence, with your reason."
    return message


def concern_markdown(concern: str | None) -> str:
    """The warning shown next to the submit button when the choice goes against the evidence."""
    if concern is None:
        return ""
    return (
        f"⚠ **Against the evidence:** {md(concern)} You may still submit it; write why "
        "below. The reviewer, the report and the audit trail will show it."
    )


def evaluated_strengths(session: BrowserSession) -> list[float]:
    """The strengths the session's evaluation tested, other than 0: what may be submitted."""
    if session.evaluation is None:
        return []
    return sorted({r.alpha for r in session.evaluation.results if r.alpha != 0})


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
        answers = compare_answers(ctx, session, text, alpha, layers, tokens)
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
