"""Linear layers of a bfloat16 model on a CPU with native bfloat16: oneDNN's prepacked weights.

``F.linear`` on bfloat16 CPU tensors hands the weight to oneDNN in PyTorch's layout on every
call; a decoding step multiplies one or a few rows by every weight of the model, so any work done
per call on the weight (such as oneDNN reordering it into its own blocked layout, which is the
likely cost) is paid on the whole model at every step. ``install`` reorders each plain ``nn.Linear``'s weight once, at load, and gives the layer a
forward that multiplies by the reordered copy (``torch.ops.mkldnn._reorder_linear_weight`` and
``_linear_pointwise``, the pair PyTorch's own compiler uses for frozen CPU models). Same kernels on
the same numbers: on the CPUs measured here the results were bit-identical to ``F.linear``, and a
check at install refuses the copy where they would not agree. The figures: bench/README.md.

The reordered copy is kept beside the weight (the weight stays: the embedding is tied to the
output layer, and fingerprints and exports read weights), so the model's linear weights take
twice their memory. Only where ``auto`` would pick bfloat16 on the CPU (native bfloat16,
``steering.engine.precision``); float32 models and other devices keep the stock forward.
"""

from __future__ import annotations

import functools
import types

import torch
from torch import nn

from steering.engine.precision import native_bf16_cpu

_PACKED = "_packed_bf16_weight"


def _reorder(weight: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight)


def _product(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


@functools.lru_cache(maxsize=1)
def kernels_agree() -> bool:
    """Whether this machine's oneDNN multiplies by a reordered bfloat16 weight exactly as
    ``F.linear`` does (checked once, on a small product with and without bias)."""
    if not torch.backends.mkldnn.is_available():
        return False
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(48, 32, generator=generator).bfloat16()
    bias = torch.randn(48, generator=generator).bfloat16()
    try:
        packed = _reorder(weight)
        with torch.inference_mode():
            for rows in (1, 3, 40):
                x = torch.randn(rows, 32, generator=generator).bfloat16()
                for b in (None, bias):
                    if not torch.equal(_product(x, packed, b), nn.functional.linear(x, weight, b)):
                        return False
    except RuntimeError:  # no bfloat16 inner product on this CPU
        return False
    return True


def _forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    packed = getattr(self, _PACKED, None)
    usable = (
        x.dtype == torch.bfloat16
        and self.weight.dtype == torch.bfloat16
        and x.device.type == "cpu"
        and not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))
    )
    if packed is None or not usable:
        return nn.functional.linear(x, self.weight, self.bias)
    return _product(x.contiguous(), packed, self.bias)


def install(model: nn.Module, *, require_native: bool = True) -> int:
    """Give the model's plain bfloat16 ``nn.Linear`` layers on the CPU the prepacked forward;
    return how many. Nothing is changed where the CPU has no native bfloat16 (unless
    ``require_native`` is False: tests) or where :func:`kernels_agree` says no."""
    if require_native and not native_bf16_cpu():
        return 0
    if not kernels_agree():
        return 0
    count = 0
    for module in model.modules():
        # Exact type only, and not a layer that already has its own forward (few_rows).
        if type(module) is not nn.Linear or "forward" in module.__dict__:
            continue
        if module.weight.dtype != torch.bfloat16 or module.weight.device.type != "cpu":
            continue
        setattr(module, _PACKED, _reorder(module.weight.detach()))
        # An instance-level override, by design (mypy only knows class-level methods).
        module.forward = types.MethodType(_forward, module)  # type: ignore[method-assign]
        count += 1
    return count


def installed(model: nn.Module) -> int:
    """How many of the model's linear layers have the prepacked forward."""
    return sum(1 for m in model.modules() if type(m) is nn.Linear and _is_packed(m))


def uninstall(model: nn.Module) -> None:
    """Back to the stock forward and no reordered copies (benchmarks compare both)."""
    for module in model.modules():
        if type(module) is nn.Linear and _is_packed(module):
            del module.forward
            delattr(module, _PACKED)


def _is_packed(module: nn.Module) -> bool:
    forward = module.__dict__.get("forward")
    return getattr(forward, "__func__", None) is _forward
