"""Segmentation losses of the reference recipe (docs/training.md, losses).

- :class:`CrossEntropyLoss`: class-weighted cross-entropy, ``ignore_index`` skipped,
  weighted mean (``sum w_y * nll / sum w_y`` over valid pixels).
- :class:`FocalLoss` (alpha 0.5, gamma 2), by default with the reference's arithmetic:
  ``l = -w_y * (-log p_y)`` (0 on ignored pixels), ``p_t = exp(l)`` and
  ``loss = mean over ALL pixels of -(1 - p_t)^gamma * alpha * l``, so the class weight
  sits inside ``p_t`` and ignored pixels count in the mean. ``reference=False`` gives the
  textbook form instead: ``p_t = p_y`` and ``sum(-alpha w_y (1-p_t)^gamma log p_t) /
  sum(w_y)`` over valid pixels (with gamma 0 and alpha 1 that is exactly the weighted CE).
- :class:`DiceLoss` (beta 1, smooth 1e-5) on softmax probabilities and one-hot targets,
  summed over batch and pixels per class, ``loss = 1 - mean_c score_c`` (background
  included). By default ignored pixels are excluded entirely; ``reference=True``
  reproduces the reference, where their probability mass still counts as false positives.
- :class:`SegLoss`: the combination rule: base = Focal if ``focal_loss`` else CE, plus
  Dice if ``dice_loss``. ``reference=True`` makes every part match the reference exactly.
- :func:`f_score`: the progress bar's monitor, Dice on ``softmax > threshold`` (not the
  paper's F1).

Logits whose spatial size differs from the target's are resized bilinearly with
``align_corners=True`` first, as the reference does.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from segkit.losses.base import Weights, _check_nonneg, _check_weights, _prepare, _SegLossBase, _valid_mask, _weight_like
from segkit.losses.rare import LovaszSoftmaxLoss, OhemCrossEntropyLoss

__all__ = ["CrossEntropyLoss", "FocalLoss", "DiceLoss", "SegLoss", "f_score"]


def _ce(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, ignore_index: int | None
) -> torch.Tensor:
    weight = _weight_like(weight, logits)
    return F.cross_entropy(logits, target, weight=weight, ignore_index=-100 if ignore_index is None else ignore_index)


def _focal(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None,
    ignore_index: int | None,
    alpha: float,
    gamma: float,
    reference: bool,
) -> torch.Tensor:
    weight = _weight_like(weight, logits)
    if reference:
        ce = F.cross_entropy(
            logits, target, weight=weight, ignore_index=-100 if ignore_index is None else ignore_index, reduction="none"
        )  # (B,H,W): w_y * -log p_y, 0 on ignored pixels
        logpt = -ce
        pt = torch.exp(logpt)
        return (-((1 - pt) ** gamma) * alpha * logpt).mean()
    valid = _valid_mask(target, ignore_index)
    t = target.masked_fill(~valid, 0)
    logp_y = F.log_softmax(logits.float(), dim=1).gather(1, t.unsqueeze(1)).squeeze(1)  # (B,H,W)
    w_y = valid.to(logp_y.dtype) if weight is None else weight.to(logp_y)[t] * valid
    loss = -alpha * (1 - logp_y.exp()) ** gamma * logp_y * w_y
    return loss.sum() / w_y.sum()


def _dice_stats(
    probs: torch.Tensor, target: torch.Tensor, ignore_index: int | None, reference: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class tp, fp, fn summed over batch and pixels; probs (B,K,H,W) in [0, 1]."""
    valid = _valid_mask(target, ignore_index).unsqueeze(1)  # (B,1,H,W)
    t = target.masked_fill(~valid.squeeze(1), 0).unsqueeze(1)
    onehot = torch.zeros_like(probs).scatter_(1, t, valid.to(probs.dtype))  # (B,K,H,W), 0 on ignored
    dims = (0, 2, 3)
    tp = (onehot * probs).sum(dims)
    p_sum = probs.sum(dims) if reference else (probs * valid).sum(dims)
    return tp, p_sum - tp, onehot.sum(dims) - tp


def _dice_score(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor, beta: float, smooth: float) -> torch.Tensor:
    b2 = beta**2
    return ((1 + b2) * tp + smooth) / ((1 + b2) * tp + b2 * fn + fp + smooth)


def _dice(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None, beta: float, smooth: float, reference: bool
) -> torch.Tensor:
    probs = torch.softmax(logits.float(), dim=1)
    tp, fp, fn = _dice_stats(probs, target, ignore_index, reference)
    return 1 - _dice_score(tp, fp, fn, beta, smooth).mean()


# public API ---------------------------------------------------------------------------


