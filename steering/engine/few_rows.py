"""Linear layers fed a few rows on the CPU: computed as ``W @ x.T`` instead of ``x @ W.T``.

Generation runs one row per answer at each step. With the MKL in PyTorch's CPU build,
``F.linear`` with a few rows can be markedly slower per row than with one, while the same product
written as ``W @ x.T`` is not, so a side-by-side answer (2 rows) cost about as much as two separate
answers (figures and how to reproduce them: bench/README.md). ``install`` gives every plain
``nn.Linear`` of a model a forward that takes the second form for 2 to ``FEW_ROWS`` rows on the
CPU and the stock one otherwise (one row, many rows, any other device). It is the same product
with another summation order: results differ at float rounding level.
"""

from __future__ import annotations

import types

import torch
from torch import nn

FEW_ROWS = 16


def _forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    rows = x.numel() // self.in_features if self.in_features else 0
    if not (2 <= rows <= FEW_ROWS) or x.device.type != "cpu":
        return nn.functional.linear(x, self.weight, self.bias)
    out = torch.matmul(self.weight, x.reshape(rows, self.in_features).T).T.contiguous()
    if self.bias is not None:
        out += self.bias
    return out.reshape(*x.shape[:-1], self.out_features)


def install(model: nn.Module) -> int:
    """Give the model's plain ``nn.Linear`` layers the few-rows forward; return how many."""
    count = 0
    for module in model.modules():
        # Exact type only: subclasses (quantised or adapter layers) keep their own forward.
        if type(module) is nn.Linear and "forward" not in module.__dict__:
            # An instance-level override, by design (mypy only knows class-level methods).
            module.forward = types.MethodType(_forward, module)  # type: ignore[method-assign]
            count += 1
    return count


def installed(model: nn.Module) -> bool:
    """Whether ``install`` gave any of the model's linear layers the few-rows forward."""
    return any(type(m) is nn.Linear and _is_ours(m) for m in model.modules())


def uninstall(model: nn.Module) -> None:
    """Back to the stock forward (benchmarks compare both); other forwards stay."""
    for module in model.modules():
        if type(module) is nn.Linear and _is_ours(module):
            del module.forward


def _is_ours(module: nn.Module) -> bool:
    forward = module.__dict__.get("forward")
    return getattr(forward, "__func__", None) is _forward
