"""Applying control vectors: ``h_i <- h_i + alpha * v_i`` on the output of decoder block ``i``.

``steer(model, vector, alpha)`` is a context manager. Inside it, forward passes *on the calling
thread* are steered; other threads using the same model see only their own steering, because the
hooks read the active steering from thread-local state. Hooks are installed when the first steering
of a model starts and removed when the last one ends, also when the body raises.

``alpha`` may be one number or one number per batch row: row ``b`` is steered with ``alpha[b]``
(0 leaves it unsteered), so unsteered and steered answers, or a whole strength sweep, come from one
batched pass. ``steer_rows(model, rows)`` generalises that to a per-row *delta*: each row names its
own vector, strength and layers (or nothing), so one batched generation serves callers who use
different vectors at once (the API's micro-batcher, ``steering.engine.serving``).

Either way the delta ``alpha * v`` is precomputed once per call, as one ``[rows, 1, hidden]``
tensor per block on the model's device and dtype; the hook itself only adds (and, with
``preserve_norm``, rescales each token to its original norm), never rebuilding anything per pass.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from steering.engine.models import LoadedModel, decoder_blocks, hidden_size
from steering.errors import SteeringError
from steering.vectors import ControlVector


@dataclass(frozen=True, eq=False)  # compared by identity: each steering call is its own
class _Addition:
    delta: torch.Tensor  # [rows or 1, 1, hidden]
    preserve_norm: bool


class _ThreadSteering(threading.local):
    def __init__(self) -> None:
        self.by_block: dict[int, list[_Addition]] = {}


_active = _ThreadSteering()
_install_lock = threading.Lock()
_installed: dict[int, tuple[torch.utils.hooks.RemovableHandle, int]] = {}


def _steering_hook(module: nn.Module, _inputs: tuple, output: object) -> object:
    additions = _active.by_block.get(id(module))
    if not additions:
        return None
    hidden = output[0] if isinstance(output, tuple) else output
    if not isinstance(hidden, torch.Tensor):
        return None  # a block that returns no hidden state (never in supported models)
    for addition in additions:
        hidden = _apply(hidden, addition)
    if isinstance(output, tuple):
        return (hidden, *output[1:])
    return hidden


def _apply(hidden: torch.Tensor, addition: _Addition) -> torch.Tensor:
    delta = addition.delta
    if delta.shape[0] not in (1, hidden.shape[0]):
        raise SteeringError(
            f"{delta.shape[0]} per-row strengths were given for a batch of {hidden.shape[0]} rows."
        )
    # In place: the block's output is a fresh tensor nobody else holds yet, so adding into it
    # allocates nothing per token (only preserve_norm needs the per-token norms).
    if not addition.preserve_norm:
        return hidden.add_(delta)
    original = hidden.norm(dim=-1, keepdim=True)
    hidden.add_(delta)
    return hidden.mul_(original / hidden.norm(dim=-1, keepdim=True).clamp_min(1e-6))


def _acquire(block: nn.Module) -> None:
    with _install_lock:
        handle, count = _installed.get(id(block), (None, 0))
        if handle is None:
            handle = block.register_forward_hook(_steering_hook)
        _installed[id(block)] = (handle, count + 1)


def _release(block: nn.Module) -> None:
    with _install_lock:
        handle, count = _installed[id(block)]
        if count <= 1:
            handle.remove()
            del _installed[id(block)]
        else:
            _installed[id(block)] = (handle, count - 1)


def _alpha_tensor(
    alpha: float | Sequence[float] | torch.Tensor, device: torch.device
) -> torch.Tensor:
    values = torch.as_tensor(alpha, dtype=torch.float32)
    if values.dim() > 1:
        raise SteeringError("Strength must be one number or one number per batch row.")
    return values.reshape(-1).to(device)


@dataclass(frozen=True)
class RowSteering:
    """One batch row's steering: ``vector`` at strength ``alpha`` on ``layers`` (None: all)."""

    vector: ControlVector
    alpha: float
    layers: tuple[int, ...] | None = None


