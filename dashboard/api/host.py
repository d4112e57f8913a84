"""What the API needs from the process it runs in: the store and the models loaded there.

:class:`ModelHost` is the small typed interface the service reaches loaded models through; the
dashboard's :class:`dashboard.context.AppContext` implements it. A server built around a bare
``Store`` (the sign-in tests) serves no models: :func:`host_for` wraps it in :class:`StoreOnly`,
so the API still authenticates, rate-limits and answers 404 for every model name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from steering.engine.models import LoadedModel
from steering.engine.serving import MicroBatcher
from storage import Store


class ModelHost(Protocol):
    """The store, the models loaded in this process, and each one's micro-batcher."""

    @property
    def store(self) -> Store: ...

    def loaded_models(self) -> Sequence[LoadedModel]:
        """The models loaded so far (a snapshot: loads may finish while a request runs)."""
        ...

    def batcher(self, loaded: LoadedModel) -> MicroBatcher:
        """The micro-batcher serving requests for ``loaded`` (one per model and process)."""
        ...


@dataclass(frozen=True)
class StoreOnly:
    """A host with a store and no models: every model name is unknown."""

    store: Store

    def loaded_models(self) -> Sequence[LoadedModel]:
        return ()

    def batcher(self, loaded: LoadedModel) -> MicroBatcher:
        # Never reached: the service looks the model up among loaded_models() first.
        raise LookupError(f"No model is loaded here, not even {loaded.name!r}.")


def host_for(source: Store | ModelHost) -> ModelHost:
    """``source`` as a :class:`ModelHost`: a bare store serves no models."""
    return StoreOnly(source) if isinstance(source, Store) else source
