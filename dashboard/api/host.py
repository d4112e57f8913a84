"""What the API needs from the process it runs in: the store and the models loaded there.

:class:`ModelHost` is the small typed interface the service reaches loaded models through; the
dashboard's :class:`dashboard.context.AppContext` implements it. A server built around a bare
``Store`` (the sign-in tests) serves no models: :func:`host_for` wraps it in :class:`StoreOnly`,
so the API still authenticates, rate-limits and answers 404 for every model name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from steering.engine.models import LoadedModel
from steering.engine.serving import DecodingLoop
from storage import Store


@dataclass(frozen=True)
class ModelStatus:
    """Where the host's models stand, beyond those already loaded."""

    default: str | None  # the default model's name, listed from the start (None: serves none)
    preloads: bool  # whether readiness waits for the default model (False with --no-preload)
    loading: tuple[str, ...] = ()  # names of the models being loaded now
    failed: Mapping[str, str] = field(default_factory=dict)  # name -> why its load failed


class ModelHost(Protocol):
    """The store, the models loaded in this process, and the state of those still loading."""

    @property
    def store(self) -> Store: ...

    def loaded_models(self) -> Sequence[LoadedModel]:
        """The models loaded so far (a snapshot: loads may finish while a request runs)."""
        ...

    def model_status(self) -> ModelStatus:
        """The default model's name, whether it is preloaded, what is loading or failed."""
        ...

    def load_default(self) -> None:
        """Start loading the default model in the background, unless it is loaded or loading."""
        ...

    def batcher(self, loaded: LoadedModel) -> DecodingLoop:
        """The decoding loop serving requests for ``loaded`` (one per model and process)."""
        ...

    def model_in_format(self, loaded: LoadedModel, dtype: str) -> LoadedModel:
        """``loaded`` in the number format ``dtype`` (``"float32"``, ``"bfloat16"``): itself, or
        a second copy; raises ``NotEnoughMemoryError`` when a copy would not fit (issue 24)."""
        ...


@dataclass(frozen=True)
class StoreOnly:
    """A host with a store and no models: every model name is unknown."""

    store: Store

    def loaded_models(self) -> Sequence[LoadedModel]:
        return ()

    def model_status(self) -> ModelStatus:
        return ModelStatus(default=None, preloads=False)

    def load_default(self) -> None:
        return None

    def batcher(self, loaded: LoadedModel) -> DecodingLoop:
        # Never reached: the service looks the model up among loaded_models() first.
        raise LookupError(f"No model is loaded here, not even {loaded.name!r}.")

    def model_in_format(self, loaded: LoadedModel, dtype: str) -> LoadedModel:
        raise LookupError(f"No model is loaded here, not even {loaded.name!r}.")  # never reached


def host_for(source: Store | ModelHost) -> ModelHost:
    """``source`` as a :class:`ModelHost`: a bare store serves no models."""
    return StoreOnly(source) if isinstance(source, Store) else source