def _checked(
    module: nn.Module, vector: ControlVector, layers: Sequence[int] | None
) -> ControlVector:
    """``vector`` restricted to ``layers``, refused when it does not fit the model."""
    chosen = vector.select(layers)
    if chosen.hidden_size != hidden_size(module):
        raise SteeringError(
            f"The vector has size {chosen.hidden_size} but the model's hidden size is "
            f"{hidden_size(module)}: it was built for another model."
        )
    count = len(decoder_blocks(module))
    bad = [i for i in chosen.layers if i >= count]
    if bad:
        raise SteeringError(f"The model has {count} layers; the vector uses layer(s) {bad}.")
    return chosen


@contextmanager
def _added(
    blocks: nn.ModuleList, deltas: dict[int, torch.Tensor], preserve_norm: bool
) -> Iterator[None]:
    """Add ``deltas[i]`` to block ``i``'s output on this thread; hooks removed in ``finally``."""
    added = [(blocks[i], _Addition(delta, preserve_norm)) for i, delta in sorted(deltas.items())]
    try:
        for block, addition in added:
            _acquire(block)
            _active.by_block.setdefault(id(block), []).append(addition)
        yield
    finally:
        for block, addition in added:
            stack = _active.by_block.get(id(block), [])
            if addition in stack:
                stack.remove(addition)
                if not stack:
                    del _active.by_block[id(block)]
                _release(block)


def row_deltas(
    model: LoadedModel | nn.Module, rows: Sequence[RowSteering | None]
) -> dict[int, torch.Tensor]:
    """Per block, the ``[len(rows), 1, hidden]`` delta: row ``b`` gets ``alpha_b * v_b[i]``.

    Rows that are None, have strength 0 or do not use block ``i`` get zeros there. Computed in
    float32 and cast once to the model's dtype, exactly as :func:`steer` computes its delta, so a
    row steered here matches the same row steered alone.
    """
    module = model.model if isinstance(model, LoadedModel) else model
    param = next(module.parameters())
    size = hidden_size(module)
    deltas: dict[int, torch.Tensor] = {}
    for b, row in enumerate(rows):
        if row is None or row.alpha == 0:
            continue
        for i, direction in _checked(module, row.vector, row.layers).items():
            if i not in deltas:
                deltas[i] = torch.zeros((len(rows), 1, size), dtype=torch.float32)
            deltas[i][b, 0] = float(row.alpha) * direction.float()
    return {i: d.to(device=param.device, dtype=param.dtype) for i, d in deltas.items()}


@contextmanager
def steer_rows(
    model: LoadedModel | nn.Module, rows: Sequence[RowSteering | None]
) -> Iterator[None]:
    """Steer forward passes on this thread, row ``b`` of each batch by ``rows[b]`` (None: not)."""
    module = model.model if isinstance(model, LoadedModel) else model
    with _added(decoder_blocks(module), row_deltas(module, rows), preserve_norm=False):
        yield


@contextmanager
def steer(
    model: LoadedModel | nn.Module,
    vector: ControlVector,
    alpha: float | Sequence[float] | torch.Tensor = 1.0,
    *,
    layers: Sequence[int] | None = None,
    layer_alphas: dict[int, float] | None = None,
    preserve_norm: bool = False,
) -> Iterator[None]:
    """Steer forward passes of ``model`` on this thread while the block runs.

    ``layers`` restricts the vector to some of its layers; ``layer_alphas`` multiplies the strength
    per layer (default 1 for each).
    """
    module = model.model if isinstance(model, LoadedModel) else model
    chosen = _checked(module, vector, layers)
    param = next(module.parameters())
    strengths = _alpha_tensor(alpha, param.device)
    deltas = {}
    for i, direction in chosen.items():
        scale = strengths * float((layer_alphas or {}).get(i, 1.0))
        deltas[i] = (scale[:, None, None] * direction.to(param.device)[None, None, :]).to(
            param.dtype
        )
    with _added(decoder_blocks(module), deltas, preserve_norm):
        yield
