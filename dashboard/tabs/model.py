"""Tab 1, Model: pick a bundled model or name another one, load it and show its card."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from dashboard.browser_state import BrowserSession
from dashboard.common import KNOWN_ERRORS, Progress, UserError, need_user, quiet
from dashboard.context import AppContext
from dashboard.events import guarded, identify, progress_bar, unchanged
from dashboard.views.model import bundled_models_markdown, model_card_markdown, model_card_table
from steering.engine import bundled
from steering.engine.bundled import BundledModel
from steering.engine.models import describe
from storage import OBJECT_ID_LEN


def offered_models() -> list[BundledModel]:
    """The bundled models the picker offers: those installed on this machine, nothing else."""
    return bundled.installed_models()


def model_choices(models: list[BundledModel]) -> list[tuple[str, str]]:
    """``(label, spec)`` pairs for the picker: each model's name and size; the spec loads it."""
    return [(f"{m.name} · {m.size_text()}", m.key) for m in models]


def load_model_card(
    ctx: AppContext, session: BrowserSession, spec: str, progress: Progress = quiet
) -> pd.DataFrame:
    """Load (or reuse) the model named by ``spec`` and describe it as a two-column table.

    The model is known by its one key (:meth:`AppContext.model_key`: the same for every
    spelling of its path), which the audit event records; a key too long for the audit trail is
    refused before anything is loaded.
    """
    user = need_user(session)
    spec = ctx.model_key(spec)
    if len(spec) > OBJECT_ID_LEN:
        raise UserError(too_long_to_record(spec))
    progress(0, 1, "Loading the model (the first load of a bundled model takes about a minute)")
    loaded = ctx.model(spec)
    progress(1, 1, "Model ready")
    if session.model_spec != spec:
        session.model_spec = spec
        session.forget_work()
    card = describe(loaded)
    ctx.store.record_event(user, "model.load", "model", spec, {"name": card["name"]})
    return model_card_table(card)


def too_long_to_record(key: str) -> str:
    """Why a model whose key the audit trail cannot hold is not loaded, and what to do."""
    where = (
        " Move or copy it to a shorter path (a symlink does not help: the path it points to "
        "is what is recorded)."
        if key.startswith("/")
        else ""
    )
    shown = key if len(key) <= 80 else key[:77] + "..."
    size = f"{len(key)} characters long, and the audit trail records at most {OBJECT_ID_LEN}."
    return f"The model '{shown}' was not loaded: its name as the lab records it is {size}{where}"


READY = "**Model ready.** Next: **2 · Examples**."


@dataclass(frozen=True)
class ModelTab:
    """What the page load fills (:func:`wire`): the status line and the model's card."""

    status: gr.Markdown
    card: gr.Markdown


def ready_on_load(ctx: AppContext, session: BrowserSession) -> tuple[str, str] | None:
    """``(status, card)`` when the session's model is already loaded (a new sign-in, a reload),
    so the tab says it is ready without a click; None when it is not loaded yet."""
    spec = session.model_spec or ctx.default_model
    if not ctx.is_loaded(spec):
        return None
    return READY, model_card_markdown(model_card_table(describe(ctx.model(spec))))


def create_ui(ctx: AppContext, state: gr.State) -> ModelTab:
    """The tab and its events; the page load fills its status (:func:`wire`)."""
    models = offered_models()
    choices = model_choices(models)
    keys = [key for _, key in choices]
    with gr.Tab("1 · Model", id="model", elem_id="tab-model"):
        gr.Markdown(
            "Pick one of the models that ship with the lab (they run on a laptop CPU), or type a "
            "Hugging Face model id, a local model folder, or a path to a `.gguf` file."
        )
        picker = gr.Radio(
            choices,
            value=ctx.default_model if ctx.default_model in keys else None,
            label="Bundled models installed here",
            elem_id="model-picker",
        )
        gr.Markdown(bundled_models_markdown(models), elem_id="model-bundled")
        with gr.Row(elem_id="model-row"):
            spec = gr.Textbox(
                value=ctx.default_model,
                label="Model",
                info="Filled by the choice above; or type a model id, a folder or a .gguf path",
                elem_id="model-spec",
                scale=3,
            )
            load = gr.Button(
                "Load model", variant="primary", elem_id="model-load", scale=0, min_width=160
            )
        status = gr.Markdown(elem_id="model-status")
        card = gr.Markdown(elem_id="model-card", elem_classes=["card"])

    picker.change(lambda key: key or gr.skip(), picker, spec)

    def do_load(
        session: BrowserSession,
        value: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> dict:
        table = load_model_card(ctx, session, value, progress_bar(progress))
        return {card: model_card_markdown(table), status: READY, state: session}

    load.click(guarded(status, do_load), [state, spec], [card, status, state])
    return ModelTab(status, card)


def wire(ctx: AppContext, demo: gr.Blocks, state: gr.State, tab: ModelTab) -> None:
    """On page load: "Model ready" and the card when the model is loaded already."""

    def on_load(session: BrowserSession) -> dict:
        try:
            identify((session,))
        except KNOWN_ERRORS:  # not signed in: the header says so (dashboard.tabs.signin)
            return unchanged([tab.status, tab.card])
        ready = ready_on_load(ctx, session)
        if ready is None:
            return unchanged([tab.status, tab.card])
        return {tab.status: ready[0], tab.card: ready[1]}

    demo.load(on_load, [state], [tab.status, tab.card], show_progress="hidden")
