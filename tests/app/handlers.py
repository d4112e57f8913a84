"""Reaching an assembled app's event handlers without a browser: find the handler an event of a
component runs, call it, and let Gradio process its result as the server would."""

from __future__ import annotations

import asyncio
from typing import Any

import gradio as gr


def component(demo: gr.Blocks, elem_id: str) -> Any:
    """The one component with this ``elem_id``."""
    found = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id]
    assert len(found) == 1, f"{elem_id}: {len(found)} components"
    return found[0]


def handler_of(demo: gr.Blocks, elem_id: str | None, event: str, output: str | None = None):
    """The handler (a BlockFunction) ``event`` of ``elem_id`` (None: the app itself) runs; with
    ``output``, the one among several that writes to that component."""
    source = demo if elem_id is None else component(demo, elem_id)
    found = [fn for fn in demo.fns.values() if (source._id, event) in fn.targets]
    if output is not None:
        found = [fn for fn in found if output in [getattr(o, "elem_id", None) for o in fn.outputs]]
    assert len(found) == 1, f"{elem_id} {event}: {len(found)} handlers"
    return found[0]


def processed(demo: gr.Blocks, block_fn, result) -> list:
    """What Gradio makes of a handler's result, one value per output (raises as the server log
    shows it when they do not fit)."""
    return asyncio.run(demo.postprocess_data(block_fn, result, None))


def by_id(block_fn, result: dict) -> dict[str | None, Any]:
    """A handler's dict result keyed by each output's elem_id."""
    return {getattr(key, "elem_id", None): value for key, value in result.items()}
