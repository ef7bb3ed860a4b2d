"""Losses for rare classes: OHEM cross-entropy and Lovász-softmax.

`SegLoss` (:mod:`segkit.losses.seg`) combines them with the reference's CE / focal / Dice
(``TrainConfig.ohem_thresh``, ``TrainConfig.lovasz_loss``):

- :class:`OhemCrossEntropyLoss`, online hard example mining (Shrivastava et al., "Training
  Region-based Object Detectors with Online Hard Example Mining", CVPR 2016; per pixel as in
  mmseg's ``OHEMPixelSampler``): the CE mean over the pixels whose true-class probability is
  below ``thresh``, and at least the ``min_kept`` fraction of hardest pixels. Easy background
  pixels, which swamp the mean when a defect is 1 % of the image, drop out.
- :class:`LovaszSoftmaxLoss` (Berman et al., "The Lovász-Softmax loss: A tractable surrogate
  for the optimization of the intersection-over-union measure in neural networks", CVPR 2018):
  a convex surrogate of 1 - IoU per class, averaged over the classes present in the batch, so a
  small class counts as much as the background.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from segkit.losses.base import Weights, _SegLossBase, _check_weights, _valid_mask, _weight_like

__all__ = ["OhemCrossEntropyLoss", "LovaszSoftmaxLoss", "lovasz_softmax"]


class OhemCrossEntropyLoss(_SegLossBase):
    """Cross-entropy over the hard pixels only.

    Args:
        num_classes: Number of classes K.
        thresh: A pixel is hard when the probability of its true class is below this (0..1).
        min_kept: At least this fraction of the labelled pixels (the hardest) is kept.
        weight: Optional per-class weights, length K.
        ignore_index: Target value to skip.
        validate: Check target values once per call.
    """

    def __init__(self, num_classes: int, thresh: float = 0.7, min_kept: float = 1 / 16, weight: Weights = None,
                 ignore_index: int | None = 255, validate: bool = True) -> None:
        super().__init__(num_classes, ignore_index, validate)
        if not 0 < thresh <= 1:
            raise ValueError(f"OHEM thresh={thresh} must be in (0, 1] (TrainConfig.ohem_thresh), e.g. 0.7")
        if not 0 < min_kept <= 1:
            raise ValueError(f"OHEM min_kept={min_kept} must be a fraction in (0, 1]")
        self.thresh, self.min_kept = float(thresh), float(min_kept)
        self.register_buffer("weight", _check_weights(weight, self.num_classes))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = self._prepare(logits, target)
        valid = _valid_mask(target, self.ignore_index)
        t = target.masked_fill(~valid, 0)
        ce = F.cross_entropy(logits, t, weight=_weight_like(self.weight, logits), reduction="none")[valid]
        if ce.numel() == 0:
            return logits.sum() * 0.0
        with torch.no_grad():
            p_true = torch.exp(-F.cross_entropy(logits, t, reduction="none")[valid])
            keep = p_true < self.thresh
            need = max(1, int(self.min_kept * ce.numel()))
            if int(keep.sum()) < need:  # too few hard pixels: the `need` hardest
                keep = torch.zeros_like(keep)
                keep[torch.topk(-p_true, need).indices] = True
        return ce[keep].mean()

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, thresh={self.thresh}, min_kept={self.min_kept:.4g}"


def _lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovász extension of the Jaccard loss w.r.t. sorted errors (Berman et al., Alg. 1)."""
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if gt_sorted.numel() > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def lovasz_softmax(probs: torch.Tensor, target: torch.Tensor, ignore_index: int | None = 255) -> torch.Tensor:
    """Lovász-softmax over a batch: the mean over the classes present in `target`.

    Args:
        probs: Softmax probabilities ``(B, K, H, W)``.
        target: Labels ``(B, H, W)``.
        ignore_index: Target value to skip.

    Returns:
        A scalar (0 when no pixel is labelled).
    """
    k = probs.shape[1]
    flat = probs.permute(0, 2, 3, 1).reshape(-1, k)
    labels = target.reshape(-1)
    valid = _valid_mask(labels, ignore_index)
    flat, labels = flat[valid], labels[valid]
    losses = []
    for c in torch.unique(labels).tolist():
        fg = (labels == c).to(flat.dtype)
        errors = (fg - flat[:, c]).abs()
        errors_sorted, order = torch.sort(errors, descending=True)
        losses.append(torch.dot(errors_sorted, _lovasz_grad(fg[order])))
    return torch.stack(losses).mean() if losses else probs.sum() * 0.0


class LovaszSoftmaxLoss(_SegLossBase):
    """:func:`lovasz_softmax` of the softmax of the logits.

    Args:
        num_classes: Number of classes K.
        ignore_index: Target value to skip.
        validate: Check target values once per call.
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = self._prepare(logits, target)
        return lovasz_softmax(F.softmax(logits.float(), dim=1), target, self.ignore_index)
