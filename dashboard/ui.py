"""The Blocks layout and event wiring: one function per tab, handlers in :mod:`dashboard.handlers`.

Each event function calls one handler and turns its result into component values; a user error
becomes a message in the tab's status line instead of a stack trace. Model output only ever goes
into text boxes, so it is shown as text and never rendered as HTML or markdown.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from dashboard import handlers as h
from dashboard.context import AppContext
from dashboard.session import Session

CSS_PATH = Path(__file__).resolve().parent.parent / "assets" / "css" / "app.css"
STATUSES = ["submitted", "approved", "rejected", "revoked", "draft", "all"]


def css() -> str:
    return CSS_PATH.read_text(encoding="utf-8") if CSS_PATH.is_file() else ""


def _error(error: BaseException) -> str:
    return f"**Problem:** {html.escape(str(error))}"


def _progress(progress: gr.Progress) -> h.Progress:
    def report(done: int, total: int, what: str) -> None:
        progress((done, total) if total > 1 else done / max(total, 1), desc=what)

    return report


def _guard(status: gr.components.Component, fn: Callable[..., dict]) -> Callable[..., dict]:
    """Run ``fn``; a user error becomes a message in ``status`` and nothing else changes."""

    # functools.wraps keeps fn's signature visible: gradio finds gr.Progress through it.
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> dict:
        try:
            return fn(*args, **kwargs)
        except h.known_errors() as error:
            return {status: _error(error)}

    return wrapped


def build_ui(ctx: AppContext, *, demo_users: bool = False) -> gr.Blocks:
    """The whole dashboard: a sign-in panel, then seven tabs following the journey."""
    with gr.Blocks(title="Control-vector lab") as demo:
        state = gr.State(Session())

        with gr.Column(visible=True, elem_id="login-panel") as login_panel:
            gr.Markdown(
                "# Control-vector lab\nBuild a control vector that nudges a language model "
                "towards careful reasoning, check on held-out questions whether it helps, and "
                "have a reviewer sign it off.\n\n**Sign in to start.**"
                + (
                    "\n\nDemo mode: the demo accounts and their passwords are printed in the "
                    "console where the app was started."
                    if demo_users
                    else ""
                )
            )
            login_user = gr.Textbox(label="User name", elem_id="login-user", max_lines=1)
            login_password = gr.Textbox(
                label="Password", type="password", elem_id="login-password", max_lines=1
            )
            login_button = gr.Button("Sign in", variant="primary", elem_id="login-button")
            login_status = gr.Markdown(elem_id="login-status")

        with gr.Column(visible=False, elem_id="main-panel") as main_panel:
            with gr.Row(elem_id="header", equal_height=True):
                header = gr.Markdown(elem_id="header-user")
                logout_button = gr.Button(
                    "Sign out", size="sm", scale=0, min_width=90, elem_id="logout-button"
                )
            with gr.Tabs(elem_id="tabs", overflow_behavior="wrap"):
                _model_tab(ctx, state)
                examples_tab = _examples_tab(ctx, state)
                build_tab = _build_tab(ctx, state)
                compare_tab = _compare_tab(ctx, state)
                review_tab = _review_tab(ctx, state)
                _audit_tab(ctx, state)
                downloads_tab = _downloads_tab(ctx, state)

        def do_login(name: str, password: str) -> dict:
            try:
                session = h.login(ctx, name, password)
            except h.known_errors() as error:
                return {login_status: _error(error), login_password: ""}
            queue_status = "submitted" if session.is_reviewer else "all"
            return {
                state: session,
                login_panel: gr.Column(visible=False),
                main_panel: gr.Column(visible=True),
                login_status: "",
                login_password: "",
                header: f"**Control-vector lab** · signed in as **{html.escape(session.user)}** "
                f"({session.role})",
                review_tab["status_filter"]: queue_status,
                review_tab["queue"]: gr.Dropdown(
                    choices=h.submission_choices(
                        ctx, None if queue_status == "all" else queue_status
                    ),
                    value=None,
                ),
                downloads_tab["approved"]: gr.Dropdown(choices=h.approved_choices(ctx)),
            }

        login_outputs = [
            state,
            login_panel,
            main_panel,
            login_status,
            login_password,
            header,
            review_tab["status_filter"],
            review_tab["queue"],
            downloads_tab["approved"],
        ]
        login_button.click(do_login, [login_user, login_password], login_outputs)
        login_password.submit(do_login, [login_user, login_password], login_outputs)

        def do_logout() -> dict:
            return {
                state: Session(),
                login_panel: gr.Column(visible=True),
                main_panel: gr.Column(visible=False),
                login_user: "",
            }

        logout_button.click(do_logout, None, [state, login_panel, main_panel, login_user])

        # Cross-tab wiring: an example set fills the Compare tab's question list; a build fills
        # its layer box.
        _wire_examples(ctx, state, examples_tab, compare_tab["question"])
        _wire_build(ctx, state, build_tab, compare_tab["steer_layers"])
    return demo


# ------------------------------------------------------------------------------- tabs


def _model_tab(ctx: AppContext, state: gr.State) -> dict:
    with gr.Tab("1 · Model", id="model", elem_id="tab-model"):
        gr.Markdown(
            "The bundled **SmolLM2-135M-Instruct** runs on a laptop CPU and is preselected. "
            "You can also type a Hugging Face model id, a local model folder, or a path to a "
            "`.gguf` file."
        )
        with gr.Row(elem_id="model-row"):
            spec = gr.Textbox(
                value=ctx.default_model,
                label="Model",
                info="'default' is the bundled model",
                elem_id="model-spec",
                scale=3,
            )
            load = gr.Button(
                "Load model", variant="primary", elem_id="model-load", scale=0, min_width=160
            )
        status = gr.Markdown(elem_id="model-status")
        card = gr.Markdown(elem_id="model-card", elem_classes=["card"])

        @_guard_status(status)
        def do_load(session: Session, value: str, progress=gr.Progress()) -> dict:  # noqa: B008
            table = h.load_model_card(ctx, session, value, _progress(progress))
            return {
                card: "| Model card | |\n|---|---|\n"
                + "\n".join(f"| {label} | {h._md(value)} |" for label, value in table.values),
                status: "**Model ready.** Next: **2 · Examples**.",
                state: session,
            }

        load.click(do_load, [state, spec], [card, status, state])
    return {}


def _guard_status(status: gr.components.Component) -> Callable:
    def decorate(fn: Callable[..., dict]) -> Callable[..., dict]:
        return _guard(status, fn)

    return decorate


def _examples_tab(ctx: AppContext, state: gr.State) -> dict:
    with gr.Tab("2 · Examples", id="examples", elem_id="tab-examples"):
        gr.Markdown(
            "Example pairs: a **prompt**, a **positive** completion (correct reasoning) and "
            "optionally a **negative** one (flawed reasoning), plus the correct **answer** "
            "(and **choices**) for the evaluation. Upload a CSV, JSONL, JSON or Excel file, "
            "or pick a bundled set."
        )
        with gr.Row():
            with gr.Column(min_width=260):
                bundled = gr.Dropdown(
                    choices=h.bundled_sets(),
                    value="arithmetic" if "arithmetic" in h.bundled_sets() else None,
                    label="Bundled example set",
                    elem_id="bundled-set",
                )
                use_bundled = gr.Button("Use this set", variant="primary", elem_id="use-bundled")
            with gr.Column(min_width=260):
                upload = gr.File(
                    label="…or upload your own file",
                    file_types=[".csv", ".jsonl", ".json", ".xlsx", ".xls"],
                    type="filepath",
                    elem_id="upload-examples",
                    height=130,
                )
        fraction = gr.Slider(
            0.1,
            0.5,
            value=0.3,
            step=0.05,
            label="Share of rows held out for testing",
            info="Held-out rows are never used to build the vector (seeded split).",
            elem_id="heldout-fraction",
        )
        status = gr.Markdown(elem_id="examples-status")
        errors = gr.Dataframe(
            label="Problems found (fix these rows and upload again)",
            headers=h.ERROR_COLUMNS,
            visible=False,
            interactive=False,
            wrap=True,
            elem_id="examples-errors",
        )
        preview = gr.Dataframe(
            label="Preview",
            headers=["row", "prompt", "positive", "negative", "answer", "choices"],
            interactive=False,
            wrap=True,
            max_chars=70,
            max_height=420,
            elem_id="examples-preview",
        )

    return {
        "bundled": bundled,
        "use_bundled": use_bundled,
        "upload": upload,
        "fraction": fraction,
        "status": status,
        "errors": errors,
        "preview": preview,
    }


def _wire_examples(ctx: AppContext, state: gr.State, ex: dict, question: Any) -> None:
    """Choosing an example set previews it and fills the Compare tab's question list."""
    status, errors, preview = ex["status"], ex["errors"], ex["preview"]

    def show(view: h.ExamplesView, session: Session) -> dict:
        return {
            state: session,
            status: view.summary,
            errors: gr.Dataframe(value=view.errors, visible=len(view.errors) > 0),
            preview: view.preview,
            question: gr.Dropdown(choices=[(p[:120], p) for p in view.heldout_prompts], value=None),
        }

    def do_bundled(session: Session, name: str, share: float) -> dict:
        return show(h.pick_bundled(ctx, session, name, share), session)

    def do_upload(session: Session, path: str | None, share: float) -> dict:
        if not path:
            return {}
        return show(h.upload_examples(ctx, session, path, share), session)

    outputs = [state, status, errors, preview, question]
    ex["use_bundled"].click(
        _guard(status, do_bundled), [state, ex["bundled"], ex["fraction"]], outputs
    )
    ex["upload"].upload(_guard(status, do_upload), [state, ex["upload"], ex["fraction"]], outputs)


