"""Tab 3, Build: read activations on the build rows, make the vector, chart and recommend layers.

Or use a vector made elsewhere: a llama.cpp control-vector GGUF (repeng,
``llama-cvector-generator``) is read against the loaded model and stored as the session's vector,
exactly as a built one, so Compare, evaluation, submission and review work the same on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import gradio as gr

from dashboard import earlier, estimates, job_watch, jobs
from dashboard.browser_state import BrowserSession
from dashboard.common import (
    SPLIT_SEED,
    Progress,
    UserError,
    loaded_model,
    need_user,
    quiet,
)
from dashboard.context import AppContext
from dashboard.events import guarded, guarded_steps, progress_bar, unchanged
from dashboard.views.build import (
    METHOD_NAMES,
    BuildView,
    ConditionChoice,
    built_view,
    condition_choice,
    imported_view,
    reopened_view,
    strengths_to_test,
)
from dashboard.web.uploads import take_upload, uploaded_file
from steering.build import METHODS, build_vector, stored_layer_scores
from steering.condition import MIN_CONDITION_ROWS
from steering.data.everyday import everyday_prompts
from steering.engine.models import fingerprint
from steering.engine.timing import reading_work
from steering.export import import_gguf
from storage import StoredJob

METHOD_HELP = (
    "The vector is a direction inside the model. The paper's names: R-C (the first choice, its "
    "best), R, PCA-C."
)
NEGATIVES_HELP = (
    "The flawed answers the good ones are contrasted with: your file's 'negative' column, or "
    "random letter strings (as in the paper) when the file has none."
)
POSITION_HELP = (
    "Where in each example the model's inner state (its activations: the numbers each layer "
    "passes on) is read: at the last word piece (token), as in the paper, or averaged over the "
    "answer."
)
BUILD_SEED = 0


def build(
    ctx: AppContext,
    session: BrowserSession,
    method: str = "mean_diff",
    negatives: str = "column",
    position: str = "last",
    layers: str = "all",
    progress: Progress = quiet,
    max_rows: int | None = None,
    condition: bool = True,
) -> BuildView:
    """Read activations on the build rows, make the vector, score layers on held-out rows, store.

    ``max_rows`` (a quick first try) uses only the first rows of each split; the vector's lineage
    records how many, so the build stays reproducible from the stored example set. ``condition``
    ("Steer only questions like these examples") gives the vector a gate chosen on the build
    rows' prompts against everyday prompts (``build_vector(condition="auto")``, which makes none,
    and says why, with too few rows); off, the vector steers every prompt.
    """
    user = need_user(session)
    example_set = session.example_set
    if example_set is None:
        raise UserError("Choose an example set first (tab 2, Examples).")
    if negatives == "column" and method != "reading" and not example_set.has_negatives:
        raise UserError(
            "This example set has no 'negative' column: choose 'random' negatives "
            "(random letter strings, as in the paper)."
        )
    build_rows, heldout_rows = _rows(session, max_rows)
    loaded = loaded_model(ctx, session)
    with jobs.tracked_job(ctx.store, user, jobs.BUILD) as job:
        expected = estimate_build(ctx, session, method, max_rows, condition)
        job.expect(expected.seconds)
        counts = estimates.build_texts(build_rows, heldout_rows, method)
        report = estimates.phased_progress(
            progress, expected, estimates.cumulative(counts), on_update=job.progress
        )
        result = build_vector(
            loaded,
            build_rows,
            method=method,
            negatives=negatives,
            position=position,
            layers=layers,
            seed=BUILD_SEED,
            heldout=heldout_rows,
            progress=lambda done, total: report(done, total, ""),
            condition="auto" if condition else "off",
            lineage={
                "created_by": user,
                "dataset_hash": example_set.content_hash,
                "dataset_name": example_set.name or "",
                "split_seed": SPLIT_SEED,
                "heldout_fraction": session.heldout_fraction,
                "heldout_rows_scored": len(heldout_rows),
                # Said with the evidence, so the reviewer and the report see what was left out.
                **(
                    {"skipped_rows": list(example_set.skipped_rows)}
                    if example_set.skipped_rows
                    else {}
                ),
            },
        )
        vector = result.vector
        # Stored inside the job, so its record names the vector when it says it is done.
        stored = ctx.store.add_vector(
            vector.to_bytes(), vector.metadata, user, session.example_set_id
        )
        job.made(stored.id)
    estimates.remember(loaded, "build", expected.seconds, result.seconds)
    session.forget_work()
    session.vector, session.vector_id = vector, stored.id
    session.recommended = list(result.recommended_layers)
    return built_view(
        stored.id,
        result,
        estimated=expected.words,
        method=method,
        negatives=negatives,
        position=position,
    )


def _rows(session: BrowserSession, max_rows: int | None) -> tuple[list, list]:
    """The build and held-out rows a build uses (the first ``max_rows`` of each, when given)."""
    build_rows, heldout_rows = list(session.build_rows), list(session.heldout_rows)
    if max_rows:
        build_rows, heldout_rows = build_rows[: int(max_rows)], heldout_rows[: int(max_rows)]
    return build_rows, heldout_rows


def _gate_prompts(build_rows: list, condition: bool) -> list[str]:
    """The prompts a build reads to choose its gate: none without one (off, or too few rows)."""
    if not condition or len(build_rows) < MIN_CONDITION_ROWS:
        return []
    task = list(dict.fromkeys(e.prompt for e in build_rows))
    return task + list(everyday_prompts("build"))


def estimate_build(
    ctx: AppContext,
    session: BrowserSession,
    method: str = "mean_diff",
    max_rows: int | None = None,
    condition: bool = True,
) -> estimates.Estimate:
    """How long a build of the session's rows should take with this model on this machine.

    Choosing a gate reads the build prompts and the everyday prompts once more, right after
    the build rows; that reading is counted with theirs (the bar's first phase).
    """
    if session.example_set is None:
        raise UserError("Choose an example set first (tab 2, Examples).")
    build_rows, heldout_rows = _rows(session, max_rows)
    loaded = loaded_model(ctx, session)
    phases = estimates.build_work(loaded, build_rows, heldout_rows, method)
    gate_texts = [(p, "") for p in _gate_prompts(build_rows, condition)]
    if gate_texts:
        gate_work = reading_work(loaded, gate_texts, estimates.BUILD_BATCH)
        phases[estimates.BUILD_READING] = phases[estimates.BUILD_READING] + gate_work
    return estimates.estimate(loaded, "build", phases)


def condition_default(session: BrowserSession, max_rows: int | None = None) -> ConditionChoice:
    """The "Steer only questions like these examples" box for the rows a build would use now."""
    if session.example_set is None:
        return condition_choice(None)
    return condition_choice(len(_rows(session, max_rows)[0]))


def announce_build(
    ctx: AppContext,
    session: BrowserSession,
    method: str = "mean_diff",
    max_rows: int | None = None,
    condition: bool = True,
) -> str:
    """What the status says as a build starts: the rows and how long it should take."""
    need_user(session)
    expected = estimate_build(ctx, session, method, max_rows, condition)
    build_rows, heldout_rows = _rows(session, max_rows)
    gating = ""
    if _gate_prompts(build_rows, condition):
        gating = f", {len(everyday_prompts('build'))} everyday prompts to tell your questions from"
    return (
        f"**Building the vector: this should take {expected.words}** ({len(build_rows)} build "
        f"rows{gating}, then {len(heldout_rows)} held-out rows to score each layer, at the speed "
        "this model has shown on this machine)."
    )


def reopen_vector(ctx: AppContext, session: BrowserSession, vector_id: int | None) -> BuildView:
    """One of the user's earlier vectors (and its example set) back in the session."""
    reopened = earlier.reopen_vector(ctx, session, vector_id)
    chosen_set = reopened.example_set
    return reopened_view(
        reopened.stored.id,
        earlier.vector_label(reopened.stored),
        reopened.layers_text,
        (chosen_set.name or "") if chosen_set is not None else None,
        stored_layer_scores(reopened.stored.lineage),
        session.recommended,
        reopened.vector,
    )


def import_vector(ctx: AppContext, session: BrowserSession, file: str | None) -> BuildView:
    """Read an uploaded llama.cpp control-vector GGUF against the loaded model and store it.

    Stored as a built vector is (``add_vector`` with its lineage: ``source: imported``, the file's
    sha256 and model hint); the session then steers the layers the file holds. A file that does
    not fit the model is refused with the reader's message and nothing is stored. The upload is
    deleted once read, whatever its outcome.
    """
    user = need_user(session)
    if not file:
        raise UserError("Choose a llama.cpp control-vector file (.gguf) to upload.")
    loaded = loaded_model(ctx, session)
    try:
        vector = import_gguf(
            file,
            num_layers=loaded.num_layers,
            hidden_size=loaded.hidden_size,
            model_id=loaded.spec,
            model_fingerprint=fingerprint(loaded),
        )
    finally:
        take_upload(file)  # no uploaded file stays in Gradio's cache
    vector.metadata.update(
        {
            "model_name": loaded.name,
            "model_architecture": loaded.model.config.model_type or "unknown",
            **loaded.precision.lineage(),  # dtype and dtype_reason of the model it fits
            "created_by": user,
        }
    )
    stored = ctx.store.add_vector(vector.to_bytes(), vector.metadata, user)
    session.forget_work()
    session.vector, session.vector_id = vector, stored.id
    session.recommended = list(vector.layers)
    return imported_view(stored.id, vector, loaded.name, session.example_set is not None)


@dataclass(frozen=True)
class BuildTab:
    method: gr.Radio
    negatives: gr.Radio
    position: gr.Radio
    layers: gr.Textbox
    max_rows: gr.Number
    condition: gr.Checkbox  # "Steer only questions like these examples"
    button: gr.Button
    status: gr.Markdown
    chart: gr.Plot
    gate: gr.Markdown  # the gate in one plain sentence
    gate_chart: gr.Plot  # the scores it was chosen on and the threshold line
    gate_details: gr.Markdown  # block, threshold, balanced accuracy (folded away)
    tab: gr.Tab  # its select event sets the box's default for the example set chosen
    condition_rows: gr.State  # the row count the box's default was last set for
    upload: gr.File  # a llama.cpp control vector made elsewhere
    earlier: gr.Dropdown  # the user's earlier vectors, kept current by ui.py and wire
    job: job_watch.JobWatch  # a build left running by an earlier page, followed in the status


def create_ui() -> BuildTab:
    start = condition_choice(None)
    with gr.Tab("3 · Build", id="build", elem_id="tab-build") as build_tab:
        gr.Markdown(
            "The model reads each example; the vector is the direction in which good reasoning "
            "differs from flawed reasoning inside the model. The defaults follow the paper."
        )
        earlier_vectors = gr.Dropdown(
            choices=[],
            value=None,
            label="Reopen your earlier work",
            info="Vectors you built or imported before, newest first; the example set they came "
            "from is chosen with them",
            elem_id="build-earlier",
        )
        with gr.Row():
            method = gr.Radio(
                [(f"{name} [{METHODS[key]}]", key) for key, name in METHOD_NAMES.items()],
                value="mean_diff",
                label="Method",
                info=METHOD_HELP,
                elem_id="build-method",
            )
            negatives = gr.Radio(
                [("the file's 'negative' column", "column"), ("random letters", "random")],
                value="column",
                label="Flawed answers to contrast with (negatives)",
                info=NEGATIVES_HELP,
                elem_id="build-negatives",
            )
        with gr.Row():
            position = gr.Radio(
                [("last token", "last"), ("average over the answer", "mean")],
                value="last",
                label="Where to read each example (token position)",
                info=POSITION_HELP,
                elem_id="build-position",
            )
            layers = gr.Textbox(
                value="all",
                label="Layers to read",
                info="The model is a stack of layers (blocks). 'all' (recommended: the chart then "
                "suggests the best), a range like 10-20, or a list like 8,12,16.",
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
        condition = gr.Checkbox(
            value=start.value,
            label="Steer only questions like these examples",
            info=start.info,
            elem_id="build-condition",
        )
        condition_rows = gr.State(None)
        button = gr.Button("Build vector", variant="primary", elem_id="build-button")
        with gr.Accordion("Use a vector made elsewhere", open=False, elem_id="build-import"):
            gr.Markdown(
                "Already have a control vector from repeng or llama.cpp's "
                "`llama-cvector-generator`? Upload its `.gguf` file: it is checked against the "
                "loaded model and then compared, evaluated and reviewed like a vector built here."
            )
            upload = uploaded_file(
                label="llama.cpp control vector (.gguf)",
                file_types=[".gguf"],
                elem_id="import-gguf",
            )
        status = gr.Markdown(elem_id="build-status")
        chart = gr.Plot(label="Effect size per layer", elem_id="build-chart")
        gate = gr.Markdown(elem_id="build-gate")
        gate_chart = gr.Plot(
            label="Which prompts the vector applies to", visible=False, elem_id="build-gate-chart"
        )
        with gr.Accordion(
            "Technical details of the gate", open=False, elem_id="build-gate-technical"
        ):
            gate_details = gr.Markdown(elem_id="build-gate-details")
        watch = job_watch.JobWatch((jobs.BUILD,), status, job_watch.create_timer())
    return BuildTab(
        method=method,
        negatives=negatives,
        position=position,
        layers=layers,
        max_rows=max_rows,
        condition=condition,
        button=button,
        status=status,
        chart=chart,
        gate=gate,
        gate_chart=gate_chart,
        gate_details=gate_details,
        tab=build_tab,
        condition_rows=condition_rows,
        upload=upload,
        earlier=earlier_vectors,
        job=watch,
    )


def wire(
    ctx: AppContext,
    state: gr.State,
    tab: BuildTab,
    steer_layers: gr.Textbox,
    strengths: gr.Textbox,
    question: gr.Dropdown,
) -> None:
    """Building shows the layer chart; building, importing or reopening fills Compare's
    ``steer_layers`` and ``strengths`` to test (and, with a reopened example set, its
    ``question`` list)."""

    def listed(session: BrowserSession) -> gr.Dropdown:
        return gr.Dropdown(choices=earlier.vector_choices(ctx, session), value=session.vector_id)

    def shown(session: BrowserSession, view: BuildView) -> dict:
        return {
            state: session,
            tab.chart: view.figure,
            tab.status: view.summary + " Next: **4 · Compare**.",
            tab.gate: view.gate.sentence,
            tab.gate_chart: gr.Plot(value=view.gate.figure, visible=view.gate.figure is not None),
            tab.gate_details: view.gate.details,
            steer_layers: view.layers_text,
            strengths: strengths_to_test(session.vector, view.layers_text),
            tab.earlier: listed(session),
        }

    def do_build(
        session: BrowserSession,
        method: str,
        negatives: str,
        position: str,
        layers: str,
        rows: float | None,
        gated: bool,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> Iterator[dict]:
        # The estimate first, on the status line, where it stays while the build runs.
        yield {tab.status: announce_build(ctx, session, method, int(rows or 0), bool(gated))}
        view = build(
            ctx,
            session,
            method,
            negatives,
            position,
            layers,
            progress_bar(progress),
            int(rows or 0),
            bool(gated),
        )
        yield shown(session, view)

    outputs = [state, tab.chart, tab.status, steer_layers, strengths, tab.earlier]
    outputs += [tab.gate, tab.gate_chart, tab.gate_details]
    # One progress bar, over the chart, naming the phase and the time left.
    tab.button.click(
        guarded_steps(tab.status, do_build),
        [state, tab.method, tab.negatives, tab.position, tab.layers, tab.max_rows, tab.condition],
        outputs,
        show_progress_on=[tab.chart],
    )

    def on_rows(session: BrowserSession, rows: float | None, remembered: int | None) -> dict:
        # The default follows the rows a build would use; a choice the user made for the same
        # rows stays (switching tabs back and forth does not undo it).
        count = len(_rows(session, int(rows or 0))[0]) if session.example_set else None
        if count == remembered:
            return unchanged([tab.condition, tab.condition_rows])
        choice = condition_default(session, int(rows or 0))
        return {
            tab.condition: gr.Checkbox(value=choice.value, info=choice.info),
            tab.condition_rows: count,
        }

    rows_inputs = [state, tab.max_rows, tab.condition_rows]
    rows_outputs = [tab.condition, tab.condition_rows, tab.status]  # status: a refusal's message
    tab.tab.select(guarded(tab.status, on_rows), rows_inputs, rows_outputs, show_progress="hidden")
    tab.max_rows.change(
        guarded(tab.status, on_rows), rows_inputs, rows_outputs, show_progress="hidden"
    )

    def do_import(session: BrowserSession, file: str | None) -> dict:
        return shown(session, import_vector(ctx, session, file))

    # The upload is deleted once read, so the box is emptied for the next file either way.
    tab.upload.upload(guarded(tab.status, do_import), [state, tab.upload], outputs).then(
        lambda: None, None, tab.upload
    )

    def do_reopen(session: BrowserSession, vector_id: int | None) -> dict:
        if not vector_id:  # the list was opened and closed without a choice
            return unchanged([*outputs, question])
        shown_view = shown(session, reopen_vector(ctx, session, vector_id))
        prompts = [e.prompt for e in session.heldout_rows]
        shown_view[question] = gr.Dropdown(choices=[(p[:120], p) for p in prompts], value=None)
        return shown_view

    tab.earlier.input(guarded(tab.status, do_reopen), [state, tab.earlier], [*outputs, question])

    def done_elsewhere(session: BrowserSession, job: StoredJob, said: str) -> dict:
        # A build started by an earlier page: its vector, reopened, as if built here.
        assert job.result_id is not None
        updates = do_reopen(session, job.result_id)
        updates[tab.status] = f"{said}\n\n{updates[tab.status]}"
        return updates

    job_watch.wire(ctx, state, tab.job, done_elsewhere, [*outputs, question])
