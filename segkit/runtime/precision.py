"""Precision and memory format, chosen by the hardware: one place decides both.

``resolve_precision("auto", "auto", device, model)`` returns a frozen :class:`Precision`
that every path (training, evaluation, prediction, benchmarks, Grad-CAM) applies the
same way: ``with prec.autocast(): out = model(prec.input(x))``, then ``out.float()``
before any loss, softmax or confusion matrix (those always run in fp32).

What ``"auto"`` picks:

=========  ======================================================================
device     precision
=========  ======================================================================
cpu        bf16 autocast when the CPU runs bf16 natively (AMX tiles or AVX512-BF16,
           asked from PyTorch's own checks, :func:`cpu_has_native_bf16`); fp32
           otherwise (without them bf16 is emulated and several times *slower*)
cuda       bf16 autocast on GPUs with native bf16 (compute capability >= 8.0:
           Ampere, Hopper...): the same tensor-core speed as fp16 with fp32's
           exponent range, so no GradScaler and no overflow-skipped steps; fp16
           autocast + GradScaler on older GPUs (a choice from the GPUs' published
           throughput; no GPU was available to measure segkit's models)
mps, ...   fp32 (autocast on Apple GPUs is young and BatchNorm-heavy nets gain little)
=========  ======================================================================

``channels_last="auto"`` is on for convolutional models (:func:`is_convolutional`: at least
half of the Conv2d + Linear weights are in Conv2d layers) running in reduced precision on
a CPU or a GPU (oneDNN's bf16 kernels and CUDA's tensor cores work in NHWC, so NCHW costs
a reorder per layer), and off in fp32, where it measured no faster on the CPU
(DeepLabV3+-MobileNetV2 on an AVX2 CPU, one thread: inference 1x3x512x512 1.01 s NCHW vs 1.06 s channels_last; train
step 8x3x128x128 2.03 s vs 1.98 s).

Explicit values are honoured: ``"fp16"`` where autocast cannot run fp16 (the CPU) falls back
to bf16 with a printed note; ``"bf16"`` on a GPU without native bf16 falls back to fp16.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ContextManager, Literal

import torch
import torch.nn as nn

from segkit._utils import did_you_mean

__all__ = [
    "PRECISIONS",
    "Precision",
    "resolve_precision",
    "check_precision",
    "check_channels_last",
    "cpu_has_native_bf16",
    "is_convolutional",
]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_NAMES = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def check_precision(value: Any, field: str = "precision") -> str:
    """``value`` if it is one of ``PRECISIONS``; else a ``ValueError`` naming `field` and the choices."""
    if value not in PRECISIONS:
        raise ValueError(f"{field}={value!r} is not one of {PRECISIONS}.{did_you_mean(str(value), PRECISIONS)} "
                         "('auto' picks bf16/fp16/fp32 from the hardware)")
    return value


def check_channels_last(value: Any, field: str = "channels_last") -> str | bool:
    """``"auto"``, True or False (the strings "true"/"false" of a command line are accepted)."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value == "auto" or value is True or value is False:
        return value
    raise ValueError(f"{field}={value!r} must be 'auto', True or False "
                     "('auto': channels_last for convolutional models where it is faster)")


def cpu_has_native_bf16() -> bool:
    """True when this CPU runs bf16 matrix math natively: oneDNN is available and the CPU
    has AMX tiles or AVX512-BF16 (PyTorch's own checks; without them bf16 is emulated)."""
    cpu = getattr(torch, "cpu", None)
    amx = getattr(cpu, "_is_amx_tile_supported", lambda: False)
    avx512_bf16 = getattr(cpu, "_is_avx512_bf16_supported", lambda: False)
    return bool(torch.backends.mkldnn.is_available() and (amx() or avx512_bf16()))


def _cuda_has_native_bf16(device: torch.device) -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8


def is_convolutional(model: nn.Module) -> bool:
    """At least half of the model's Conv2d + Linear weights sit in Conv2d layers.

    A cheap rule that separates CNNs (DeepLabV3+, UNet, HRNet, SegNeXt: conv share ~1.0;
    the window-attention ASPP variants ~0.5) from transformer-dominated models (SegFormer,
    Swin, Trans4PASS: ~0.3), whose Linear layers see no benefit from channels_last.
    """
    conv = linear = 0
    for m in model.modules():
        n = sum(p.numel() for p in m.parameters(recurse=False))
        if isinstance(m, nn.Conv2d):
            conv += n
        elif isinstance(m, (nn.Linear, nn.MultiheadAttention)):
            linear += n
    return conv > 0 and conv >= linear