def _build_tab(ctx: AppContext, state: gr.State) -> dict:
    with gr.Tab("3 · Build", id="build", elem_id="tab-build"):
        gr.Markdown(
            "The model reads each example; the vector is the direction in which good reasoning "
            "differs from flawed reasoning inside the model. The defaults follow the paper."
        )
        with gr.Row():
            method = gr.Radio(
                [("R-C: mean difference", "mean_diff"), ("R: reading", "reading")]
                + [("PCA-C: principal component", "pca_diff")],
                value="mean_diff",
                label="Method",
                info=" · ".join(h.METHOD_HELP.values()),
                elem_id="build-method",
            )
            negatives = gr.Radio(
                [("'negative' column", "column"), ("random letters", "random")],
                value="column",
                label="Negatives",
                info=" · ".join(h.NEGATIVES_HELP.values()),
                elem_id="build-negatives",
            )
        with gr.Row():
            position = gr.Radio(
                [("last token", "last"), ("mean of completion", "mean")],
                value="last",
                label="Token position",
                info=" · ".join(h.POSITION_HELP.values()),
                elem_id="build-position",
            )
            layers = gr.Textbox(
                value="all",
                label="Layers to read",
                info="'all' (recommended: the chart then suggests the best), a range like 10-20, "
                "or a list like 8,12,16.",
                elem_id="build-layers",
            )
            max_rows = gr.Number(
                value=0,
                precision=0,
                minimum=0,
                label="Rows to use per split (0 = all)",
                info="A few dozen rows give a quick first try; all rows give the best vector",
                elem_id="build-rows",
            )
        go = gr.Button("Build vector", variant="primary", elem_id="build-button")
        status = gr.Markdown(elem_id="build-status")
        chart = gr.Plot(label="Separation per layer", elem_id="build-chart")
    return {
        "inputs": [state, method, negatives, position, layers, max_rows],
        "button": go,
        "status": status,
        "chart": chart,
    }