@torch.no_grad()
def f_score(
    logits: torch.Tensor,
    target: torch.Tensor,
    beta: float = 1.0,
    smooth: float = 1e-5,
    threshold: float = 0.5,
    ignore_index: int | None = 255,
    reference: bool = False,
) -> torch.Tensor:
    """Training monitor: Dice score of ``softmax(logits) > threshold``, mean over classes.

    This is the progress bar's ``f_score`` of the reference, not the paper's F1.

    Args:
        logits: ``(B, K, H, W)`` raw scores (resized to the target size if they differ).
        target: ``(B, H, W)`` integer labels.
        beta: F-beta weight of recall.
        smooth: Added to numerator and denominator.
        threshold: Probability threshold.
        ignore_index: Label to skip.
        reference: Count ignored pixels' thresholded predictions as false positives,
            as the reference does.

    Returns:
        A 0-dim tensor in [0, 1] (no gradient).
    """
    k = logits.shape[1] if isinstance(logits, torch.Tensor) and logits.dim() == 4 else -1
    logits, target = _prepare(logits, target, k, ignore_index, False)
    hard = (torch.softmax(logits.float(), dim=1) > threshold).float()
    tp, fp, fn = _dice_stats(hard, target, ignore_index, reference)
    return _dice_score(tp, fp, fn, beta, smooth).mean()


class CrossEntropyLoss(_SegLossBase):
    """Class-weighted cross-entropy with ``ignore_index``, reduced to the weighted mean.

    Args:
        num_classes: Number of classes K.
        weight: Optional per-class weights, length K (the reference's ``cls_weights``).
        ignore_index: Target value to skip (outside ``[0, K)``; None skips nothing).
        validate: Check target values (one device sync per call).

    Shape:
        logits ``(B, K, h, w)`` (resized to ``(H, W)`` when different), target ``(B, H, W)``
        -> scalar.
    """

    def __init__(
        self, num_classes: int, weight: Weights = None, ignore_index: int | None = 255, validate: bool = True
    ) -> None:
        super().__init__(num_classes, ignore_index, validate)
        self.register_buffer("weight", _check_weights(weight, self.num_classes))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = self._prepare(logits, target)
        return _ce(logits, target, self.weight, self.ignore_index)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, ignore_index={self.ignore_index}"


class FocalLoss(_SegLossBase):
    """Focal loss, by default with the reference's exact arithmetic (see module docstring).

    Args:
        num_classes: Number of classes K.
        alpha: Scale factor (reference 0.5), >= 0.
        gamma: Focusing exponent (reference 2), >= 0.
        weight: Optional per-class weights, length K.
        ignore_index: Target value to skip.
        reference: True (default): class weight inside ``p_t`` and the mean over all pixels,
            ignored ones included (the reference's quirks). False: ``p_t`` is the true
            probability, the weight multiplies outside, and the result is the weighted mean
            over valid pixels.
        validate: Check target values (one device sync per call).
    """

    def __init__(
        self,
        num_classes: int,
        alpha: float = 0.5,
        gamma: float = 2.0,
        weight: Weights = None,
        ignore_index: int | None = 255,
        reference: bool = True,
        validate: bool = True,
    ) -> None:
        super().__init__(num_classes, ignore_index, validate)
        self.alpha = _check_nonneg("alpha", alpha)
        self.gamma = _check_nonneg("gamma", gamma)
        self.reference = bool(reference)
        self.register_buffer("weight", _check_weights(weight, self.num_classes))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = self._prepare(logits, target)
        return _focal(logits, target, self.weight, self.ignore_index, self.alpha, self.gamma, self.reference)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, alpha={self.alpha}, gamma={self.gamma}, "
            f"ignore_index={self.ignore_index}, reference={self.reference}"
        )


class DiceLoss(_SegLossBase):
    """Soft Dice loss ``1 - mean_c score_c`` on softmax probabilities vs one-hot targets.

    ``score_c = ((1+b^2) tp + s) / ((1+b^2) tp + b^2 fn + fp + s)`` with tp/fp/fn summed over
    batch and pixels; the mean includes background.

    Args:
        num_classes: Number of classes K.
        beta: F-beta weight (reference 1), > 0.
        smooth: Smoothing term (reference 1e-5), >= 0.
        ignore_index: Target value to skip.
        reference: False (default): ignored pixels are excluded entirely. True: their
            probability mass counts as false positives, as in the reference.
        validate: Check target values (one device sync per call).
    """

    def __init__(
        self,
        num_classes: int,
        beta: float = 1.0,
        smooth: float = 1e-5,
        ignore_index: int | None = 255,
        reference: bool = False,
        validate: bool = True,
    ) -> None:
        super().__init__(num_classes, ignore_index, validate)
        self.beta = _check_nonneg("beta", beta, positive=True)
        self.smooth = _check_nonneg("smooth", smooth)
        self.reference = bool(reference)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = self._prepare(logits, target)
        return _dice(logits, target, self.ignore_index, self.beta, self.smooth, self.reference)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, beta={self.beta}, smooth={self.smooth}, "
            f"ignore_index={self.ignore_index}, reference={self.reference}"
        )


