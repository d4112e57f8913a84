"""Process-wide things every session shares: the store and the loaded models."""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dashboard.api.host import ModelStatus
from steering.engine.memory import available_bytes, check_room_for_copy
from steering.engine.model_spec import canonical_spec
from steering.engine.models import LoadedModel, load_model, model_name
from steering.engine.precision import FORMATS
from steering.engine.serving import MAX_BATCH, DecodingLoop
from steering.errors import SteeringError
from storage import Store

# export_dir's default: a temporary folder the context makes for itself (and removes on close).
_OWN_TEMPORARY_FOLDER = Path("<temporary>")


@dataclass
class AppContext:
    """The store, the default model spec and a cache of loaded models (one load per process)."""

    store: Store
    default_model: str = "default"
    # The number format models are loaded in: "auto", "float32", "bfloat16" (app.py's --dtype);
    # None takes STEERING_DTYPE (see steering.engine.precision).
    dtype: str | None = None
    # Where files offered for download wait to be fetched. Left out: a temporary folder of the
    # context's own, removed by close(); a folder handed in stays the caller's.
    export_dir: Path = _OWN_TEMPORARY_FOLDER
    models: dict[str, LoadedModel] = field(default_factory=dict)
    # How a spec becomes a model, given the format (tests hand in one that waits, to see a load
    # in progress from the API).
    loader: Callable[..., LoadedModel] = field(default=load_model, repr=False)
    # Run once on each model just loaded, before anyone gets it (app.py: measuring its pace, so
    # the first build's estimate is there at once rather than after a timed pass).
    after_load: Callable[[LoadedModel], object] | None = field(default=None, repr=False)
    preloads: bool = False  # preload() was called: the API's readiness waits for the default model
    # Specs being loaded now (spec -> name), and why the last load of a spec failed.
    loading: dict[str, str] = field(default_factory=dict, repr=False)
    failed: dict[str, str] = field(default_factory=dict, repr=False)
    # Rows one API decoding loop runs together (STEERING_API_MAX_BATCH, handed in by app.py).
    max_batch: int = MAX_BATCH
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Second copies of loaded models in the other number format, keyed by (spec, format): the
    # API serves a submission in the format it was evaluated in. Not listed as models.
    other_formats: dict[tuple[str, str], LoadedModel] = field(default_factory=dict, repr=False)
    # Free memory per device (replaced by tests); a second copy is loaded only when it fits.
    free_memory: Callable[[torch.device], int | None] = field(default=available_bytes, repr=False)
    # The API's decoding loops, one per loaded model and format, started on first use.
    batchers: dict[tuple[str, str], DecodingLoop] = field(default_factory=dict, repr=False)
    _batcher_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _remove_export_dir: Callable[[], object] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.export_dir is _OWN_TEMPORARY_FOLDER:
            self.export_dir = Path(tempfile.mkdtemp(prefix="cvlab-"))
            # Runs once: on close(), or else when the context is collected or the process exits.
            self._remove_export_dir = weakref.finalize(
                self, shutil.rmtree, self.export_dir, ignore_errors=True
            )

    def close(self) -> None:
        """Remove the temporary export folder this context made, with any download not taken.

        The app calls it as it shuts down; a second call, or a folder handed in, changes nothing.
        """
        if self._remove_export_dir is not None:
            self._remove_export_dir()

    def model_key(self, spec: str | None = None) -> str:
        """The one key ``spec`` (default: the default model) is loaded and kept under, whatever
        its spelling (see :mod:`steering.engine.model_spec`); ModelLoadError for a missing file."""
        return canonical_spec((spec or "").strip() or self.default_model)

    def _key_or_spec(self, spec: str | None) -> str:
        # For the questions the API asks (loaded? loading? failed?): a spec with no key (its
        # file is missing) is known by its own text, as model() records its failure.
        try:
            return self.model_key(spec)
        except SteeringError:
            return (spec or "").strip() or self.default_model

    def model(
        self, spec: str | None = None, on_load: Callable[[], None] | None = None
    ) -> LoadedModel:
        """The model for ``spec``, loading it on first use; concurrent callers wait for one load.

        Every spelling of one model (relative or absolute path, symlink, trailing slash, a
        bundled model's file or its key) gives the same copy: models are kept by
        :meth:`model_key`, which is also the ``spec`` of the model returned.
        """
        try:
            spec = self.model_key(spec)
        except SteeringError as error:  # a missing file: recorded as a failed load would be
            self.failed[(spec or "").strip() or self.default_model] = str(error)
            raise
        cached = self.models.get(spec)
        if cached is not None:
            return cached
        self.loading[spec] = model_name(spec)  # also while waiting for another caller's load
        try:
            with self._lock:
                cached = self.models.get(spec)
                if cached is None:
                    if on_load is not None:
                        on_load()
                    try:
                        cached = self.loader(spec, dtype=self.dtype)
                    except SteeringError as error:
                        self.failed[spec] = str(error)
                        raise
                    if self.after_load is not None:
                        self.after_load(cached)
                    self.failed.pop(spec, None)
                    self.models[spec] = cached
                return cached
        finally:
            self.loading.pop(spec, None)

    def preload(self) -> threading.Thread:
        """Load the default model in the background so the first user does not wait for it."""
        self.preloads = True
        return self._load_default_in_background()

    def load_default(self) -> None:
        """Start loading the default model (an API request named it), unless it is loaded, is
        loading or failed to load (the dashboard's Model tab tries again)."""
        spec = self._key_or_spec(None)
        if spec not in self.models and spec not in self.loading and spec not in self.failed:
            self._load_default_in_background()

    def _load_default_in_background(self) -> threading.Thread:
        def run() -> None:
            try:
                self.model()
            except SteeringError as error:  # shown again, to the user, when they load it
                print(f"Could not preload the model: {error}", flush=True)

        # Loading from now on: a request right after this sees the model loading, not unknown.
        self.loading.setdefault(self._key_or_spec(None), model_name(self.default_model))
        thread = threading.Thread(target=run, name="preload-model", daemon=True)
        thread.start()
        return thread

    def model_in_format(self, loaded: LoadedModel, dtype: str) -> LoadedModel:
        """``loaded``'s model in the number format ``dtype``: itself, or a second copy loaded
        from the same files when memory allows (``NotEnoughMemoryError`` says why not)."""
        if loaded.precision.name == dtype:
            return loaded
        key = (loaded.spec, dtype)
        with self._lock:
            found = self.other_formats.get(key)
            if found is None:
                parameters = sum(p.numel() for p in loaded.model.parameters())
                check_room_for_copy(parameters, FORMATS[dtype], loaded.device, self.free_memory)
                found = self.loader(loaded.spec, dtype=dtype)
                self.other_formats[key] = found
            return found

    def loaded_models(self) -> list[LoadedModel]:
        """The models loaded so far (a snapshot: a load may finish while a request runs)."""
        return list(dict(self.models).values())

    def model_status(self) -> ModelStatus:
        """For the API: the default model's name (listed before it is loaded), what is loading
        and what failed, by name."""
        default = self.models.get(self._key_or_spec(None))
        return ModelStatus(
            default=default.name if default is not None else model_name(self.default_model),
            preloads=self.preloads,
            loading=tuple(dict(self.loading).values()),
            failed={model_name(spec): why for spec, why in dict(self.failed).items()},
        )

    def is_loaded(self, spec: str | None = None) -> bool:
        return self._key_or_spec(spec) in self.models

    def batcher(self, loaded: LoadedModel) -> DecodingLoop:
        """The decoding loop serving API requests for ``loaded`` (one per model and format)."""
        key = (loaded.spec, loaded.precision.name)
        with self._batcher_lock:  # not _lock: that one is held through a model load
            found = self.batchers.get(key)
            if found is None or found.loaded is not loaded:
                found = self.batchers[key] = DecodingLoop(loaded, max_batch=self.max_batch)
            return found
