"""Tab 3, Build: read activations on the build rows, make the vector, chart and recommend layers.

Or use a vector made elsewhere: a llama.cpp control-vector GGUF (repeng,
``llama-cvector-generator``) is read against the loaded model and stored as the session's vector,
exactly as a built one, so Compare, evaluation, submission and review work the same on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import plotly.graph_objects as go

from dashboard import charts, views
from dashboard.common import SPLIT_SEED, Progress, UserError, loaded_model, need_user, quiet
from dashboard.context import AppContext
from dashboard.session import BrowserSession
from dashboard.tabs.events import guarded, progress_bar
from dashboard.web.uploads import take_upload, uploaded_file
from steering.build import METHODS, LayerRecommendation, build_vector
from steering.engine.models import fingerprint
from steering.export import import_gguf
from steering.layers import layers_text

# Each choice in words, as the paper names it (``METHODS`` gives the paper's short name).
METHOD_HELP = {
    "mean_diff": "R-C (default): average of 'good minus flawed' activations; the paper's best.",
    "reading": "R: average of the good examples only; needs no negatives.",
    "pca_diff": "PCA-C: main direction of the good-vs-flawed differences.",
}
METHOD_NAMES = {
    "mean_diff": "mean difference",
    "reading": "reading",
    "pca_diff": "principal component",
}
NEGATIVES_HELP = {
    "column": "Use the 'negative' column of the examples (flawed reasoning).",
    "random": "Random letter strings, as in the paper; for sets without negatives.",
}
POSITION_HELP = {
    "last": "Read the last token of each example (default, as in the paper).",
    "mean": "Average over the completion's tokens.",
}
BUILD_SEED = 0


@dataclass(frozen=True)
class BuildView:
    figure: go.Figure | None  # None for an imported vector: it comes without layer scores
    summary: str
    layers_text: str  # the layers to steer: recommended, else all the vector's layers


def recommendation_markdown(recommendation: LayerRecommendation) -> str:
    """The recommended layers, the rule that picked them and its reason in plain words."""
    return (
        f"**Recommended layers: {layers_text(recommendation.layers)}** — "
        f"{views.md(recommendation.reason)} Picked by the {recommendation.rule} rule."
    )


def build(
    ctx: AppContext,
    session: BrowserSession,
    method: str = "mean_diff",
    negatives: str = "column",
    position: str = "last",
    layers: str = "all",
    progress: Progress = quiet,
    max_rows: int | None = None,
) -> BuildView:
    """Read activations on the build rows, make the vector, score layers on held-out rows, store.

    ``max_rows`` (a quick first try) uses only the first rows of each split; the vector's lineage
    records how many, so the build stays reproducible from the stored example set.
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
    build_rows, heldout_rows = list(session.build_rows), list(session.heldout_rows)
    if max_rows:
        build_rows, heldout_rows = build_rows[: int(max_rows)], heldout_rows[: int(max_rows)]
    result = build_vector(
        loaded_model(ctx, session),
        build_rows,
        method=method,
        negatives=negatives,
        position=position,
        layers=layers,
        seed=BUILD_SEED,
        heldout=heldout_rows,
        progress=lambda done, total: progress(done, total, "Reading activations"),
        lineage={
            "created_by": user,
            "dataset_hash": example_set.content_hash,
            "dataset_name": example_set.name or "",
            "split_seed": SPLIT_SEED,
            "heldout_rows_scored": len(heldout_rows),
        },
    )
    vector = result.vector
    stored = ctx.store.add_vector(vector.to_bytes(), vector.metadata, user, session.example_set_id)
    session.forget_work()
    session.vector, session.vector_id = vector, stored.id
    session.recommended = list(result.recommended_layers)
    figure = charts.layer_chart(result.scores, result.recommended_layers)
    best = layers_text(result.recommended_layers) or layers_text(vector.layers)
    summary = (
        f"Vector #{stored.id} built from {result.pairs} build rows in {result.seconds:.1f} s "
        f"({method}, {negatives} negatives, {position} token). "
    )
    if result.recommendation is not None:
        summary += recommendation_markdown(result.recommendation) + " Use them on the Compare tab."
    return BuildView(figure, summary, best)


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
            "created_by": user,
        }
    )
    stored = ctx.store.add_vector(vector.to_bytes(), vector.metadata, user)
    session.forget_work()
    session.vector, session.vector_id = vector, stored.id
    session.recommended = list(vector.layers)
    steer = layers_text(vector.layers)
    summary = (
        f"Vector #{stored.id}: {views.md(views.vector_origin(vector.metadata))}. It steers "
        f"layers {steer} of {views.md(loaded.name)}; the Compare tab uses them."
    )
    if session.example_set is None:
        summary += " To evaluate it, choose an example set first (tab 2, Examples)."
    return BuildView(None, summary, steer)


