"""Tab 3, Build: read activations on the build rows, make the vector, chart and recommend layers."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import plotly.graph_objects as go

from dashboard import charts
from dashboard.common import SPLIT_SEED, Progress, UserError, loaded_model, need_user, quiet
from dashboard.context import AppContext
from dashboard.session import BrowserSession
from dashboard.tabs.events import guarded, progress_bar
from steering.build import METHODS, build_vector
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
    figure: go.Figure
    summary: str
    layers_text: str  # the recommended layers (all built layers when none is recommended)


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
    figure = charts.separation_chart(result.scores, result.recommended_layers)
    best = layers_text(result.recommended_layers) or layers_text(vector.layers)
    summary = (
        f"Vector #{stored.id} built from {result.pairs} build rows in {result.seconds:.1f} s "
        f"({method}, {negatives} negatives, {position} token). "
    )
    if result.recommended_layers:
        summary += (
            f"**Recommended layers: {best}** (they separate good from flawed held-out "
            "examples best). Use them on the Compare tab."
        )
    return BuildView(figure, summary, best)


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
        status = gr.Markdown(elem_id="build-status")
        chart = gr.Plot(label="Separation per layer", elem_id="build-chart")
    return BuildTab(method, negatives, position, layers, max_rows, button, status, chart)


def wire(ctx: AppContext, state: gr.State, tab: BuildTab, steer_layers: gr.Textbox) -> None:
    """Building shows the separation chart and fills the Compare tab's ``steer_layers`` box."""

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
