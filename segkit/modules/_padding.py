"""Pad a map to a multiple of a size and crop results back: the rule window attention and every
segmentation model use, so inputs of any size work (as Swin Transformer pads to its window)."""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["pad_to_multiple", "crop_like", "is_tracing"]


def is_tracing() -> bool:
    """True while TorchScript traces/scripts or torch.compile/export captures the graph: shape-dependent
    Python branches are skipped there (the captured input must already fit)."""
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return True
    return bool(hasattr(torch, "compiler") and torch.compiler.is_compiling())


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Zero-pad the bottom and right of (..., H, W) so both sides are multiples of `multiple`.

    Returns:
        (padded tensor, rows added, columns added); the tensor itself when nothing is added.
    """
    pad_h, pad_w = -x.shape[-2] % multiple, -x.shape[-1] % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x, pad_h, pad_w


def crop_like(out: Any, h: int, w: int, padded_h: int, padded_w: int) -> Any:
    """Crop the padding back off a model output computed on a (padded_h, padded_w) input.

    Every 4-D tensor in `out` (a tensor, or a list/tuple of them, such as deep-supervision
    outputs) keeps the share of its rows and columns that covers the unpadded (h, w) input:
    a full-size map becomes (h, w), a 1/4-size feature map (ceil(h/4), ceil(w/4)). Other
    values (class scores, ...) are returned unchanged.
    """
    if isinstance(out, (list, tuple)):
        return type(out)(crop_like(o, h, w, padded_h, padded_w) for o in out)
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        return out
    oh, ow = out.shape[-2:]
    return out[..., : math.ceil(h * oh / padded_h), : math.ceil(w * ow / padded_w)]