@dataclass(frozen=True)
class BuildTab:
    method: gr.Radio
    negatives: gr.Radio
    position: gr.Radio
    layers: gr.Textbox
    max_rows: gr.Number
    button: gr.Button
    status: gr.Markdown
    chart: gr.Plot
    upload: gr.File  # a llama.cpp control vector made elsewhere


def create_ui() -> BuildTab:
    with gr.Tab("3 · Build", id="build", elem_id="tab-build"):
        gr.Markdown(
            "The model reads each example; the vector is the direction in which good reasoning "
            "differs from flawed reasoning inside the model. The defaults follow the paper."
        )
        with gr.Row():
            method = gr.Radio(
                [(f"{METHODS[key]}: {name}", key) for key, name in METHOD_NAMES.items()],
                value="mean_diff",
                label="Method",
                info=" · ".join(METHOD_HELP.values()),
                elem_id="build-method",
            )
            negatives = gr.Radio(
                [("'negative' column", "column"), ("random letters", "random")],
                value="column",
                label="Negatives",
                info=" · ".join(NEGATIVES_HELP.values()),
                elem_id="build-negatives",
            )
        with gr.Row():
            position = gr.Radio(
                [("last token", "last"), ("mean of completion", "mean")],
                value="last",
                label="Token position",
                info=" · ".join(POSITION_HELP.values()),
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
    return BuildTab(method, negatives, position, layers, max_rows, button, status, chart, upload)


def wire(ctx: AppContext, state: gr.State, tab: BuildTab, steer_layers: gr.Textbox) -> None:
    """Building shows the layer chart; building or importing fills Compare's ``steer_layers``."""

    def do_build(
        session: BrowserSession,
        method: str,
        negatives: str,
        position: str,
        layers: str,
        rows: float | None,
        progress=gr.Progress(),  # noqa: B008
    ) -> dict:
        view = build(
            ctx,
            session,
            method,
            negatives,
            position,
            layers,
            progress_bar(progress),
            int(rows or 0),
        )
        return {
            state: session,
            tab.chart: view.figure,
            tab.status: view.summary + " Next: **4 · Compare**.",
            steer_layers: view.layers_text,
        }

    tab.button.click(
        guarded(tab.status, do_build),
        [state, tab.method, tab.negatives, tab.position, tab.layers, tab.max_rows],
        [state, tab.chart, tab.status, steer_layers],
    )

    def do_import(session: BrowserSession, file: str | None) -> dict:
        view = import_vector(ctx, session, file)
        return {
            state: session,
            tab.chart: view.figure,
            tab.status: view.summary + " Next: **4 · Compare**.",
            steer_layers: view.layers_text,
        }

    # The upload is deleted once read, so the box is emptied for the next file either way.
    tab.upload.upload(
        guarded(tab.status, do_import),
        [state, tab.upload],
        [state, tab.chart, tab.status, steer_layers],
    ).then(lambda: None, None, tab.upload)