@dataclass(frozen=True)
class Precision:
    """A resolved precision and memory format.

    Attributes:
        dtype: the autocast dtype (``torch.bfloat16`` / ``torch.float16``), None for fp32
            (no autocast).
        scaler: use a ``GradScaler`` in training (fp16 on CUDA).
        channels_last: model and inputs in ``torch.channels_last``.
        device_type: ``"cpu"``, ``"cuda"``, ``"mps"``...
        requested: the (precision, channels_last) values asked for.
        reason: why these were chosen (one phrase).
    """

    dtype: torch.dtype | None
    scaler: bool
    channels_last: bool
    device_type: str = "cpu"
    requested: tuple[str, str | bool] = ("fp32", False)
    reason: str = ""

    @property
    def name(self) -> Literal["fp32", "bf16", "fp16"]:
        """``"fp32"``, ``"bf16"`` or ``"fp16"``."""
        return _NAMES[self.dtype]  # type: ignore[return-value]

    def autocast(self) -> ContextManager:
        """``torch.autocast`` for the resolved dtype, a no-op context for fp32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def input(self, x: torch.Tensor) -> torch.Tensor:
        """`x` in the resolved memory format: channels_last or plain NCHW (4-D tensors only)."""
        if x.ndim != 4:
            return x
        return x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)

    @contextlib.contextmanager
    def model_format(self, model: nn.Module):
        """Put `model` in channels_last for the block; restore the previous format after it
        when this changed it (a model the trainer already converted stays converted)."""
        if not self.channels_last or _is_channels_last(model):
            yield model
            return
        model.to(memory_format=torch.channels_last)
        try:
            yield model
        finally:
            model.to(memory_format=torch.contiguous_format)

    def describe(self) -> str:
        """One line, e.g. ``precision bf16 (autocast), channels_last on, device cpu [asked ...: why]``."""
        how = "autocast" + (" + GradScaler" if self.scaler else "") if self.dtype is not None else "no autocast"
        asked = f"asked precision={self.requested[0]}, channels_last={self.requested[1]}"
        return (f"precision {self.name} ({how}), channels_last {'on' if self.channels_last else 'off'}, "
                f"device {self.device_type} [{asked}: {self.reason}]")

    def to_dict(self) -> dict[str, Any]:
        """Plain values for config.yaml / bench.json."""
        return {"precision": self.name, "autocast_dtype": None if self.dtype is None else str(self.dtype).split(".")[-1],
                "grad_scaler": self.scaler, "channels_last": self.channels_last, "device_type": self.device_type,
                "requested": {"precision": self.requested[0], "channels_last": self.requested[1]},
                "reason": self.reason}


def _is_channels_last(model: nn.Module) -> bool:
    return all(p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.ndim == 4)


def _resolve_dtype(precision: str, dev: torch.device) -> tuple[torch.dtype | None, str]:
    """(autocast dtype or None, reason) for a device."""
    if precision == "fp32":
        return None, "fp32 asked for"
    if precision == "auto":
        if dev.type == "cpu":
            if cpu_has_native_bf16():
                return torch.bfloat16, "the CPU runs bf16 natively (AMX/AVX512-BF16)"
            return None, "the CPU has no native bf16 (it would be emulated, slower than fp32)"
        if dev.type == "cuda":
            if _cuda_has_native_bf16(dev):
                return torch.bfloat16, "the GPU runs bf16 natively (no GradScaler needed)"
            return torch.float16, "fp16 autocast + GradScaler (the GPU has no native bf16)"
        return None, f"no mixed precision on {dev.type}"
    dtype = _DTYPES[precision]
    if dev.type == "cpu" and dtype is torch.float16:
        print("[segkit] fp16 autocast needs CUDA; using bfloat16 autocast on cpu (set precision='bf16' to "
              "silence this)")
        return torch.bfloat16, "fp16 asked for; the CPU autocasts bf16 instead"
    if dev.type == "cuda" and dtype is torch.bfloat16 and not _cuda_has_native_bf16(dev):
        print("[segkit] this GPU has no native bf16; using fp16 autocast + GradScaler (set precision='fp16' to "
              "silence this)")
        return torch.float16, "bf16 asked for; the GPU has no native bf16, fp16 + GradScaler instead"
    if not torch.amp.is_autocast_available(dev.type):
        print(f"[segkit] autocast is not available on {dev.type}; using fp32")
        return None, f"{precision} asked for; no autocast on {dev.type}"
    return dtype, f"{precision} asked for"


def resolve_precision(
    precision: "str | Precision" = "auto",
    channels_last: str | bool = "auto",
    device: str | torch.device = "cpu",
    model: nn.Module | None = None,
) -> Precision:
    """Decide the autocast dtype, GradScaler and memory format for `device` (and `model`).

    Args:
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (see the module docstring);
            an already resolved :class:`Precision` is returned as it is.
        channels_last: ``"auto"``, True or False. ``"auto"`` needs `model` to tell a CNN
            (:func:`is_convolutional`); without a model it stays off.
        device: where the model runs (``"auto"`` resolves as ``segkit.engine.resolve_device``).
        model: the network (only inspected, never changed).

    Returns:
        A frozen :class:`Precision`.
    """
    from segkit.runtime.distributed import resolve_device

    if isinstance(precision, Precision):
        return precision
    check_precision(precision)
    channels_last = check_channels_last(channels_last)
    dev = resolve_device(device)
    dtype, reason = _resolve_dtype(precision, dev)
    if channels_last == "auto":
        conv = model is not None and is_convolutional(model)
        fast = dev.type in ("cpu", "cuda") and dtype is not None
        cl = conv and fast
        if model is None:
            why = "no model to inspect"
        elif not conv:
            why = "not a convolutional model"
        elif not fast:
            why = f"no gain in {_NAMES[dtype]} on {dev.type}"
        else:
            why = "convolutional model"
        reason = f"{reason}; channels_last: {why}"
    else:
        cl = bool(channels_last)
    scaler = dev.type == "cuda" and dtype is torch.float16
    return Precision(dtype, scaler, cl, dev.type, (precision, channels_last), reason)