class SegLoss(_SegLossBase):
    """The reference's loss combination: (Focal if ``focal_loss`` else CE) + Dice if ``dice_loss``.

    For rare classes (:mod:`segkit.losses_rare`): ``ohem`` replaces CE by OHEM CE and
    ``lovasz_loss`` adds Lovász-softmax.

    The reference run used ``focal_loss=True, dice_loss=True, cls_weights=[1, 2, 3]``.

    Args:
        num_classes: Number of classes K.
        focal_loss: Replace CE by :class:`FocalLoss`.
        dice_loss: Add :class:`DiceLoss`.
        ohem: OHEM CE threshold (None: plain CE); not with `focal_loss`.
        lovasz_loss: Add Lovász-softmax.
        cls_weights: Per-class weights for CE/Focal, length K (None = unit weights).
        ignore_index: Target value to skip.
        alpha: Focal alpha.
        gamma: Focal gamma.
        beta: Dice beta (also used by :meth:`f_score`).
        smooth: Dice smoothing (also used by :meth:`f_score`).
        reference: None (default) keeps each part's default (Focal with the reference's
            quirks, Dice excluding ignored pixels); True reproduces the reference exactly;
            False uses the corrected forms everywhere.
        validate: Check target values once per call (one device sync).

    Example:
        >>> crit = SegLoss(3, focal_loss=True, dice_loss=True, cls_weights=[1, 2, 3])
        >>> loss = crit(model(x), y); loss.backward()
        >>> crit.f_score(logits.detach(), y)  # progress-bar monitor
    """

    def __init__(
        self,
        num_classes: int,
        focal_loss: bool = False,
        dice_loss: bool = False,
        cls_weights: Weights = None,
        ignore_index: int | None = 255,
        alpha: float = 0.5,
        gamma: float = 2.0,
        beta: float = 1.0,
        smooth: float = 1e-5,
        reference: bool | None = None,
        validate: bool = True,
        ohem: float | None = None,
        lovasz_loss: bool = False,
    ) -> None:
        super().__init__(num_classes, ignore_index, validate)
        if focal_loss and ohem is not None:
            raise ValueError(f"focal_loss=True and ohem={ohem}: both pick the hard pixels; choose one "
                             "(TrainConfig: focal_loss=false or ohem_thresh=null)")
        self.focal_loss, self.dice_loss, self.ohem = bool(focal_loss), bool(dice_loss), ohem
        focal_ref = True if reference is None else bool(reference)
        dice_ref = False if reference is None else bool(reference)
        self.dice_reference = dice_ref
        self.beta = _check_nonneg("beta", beta, positive=True)
        self.smooth = _check_nonneg("smooth", smooth)
        common = dict(num_classes=num_classes, ignore_index=ignore_index, validate=False)
        if ohem is not None:
            self.base = OhemCrossEntropyLoss(thresh=ohem, weight=cls_weights, **common)
        elif self.focal_loss:
            self.base = FocalLoss(alpha=alpha, gamma=gamma, weight=cls_weights, reference=focal_ref, **common)
        else:
            self.base = CrossEntropyLoss(weight=cls_weights, **common)
        self.dice = DiceLoss(beta=beta, smooth=smooth, reference=dice_ref, **common) if self.dice_loss else None
        self.lovasz = LovaszSoftmaxLoss(**common) if lovasz_loss else None

    def components(self, logits: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each part of the loss: ``{"ce" or "focal": ..., "dice": ...}`` (with gradients)."""
        logits, target = self._prepare(logits, target)  # checked once here; parts skip it
        name = "ohem" if self.ohem is not None else "focal" if self.focal_loss else "ce"
        parts = {name: self.base(logits, target)}
        if self.dice is not None:
            parts["dice"] = self.dice(logits, target)
        if self.lovasz is not None:
            parts["lovasz"] = self.lovasz(logits, target)
        return parts

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(self.components(logits, target).values())

    def f_score(self, logits: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
        """The progress-bar monitor (:func:`f_score`) with this loss's settings."""
        return f_score(
            logits,
            target,
            beta=self.beta,
            smooth=self.smooth,
            threshold=threshold,
            ignore_index=self.ignore_index,
            reference=self.dice_reference,
        )

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, focal_loss={self.focal_loss}, dice_loss={self.dice_loss}, "
                f"ohem={self.ohem}, lovasz={self.lovasz is not None}")
