"""Tab 1, Model: load the bundled model or another one and show its card."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from dashboard import views
from dashboard.common import Progress, need_user, quiet
from dashboard.context import AppContext
from dashboard.session import BrowserSession
from dashboard.tabs.events import guarded, progress_bar
from steering.engine.models import describe


def load_model_card(
    ctx: AppContext, session: BrowserSession, spec: str, progress: Progress = quiet
) -> pd.DataFrame:
    """Load (or reuse) the model named by ``spec`` and describe it as a two-column table."""
    user = need_user(session)
    spec = (spec or "").strip() or ctx.default_model
    progress(0, 1, "Loading the model (the first load of the bundled model takes about a minute)")
    loaded = ctx.model(spec)
    progress(1, 1, "Model ready")
    if session.model_spec != spec:
        session.model_spec = spec
        session.forget_work()
    card = describe(loaded)
    ctx.store.record_event(user, "model.load", "model", spec[:200], {"name": card["name"]})
    return views.model_card_table(card)


def create_ui(ctx: AppContext, state: gr.State) -> None:
    """The tab and its events; no other tab needs its components."""
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

    def do_load(session: BrowserSession, value: str, progress=gr.Progress()) -> dict:  # noqa: B008
        table = load_model_card(ctx, session, value, progress_bar(progress))
        return {
            card: views.model_card_markdown(table),
            status: "**Model ready.** Next: **2 · Examples**.",
            state: session,
        }

    load.click(guarded(status, do_load), [state, spec], [card, status, state])
