"""The base every segkit loss shares: argument checks, input preparation and `_SegLossBase`.

The lowest loss module: :mod:`segkit.losses.seg` (the reference recipe's losses and `SegLoss`),
:mod:`segkit.losses.rare` (OHEM, Lovász) and the other loss modules build on it, so
each of them imports it and none imports another to get these.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit._utils import check_ignore_index, check_num_classes

Weights = Sequence[float] | np.ndarray | torch.Tensor | None


# helpers ------------------------------------------------------------------------------


def _check_weights(weight: Weights, num_classes: int) -> torch.Tensor | None:
    if weight is None:
        return None
    w = torch.as_tensor(np.asarray(weight.cpu() if isinstance(weight, torch.Tensor) else weight, dtype=np.float64))
    if w.dim() != 1 or w.numel() != num_classes:
        raise ValueError(
            f"class weights must be a 1-D sequence of length num_classes={num_classes}, got shape {tuple(w.shape)} "
            f"({w.tolist()}); e.g. cls_weights=[1, 2, 3] for 3 classes"
        )
    if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"class weights must be finite, >= 0 and not all zero, got {w.tolist()}")
    return w.float()


def _check_nonneg(name: str, value: float, positive: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def _prepare(
    logits: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None, validate: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check shapes/dtypes (and values), resize logits to the target size; return (logits, long target)."""
    if isinstance(logits, (list, tuple)):
        raise TypeError(
            "got a list of outputs (deep supervision); compute the loss per output, e.g. "
            "loss(outs[0], y) + 0.4 * sum(loss(o, y) for o in outs[1:])"
        )
    if not isinstance(logits, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError(f"logits and target must be tensors, got {type(logits).__name__} and {type(target).__name__}")
    if logits.dim() != 4 or not logits.is_floating_point():
        raise ValueError(
            f"logits must be a float (B, K, H, W) tensor, got {logits.dtype} of shape {tuple(logits.shape)}"
        )
    if logits.shape[1] != num_classes:
        raise ValueError(
            f"logits have {logits.shape[1]} channels but num_classes={num_classes} (shape {tuple(logits.shape)})"
        )
    if target.dim() != 3 or target.shape[0] != logits.shape[0]:
        raise ValueError(
            f"target must be (B, H, W) with B={logits.shape[0]} like the logits {tuple(logits.shape)}, "
            f"got shape {tuple(target.shape)}"
        )
    if target.is_floating_point() or target.dtype == torch.bool or target.is_complex():
        raise ValueError(
            f"target must hold integer class labels, got dtype {target.dtype}; convert it with target.long()"
        )
    target = target.long()
    if validate and target.numel():
        bad = (target < 0) | (target >= num_classes)
        if ignore_index is not None:
            bad &= target != ignore_index
        if bad.any():
            values = torch.unique(target[bad])[:5].tolist()
            hint = " (a 0/255 binary mask? run `segkit data fix-binary`)" if 255 in values else ""
            raise ValueError(
                f"target holds value(s) {values} outside [0, {num_classes}) that are not "
                f"ignore_index={ignore_index}{hint}"
            )
    if logits.shape[2:] != target.shape[1:]:
        logits = F.interpolate(logits, size=target.shape[1:], mode="bilinear", align_corners=True)
    return logits, target


def _valid_mask(target: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    if ignore_index is None:
        return torch.ones_like(target, dtype=torch.bool)
    return target != ignore_index


def _weight_like(weight: torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor | None:
    """Class weights on the logits' device and dtype (a criterion left on the CPU still works)."""
    return None if weight is None else weight.to(device=logits.device, dtype=logits.dtype)


class _SegLossBase(nn.Module):
    def __init__(self, num_classes: int, ignore_index: int | None, validate: bool) -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        self.ignore_index = check_ignore_index(ignore_index, self.num_classes)
        self.validate = bool(validate)

    def _prepare(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _prepare(logits, target, self.num_classes, self.ignore_index, self.validate)