def _wire_build(ctx: AppContext, state: gr.State, b: dict, steer_layers: Any) -> None:
    """Building shows the separation chart and fills the Compare tab's layer box."""
    status, chart = b["status"], b["chart"]

    def do_build(
        session: Session,
        method: str,
        negatives: str,
        position: str,
        layers: str,
        rows: float | None,
        progress=gr.Progress(),  # noqa: B008
    ) -> dict:
        view = h.build(
            ctx, session, method, negatives, position, layers, _progress(progress), int(rows or 0)
        )
        return {
            state: session,
            chart: view.figure,
            status: view.summary + " Next: **4 · Compare**.",
            steer_layers: view.layers_text,
        }

    b["button"].click(_guard(status, do_build), b["inputs"], [state, chart, status, steer_layers])


def _compare_tab(ctx: AppContext, state: gr.State) -> dict:
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
            steer_layers = gr.Textbox(
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
        eval_chart, eval_table, effects, samples = _evidence(
            "eval", "Results and the paper's diagnostics (first answer token)"
        )

        gr.Markdown("### Submit for review")
        with gr.Row():
            submit_strength = gr.Number(
                label="Strength to submit",
                info="Filled with the strength chosen by the evaluation",
                elem_id="submit-strength",
            )
            submit_layers = gr.Textbox(label="Layers", info="As evaluated", elem_id="submit-layers")
            submit_button = gr.Button(
                "Submit for review", variant="primary", elem_id="submit", scale=0, min_width=180
            )
        submit_status = gr.Markdown(elem_id="submit-status")

    question.change(lambda q: q or gr.skip(), question, prompt)

    def do_generate(session: Session, text: str, alpha: float, layers: str, tokens: int) -> dict:
        answer_plain, answer_steered = h.compare(ctx, session, text, alpha, layers, tokens)
        return {
            unsteered: answer_plain,
            steered: answer_steered,
            compare_status: f"Strength {alpha:g}: both answers come from one batched call.",
        }

    generate.click(
        _guard(compare_status, do_generate),
        [state, prompt, strength, steer_layers, max_tokens],
        [unsteered, steered, compare_status],
    )

    def do_evaluate(
        session: Session,
        alphas: str,
        layers: str,
        limit: float | None,
        effects_on: bool,
        progress=gr.Progress(),  # noqa: B008
    ) -> dict:
        view = h.evaluate(
            ctx, session, alphas, layers, int(limit or 0), effects_on, _progress(progress)
        )
        return {
            state: session,
            verdict: f"**{html.escape(view.verdict)}**" if view.verdict else "",
            eval_chart: view.figure,
            eval_table: view.table,
            effects: view.side_effects,
            samples: view.samples,
            submit_strength: view.chosen_alpha,
            submit_layers: h.layers_text(session.evaluation_layers),
        }

    run_eval.click(
        _guard(verdict, do_evaluate),
        [state, strengths, steer_layers, max_questions, side_effects],
        [state, verdict, eval_chart, eval_table, effects, samples, submit_strength, submit_layers],
    )

    def do_submit(session: Session, alpha: float | None, layers: str) -> dict:
        return {submit_status: h.submit(ctx, session, alpha, layers)}

    submit_button.click(
        _guard(submit_status, do_submit), [state, submit_strength, submit_layers], [submit_status]
    )

    return {"question": question, "steer_layers": steer_layers}


def _review_tab(ctx: AppContext, state: gr.State) -> dict:
    with gr.Tab("5 · Review", id="review", elem_id="tab-review"):
        gr.Markdown(
            "Reviewers read the evidence and approve or reject with a comment; an approval can "
            "later be revoked. Nobody can approve their own submission."
        )
        with gr.Row():
            status_filter = gr.Dropdown(
                STATUSES, value="submitted", label="Show", elem_id="review-filter", scale=1
            )
            queue = gr.Dropdown(
                choices=[], label="Submission", elem_id="review-queue", scale=3, min_width=240
            )
            refresh = gr.Button(
                "Refresh", size="sm", scale=0, min_width=90, elem_id="review-refresh"
            )
        summary = gr.Markdown(elem_id="review-summary")
        chart, table, effects, samples = _evidence("review", "Results")
        history = gr.Dataframe(
            label="Review history",
            headers=["when (UTC)", "reviewer", "decision", "comment"],
            interactive=False,
            wrap=True,
            elem_id="review-history",
        )
        note = gr.Markdown(elem_id="review-note")
        comment = gr.Textbox(
            label="Comment (required)", lines=2, elem_id="review-comment", visible=False
        )
        with gr.Row():
            approve = gr.Button("Approve", variant="primary", visible=False, elem_id="approve")
            reject = gr.Button("Reject", variant="stop", visible=False, elem_id="reject")
            revoke = gr.Button("Revoke approval", visible=False, elem_id="revoke")
        status = gr.Markdown(elem_id="review-status")

    evidence = [summary, chart, table, effects, samples, history, note, comment, approve, reject]
    evidence += [revoke]

    def show(session: Session, submission_id: int | None) -> dict:
        if submission_id is None:
            return {
                summary: "",
                note: "",
                comment: gr.Textbox(visible=False),
                approve: gr.Button(visible=False),
                reject: gr.Button(visible=False),
                revoke: gr.Button(visible=False),
            }
        view = h.show_submission(ctx, session, submission_id)
        return {
            state: session,
            summary: view.summary,
            chart: view.figure,
            table: view.table,
            effects: view.side_effects,
            samples: view.samples,
            history: view.history,
            note: view.note,
            comment: gr.Textbox(visible=view.can_decide or view.can_revoke, value=""),
            approve: gr.Button(visible=view.can_decide),
            reject: gr.Button(visible=view.can_decide),
            revoke: gr.Button(visible=view.can_revoke),
            status: "",
        }

    queue.change(_guard(status, show), [state, queue], [state, status, *evidence])

    def do_refresh(session: Session, which: str) -> dict:
        h._need_user(session)
        choices = h.submission_choices(ctx, None if which == "all" else which)
        return {queue: gr.Dropdown(choices=choices, value=None), status: ""}

    refresh.click(_guard(status, do_refresh), [state, status_filter], [queue, status])
    status_filter.change(_guard(status, do_refresh), [state, status_filter], [queue, status])

    def decider(decision: str) -> Callable[..., dict]:
        def do_decide(session: Session, text: str, submission_id: int | None, which: str) -> dict:
            message = h.decide(ctx, session, decision, text)
            result = show(session, submission_id)
            result[status] = message
            # The queue's labels carry the status: relabel them, keeping this submission chosen.
            choices = h.submission_choices(ctx, None if which == "all" else which)
            if submission_id not in [value for _, value in choices]:
                choices += [c for c in h.submission_choices(ctx) if c[1] == submission_id]
            result[queue] = gr.Dropdown(choices=choices, value=submission_id)
            return result

        return _guard(status, do_decide)

    for button, decision in ((approve, "approve"), (reject, "reject"), (revoke, "revoke")):
        button.click(
            decider(decision),
            [state, comment, queue, status_filter],
            [state, status, queue, *evidence],
        )
    return {"status_filter": status_filter, "queue": queue}


def _evidence(prefix: str, table_label: str) -> tuple:
    """The evaluation evidence, laid out the same for the builder and the reviewer."""
    chart = gr.Plot(label="Accuracy against strength", elem_id=f"{prefix}-chart")
    table = gr.Dataframe(
        label=table_label,
        headers=[label for _, label in h.RESULT_COLUMNS],
        interactive=False,
        elem_id=f"{prefix}-table",
    )
    with gr.Row():
        effects = gr.Dataframe(
            label="Side effects",
            headers=h.SIDE_COLUMNS,
            interactive=False,
            wrap=True,
            elem_id=f"{prefix}-effects",
        )
        samples = gr.Textbox(
            label="Sample answers", lines=10, interactive=False, elem_id=f"{prefix}-samples"
        )
    return chart, table, effects, samples


def _audit_tab(ctx: AppContext, state: gr.State) -> dict:
    with gr.Tab("6 · Audit", id="audit", elem_id="tab-audit"):
        gr.Markdown(
            "Every action, who did it and when. Each entry carries the hash of the one before, "
            "so any edit, deletion or insertion is detected by **Verify integrity**."
        )
        with gr.Row():
            actor = gr.Textbox(label="User", elem_id="audit-actor", min_width=120)
            action = gr.Textbox(
                label="Action", placeholder="e.g. submission.approve", elem_id="audit-action"
            )
            object_type = gr.Textbox(
                label="Object", placeholder="e.g. submission", elem_id="audit-object"
            )
            show = gr.Button("Show", variant="primary", scale=0, min_width=90, elem_id="audit-show")
        table = gr.Dataframe(
            interactive=False,
            wrap=True,
            max_chars=160,
            headers=h.AUDIT_COLUMNS,
            max_height=460,
            elem_id="audit-table",
            label="Audit trail",
        )
        with gr.Row(equal_height=True):
            verify = gr.Button("Verify integrity", elem_id="audit-verify")
            export = gr.Button("Export CSV", elem_id="audit-export")
        result = gr.Markdown(elem_id="audit-result")
        export_file = gr.File(label="Audit trail (CSV)", visible=False, elem_id="audit-file")

    def do_show(session: Session, who: str, what: str, kind: str) -> dict:
        return {table: h.audit_table(ctx, session, who, what, kind), result: ""}

    show.click(_guard(result, do_show), [state, actor, action, object_type], [table, result])

    def do_verify(session: Session) -> dict:
        return {result: h.verify_audit(ctx, session)}

    verify.click(_guard(result, do_verify), [state], [result])

    def do_export(session: Session) -> dict:
        path = h.export_audit_csv(ctx, session)
        return {
            export_file: gr.File(value=str(path), visible=True),
            result: "Exported: use the link below.",
        }

    export.click(_guard(result, do_export), [state], [export_file, result])
    return {}


def _downloads_tab(ctx: AppContext, state: gr.State) -> dict:
    with gr.Tab("7 · Downloads", id="downloads", elem_id="tab-downloads"):
        gr.Markdown(
            "Approved vectors, ready to use: **safetensors** for this lab and Python, **GGUF** "
            "for llama.cpp (`llama-cli --control-vector-scaled FILE STRENGTH`), and the "
            "evaluation report as one HTML file that opens offline."
        )
        with gr.Row():
            approved = gr.Dropdown(
                choices=[], label="Approved submission", elem_id="downloads-approved", scale=3
            )
            refresh = gr.Button(
                "Refresh", size="sm", scale=0, min_width=90, elem_id="downloads-refresh"
            )
        with gr.Row():
            get_st = gr.Button("Vector (safetensors)", elem_id="get-safetensors")
            get_gguf = gr.Button("llama.cpp (GGUF)", elem_id="get-gguf")
            get_report = gr.Button("Evaluation report (HTML)", elem_id="get-report")
        status = gr.Markdown(elem_id="downloads-status")
        file = gr.File(label="Your file", visible=False, elem_id="download-file")

    def do_refresh(session: Session) -> dict:
        h._need_user(session)
        return {approved: gr.Dropdown(choices=h.approved_choices(ctx), value=None), status: ""}

    refresh.click(_guard(status, do_refresh), [state], [approved, status])

    def maker(make: Callable[..., Path]) -> Callable[..., dict]:
        def do_make(session: Session, submission_id: int | None) -> dict:
            path = make(ctx, session, submission_id)
            return {
                file: gr.File(value=str(path), visible=True),
                status: f"Ready: **{html.escape(path.name)}**, use the link below.",
            }

        return _guard(status, do_make)

    for button, make in (
        (get_st, h.download_safetensors),
        (get_gguf, h.download_gguf),
        (get_report, h.download_report),
    ):
        button.click(maker(make), [state, approved], [file, status])
    return {"approved": approved}
