"""Segmentation losses, one module per family, combined only by `SegLoss`.

- :mod:`~segkit.losses.base`: `_SegLossBase`, argument checks, input preparation (every loss
  builds on it);
- :mod:`~segkit.losses.seg`: the reference recipe's CE, focal and Dice, `f_score`, and
  `SegLoss`, the one loss training builds (it adds the families below);
- :mod:`~segkit.losses.rare`: OHEM and Lovász-softmax for rare classes;
- :mod:`~segkit.losses.distill`: per-pixel knowledge distillation.

The MPA feature loss of domain adaptation lives with that workflow, in :mod:`segkit.adapt.mpa`.
"""
from segkit.losses.base import (  # noqa: F401  (Weights and the helpers stay importable from here)
    Weights, _check_nonneg, _check_weights, _prepare, _SegLossBase, _valid_mask, _weight_like,
)
from segkit.losses.distill import distill_loss
from segkit.losses.rare import LovaszSoftmaxLoss, OhemCrossEntropyLoss, lovasz_softmax
from segkit.losses.seg import CrossEntropyLoss, DiceLoss, FocalLoss, SegLoss, f_score

__all__ = ["CrossEntropyLoss", "FocalLoss", "DiceLoss", "SegLoss", "f_score",
           "OhemCrossEntropyLoss", "LovaszSoftmaxLoss", "lovasz_softmax", "distill_loss"]
