"""Whether this process is ready for requests: what ``GET /readyz`` answers.

Ready when the store answers and, if the default model is preloaded (the app's default; not with
``--no-preload``), once it is loaded. The reason given when not ready is one of three fixed
phrases: a probe learns nothing else about the process (no error text, no paths).
"""

from __future__ import annotations

from storage import Store

from .host import ModelHost

STORE_DOWN = "the store does not answer"
MODEL_LOADING = "the default model is still loading"
MODEL_FAILED = "the default model could not be loaded"


def not_ready(store: Store, host: ModelHost) -> str | None:
    """Why requests should not be sent here yet, or None when ready."""
    try:
        store.api_switch("steering")  # one small read: the database answers
    except Exception:  # any failure of the store means not ready; the reason stays generic
        return STORE_DOWN
    status = host.model_status()
    if not status.preloads or status.default is None:
        return None
    if any(m.name == status.default for m in host.loaded_models()):
        return None
    return MODEL_FAILED if status.default in status.failed else MODEL_LOADING
