"""Process-wide things every session shares: the store and the loaded models."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from steering.engine.models import LoadedModel, load_model
from steering.engine.serving import MicroBatcher
from steering.errors import SteeringError
from storage import Store


@dataclass
class AppContext:
    """The store, the default model spec and a cache of loaded models (one load per process)."""

    store: Store
    default_model: str = "default"
    export_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cvlab-")))
    models: dict[str, LoadedModel] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # The API's micro-batchers, one per loaded model (keyed by spec), started on first use.
    batchers: dict[str, MicroBatcher] = field(default_factory=dict, repr=False)
    _batcher_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def model(
        self, spec: str | None = None, on_load: Callable[[], None] | None = None
    ) -> LoadedModel:
        """The model for ``spec``, loading it on first use; concurrent callers wait for one load."""
        spec = (spec or self.default_model).strip() or self.default_model
        cached = self.models.get(spec)
        if cached is not None:
            return cached
        with self._lock:
            cached = self.models.get(spec)
            if cached is None:
                if on_load is not None:
                    on_load()
                cached = load_model(spec)
                self.models[spec] = cached
            return cached

    def preload(self) -> threading.Thread:
        """Load the default model in the background so the first user does not wait for it."""

        def run() -> None:
            try:
                self.model()
            except SteeringError as error:  # shown again, to the user, when they load it
                print(f"Could not preload the model: {error}", flush=True)

        thread = threading.Thread(target=run, name="preload-model", daemon=True)
        thread.start()
        return thread

    def loaded_models(self) -> list[LoadedModel]:
        """The models loaded so far (a snapshot: a load may finish while a request runs)."""
        return list(dict(self.models).values())

    def is_loaded(self, spec: str | None = None) -> bool:
        return (spec or self.default_model) in self.models

    def batcher(self, loaded: LoadedModel) -> MicroBatcher:
        """The micro-batcher serving API requests for ``loaded`` (one per model and process)."""
        with self._batcher_lock:  # not _lock: that one is held through a model load
            found = self.batchers.get(loaded.spec)
            if found is None or found.loaded is not loaded:
                found = self.batchers[loaded.spec] = MicroBatcher(loaded)
            return found
