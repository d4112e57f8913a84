"""The Model tab's presenters: the model card in words and the bundled models on offer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from dashboard.views.common import md
from steering.engine.bundled import BundledModel

_CARD_ROWS = (
    ("name", "Model"),
    ("layers", "Layers (decoder blocks)"),
    ("hidden_size", "Hidden size"),
    ("parameters", "Parameters"),
    ("device", "Device"),
    ("dtype", "Number format"),
    ("dtype_reason", "Why this format"),
    ("chat_template", "Chat template"),
    ("load_seconds", "Load time (s)"),
    ("source", "Loaded from"),
)


def model_card_table(card: Mapping[str, Any]) -> pd.DataFrame:
    """``steering.engine.models.describe``'s card as a two-column table, in words."""
    rows = []
    for key, label in _CARD_ROWS:
        value = card.get(key, "") if key == "dtype_reason" else card[key]
        if key == "dtype_reason":
            # "bfloat16: native on this CPU" -> "native on this CPU" (the row above names it)
            value = str(value).partition(": ")[2] or value
        elif key == "parameters":
            value = f"{int(value) / 1e6:.1f} million"
        elif key == "chat_template":
            value = "yes" if value else "no"
        rows.append([label, str(value)])
    return pd.DataFrame(rows, columns=["", "value"])


# What each row of the model card means, for people who do not train models.
_CARD_HELP = {
    "Layers (decoder blocks)": "the stack of steps the model passes each word through; the "
    "vector is added after some of them",
    "Hidden size": "how many numbers describe each word piece inside the model; the vector has "
    "this many numbers per layer",
    "Parameters": "the model's learned numbers; more means larger and slower",
    "Device": "where the model runs: cpu (the processor) or cuda (a graphics card)",
    "Number format": "how each of those numbers is stored while the model runs; float32 is "
    "standard precision, bfloat16 half the size and about twice as fast where the processor "
    "does it natively, with the same answers to within rounding (vectors are always stored in "
    "float32)",
    "Why this format": "chosen by this machine's hardware unless STEERING_DTYPE or --dtype "
    "asks for one",
    "Chat template": "whether the model expects questions wrapped as a chat turn",
    "Load time (s)": "seconds it took to load the model",
    "Loaded from": "where the model's files came from",
}


def model_card_markdown(table: pd.DataFrame) -> str:
    """The card as a Markdown table with a plain explanation of each row."""
    return "| Model card | | what it means |\n|---|---|---|\n" + "\n".join(
        f"| {label} | {md(value)} | {_CARD_HELP.get(label, '')} |" for label, value in table.values
    )


BUNDLED_COLUMNS = ["model", "size", "licence", "source"]


def bundled_models_table(models: Sequence[BundledModel]) -> pd.DataFrame:
    """The installed bundled models as the picker describes them: name, size, licence, source."""
    rows = [[m.name, m.size_text(), m.licence, m.source] for m in models]
    return pd.DataFrame(rows, columns=BUNDLED_COLUMNS)


def bundled_models_markdown(models: Sequence[BundledModel]) -> str:
    """``bundled_models_table`` as Markdown, or a line saying none is installed."""
    if not models:
        return "No bundled model is installed on this machine: type a model below."
    table = bundled_models_table(models)
    head = "| " + " | ".join(BUNDLED_COLUMNS) + " |\n|---|---|---|---|\n"
    return head + "\n".join("| " + " | ".join(md(v) for v in row) + " |" for row in table.values)
