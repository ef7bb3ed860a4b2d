"""Probe a model: one forward pass with hooks gives every module's real input/output shapes."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn

from segkit._utils import count_params
from segkit._utils import eval_mode as _eval_mode

__all__ = ["probe_shapes", "inspect", "probe_modules", "ModuleProbe"]


def _shape_of(obj: Any) -> Any:
    """Tensor -> tuple shape; tuples/lists/dicts recursively; anything else -> its type name."""
    if isinstance(obj, torch.Tensor):
        return tuple(obj.shape)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_shape_of(o) for o in obj) if isinstance(obj, list) else tuple(_shape_of(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _shape_of(v) for k, v in obj.items()}
    return type(obj).__name__


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        return p.device, p.dtype
    for b in model.buffers():
        return b.device, (b.dtype if b.is_floating_point() else torch.float32)
    return torch.device("cpu"), torch.float32


def _first_in_channels(model: nn.Module) -> int | None:
    for m in model.modules():
        c = getattr(m, "in_channels", None)
        if isinstance(c, int) and isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
            return c
    return None


def _make_input(model: nn.Module, input: torch.Tensor | Sequence[int] | None) -> torch.Tensor:
    """A probe tensor: `input` itself, a random tensor of shape `input`, or a guessed (1,C,64,64)."""
    device, dtype = _model_device_dtype(model)
    if isinstance(input, torch.Tensor):
        return input.to(device)
    if input is None:
        c = _first_in_channels(model)
        if c is None:
            raise ValueError(
                "cannot guess the model's input shape (no Conv layer found); pass input=(B, C, H, W) or a tensor"
            )
        input = (1, c, 64, 64)
    shape = tuple(int(s) for s in input)
    if any(s < 1 for s in shape):
        raise ValueError(f"input shape {shape} has a non-positive dimension; pass e.g. (1, 3, 64, 64)")
    gen = torch.Generator().manual_seed(0)
    return torch.randn(shape, generator=gen).to(device=device, dtype=dtype)


@dataclass
class ModuleProbe:
    """What one forward pass saw of one module (see :func:`probe_modules`).

    Attributes:
        type: the class name.
        in_shape: shape of the first input at the first call (None: never called).
        out_shape: shape of the output at the first call.
        calls: how many times the forward pass called it.
        takes_model_input: its first input is the raw model input tensor.
        order: rank of its first call among all modules (None: never called); a parent is
            called before its children, so sorting by it gives the execution order.
    """

    type: str
    in_shape: Any = None
    out_shape: Any = None
    calls: int = 0
    takes_model_input: bool = False
    order: int | None = None


_Probe = ModuleProbe  # the name inside segkit.stitch


def _probe(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, ModuleProbe], Any]:
    """One forward pass with hooks on every module; returns per-path probes and the output."""
    probes: dict[str, ModuleProbe] = OrderedDict()
    handles = []
    started = [0]

    def pre_hook(path: str):
        def fn(mod: nn.Module, args: tuple) -> None:
            p = probes[path]
            if p.order is None:
                p.order = started[0]
                started[0] += 1

        return fn

    def hook(path: str):
        def fn(mod: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
            p = probes[path]
            p.calls += 1
            if p.calls == 1:
                first = args[0] if args else (next(iter(kwargs.values())) if kwargs else None)
                p.in_shape = _shape_of(first)
                p.takes_model_input = first is x
                p.out_shape = _shape_of(out)

        return fn

    for path, mod in model.named_modules():
        probes[path] = ModuleProbe(type(mod).__name__)
        handles.append(mod.register_forward_pre_hook(pre_hook(path)))
        handles.append(mod.register_forward_hook(hook(path), with_kwargs=True))
    try:
        with _eval_mode(model):
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    return probes, out


def probe_modules(model: nn.Module, input: torch.Tensor | Sequence[int] | None = None) -> dict[str, ModuleProbe]:
    """Every module path of `model` with what one forward pass (eval mode, no gradients) saw of it:
    class, input and output shapes, calls and call order (see :class:`ModuleProbe`).

    Args:
        model: any ``nn.Module``.
        input: a tensor, a shape such as ``(1, 3, 512, 512)``, or None to guess ``(1, C, 64, 64)``.
    """
    probes, _ = _probe(model, _make_input(model, input))
    return probes


def probe_shapes(model: nn.Module, input: torch.Tensor | Sequence[int] | None = None) -> dict[str, Any]:
    """Output shape at every named point of `model` for one forward pass.

    The pass runs in eval mode without gradients; every module's training flag is restored.

    Args:
        model: any ``nn.Module``.
        input: a tensor, a shape such as ``(1, 3, 64, 64)``, or None to guess ``(1, C, 64, 64)``
            from the first conv layer.

    Returns:
        ``{path: shape}`` in module order ("" is the model itself). A shape is a tuple for a
        tensor, a tuple/list/dict of shapes for structured outputs, and None for a module the
        forward pass never called.
    """
    probes, _ = _probe(model, _make_input(model, input))
    return {path: p.out_shape for path, p in probes.items()}


def inspect(
    model: nn.Module,
    input_shape: torch.Tensor | Sequence[int] | None = None,
    max_depth: int | None = None,
    called_only: bool = False,
):
    """A table of every module path with its type, real shapes and parameter counts.

    This is how to find a stitching point: pick a path whose output is a (B, C, H, W)
    tensor, then ``insert(model, at=path, module=...)``.

    Args:
        model: any ``nn.Module``.
        input_shape: probe input (tensor or shape); None guesses ``(1, C, 64, 64)``.
        max_depth: keep paths with at most this many dotted components (None = all).
        called_only: drop modules the forward pass never called.

    Returns:
        A pandas DataFrame with columns ``path, depth, type, in_shape, out_shape, params,
        trainable, calls`` (``params``/``trainable`` count the module's own subtree).
    """
    import pandas as pd

    probes, _ = _probe(model, _make_input(model, input_shape))
    modules = dict(model.named_modules())
    rows = []
    for path, p in probes.items():
        depth = 0 if path == "" else path.count(".") + 1
        if max_depth is not None and depth > max_depth:
            continue
        if called_only and p.calls == 0:
            continue
        mod = modules[path]
        rows.append(
            dict(path=path or "(model)", depth=depth, type=p.type, in_shape=p.in_shape, out_shape=p.out_shape,
                 params=count_params(mod, trainable_only=False), trainable=count_params(mod), calls=p.calls)
        )
    return pd.DataFrame(rows)
