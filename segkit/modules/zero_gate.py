"""Zero-initialised residual gates (ReZero, LayerScale, SkipInit; see docs/training.md).

`add_zero_gate(m)` turns a shape-keeping module ``m`` into ``x + g * (m(x) - x)`` with a
learnable scalar ``g`` that starts at 0, so at the first step the model computes the
function without the module and learns how much of it to let in. The gate is a parameter
of the module itself (``<path>.zero_gate``) applied by a forward hook: the module's own
weights keep their names, so weights trained without the gate load into the gated model.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

__all__ = ["add_zero_gate", "is_gated", "blend"]


def blend(plain: torch.Tensor, with_module: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """``plain + gate * (with_module - plain)``: the plain value at gate 0, the module's at 1."""
    return plain + gate * (with_module - plain)


def _gate_hook(module: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> torch.Tensor:
    return blend(args[0], out, module.zero_gate)


def is_gated(module: nn.Module) -> bool:
    return isinstance(getattr(module, "zero_gate", None), nn.Parameter)


def add_zero_gate(module: nn.Module) -> nn.Module:
    """Gate `module` (in place; a second call does nothing) and return it."""
    if is_gated(module):
        return module
    ref = next(module.parameters(), None)
    device = ref.device if ref is not None else None
    dtype = ref.dtype if ref is not None else None
    module.register_parameter("zero_gate", nn.Parameter(torch.zeros((), device=device, dtype=dtype)))
    module.register_forward_hook(_gate_hook)
    return module
