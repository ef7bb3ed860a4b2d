"""Optimised execution modes (channels_last, BN folding, autocast, compile, ONNX Runtime) as callables to time."""
from __future__ import annotations

import copy
import time
from typing import Any, Callable

import torch
import torch.nn as nn

from segkit._utils import main_logits
from segkit.bench.bn_fold import fold_batchnorm
from segkit.bench.environment import _sync
from segkit.bench.onnx_mode import _onnx_callable

__all__ = ["MODES"]

MODES = ("eager", "auto", "channels_last", "bn_fold", "bf16", "fp16", "compile", "onnxruntime")


def _mode_callable(
    name: str, model: nn.Module, x: torch.Tensor, device: torch.device,
    precision: str = "auto", channels_last: str | bool = "auto",
) -> tuple[Callable[[torch.Tensor], Any], torch.Tensor, str, dict[str, Any]]:
    """(callable, input, how, extra) for one optimised mode; raises when unsupported."""
    if name == "auto":
        return _precision_callable(model, x, device, precision, channels_last)
    if name == "channels_last":
        m = copy.deepcopy(model).to(memory_format=torch.channels_last).eval()
        return m, x.contiguous(memory_format=torch.channels_last), "model and input in channels_last", {}
    if name == "bn_fold":
        m, n, method = fold_batchnorm(model)
        if n == 0:
            raise RuntimeError("no conv-BatchNorm pair found to fold")
        return m, x, f"{n} BatchNorm layers folded ({method})", {"folded": n, "method": method}
    if name in ("bf16", "fp16"):
        dtype = torch.bfloat16 if name == "bf16" else torch.float16
        if device.type == "cuda" and dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise RuntimeError("this GPU does not support bfloat16")

        def run(inp: torch.Tensor) -> torch.Tensor:
            with torch.autocast(device_type=device.type, dtype=dtype):
                return main_logits(model(inp)).float()

        return run, x, f"torch.autocast({device.type}, {dtype})", {}
    if name == "compile":
        m = torch.compile(copy.deepcopy(model).eval())
        t0 = time.perf_counter()
        with torch.no_grad():
            m(x)  # compilation happens here, outside the timed runs
        _sync(device)
        return m, x, "torch.compile (default mode)", {"compile_s": round(time.perf_counter() - t0, 2)}
    if name == "onnxruntime":
        return _onnx_callable(model, x, device)
    raise ValueError(f"unknown mode {name!r}; choose from {MODES}")


def _precision_callable(model: nn.Module, x: torch.Tensor, device: torch.device, precision: str,
                        channels_last: str | bool):
    """The model under the precision and memory format ``resolve_precision`` picks."""
    from segkit.runtime.precision import resolve_precision

    prec = resolve_precision(precision, channels_last, device, model)
    m = copy.deepcopy(model).eval()
    if prec.channels_last:
        m = m.to(memory_format=torch.channels_last)

    def run(inp: torch.Tensor) -> torch.Tensor:
        with prec.autocast():
            out = main_logits(m(inp))
        return out.float()

    return run, prec.input(x), prec.describe(), {"precision": prec.to_dict()}
