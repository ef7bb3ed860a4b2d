"""Mutual Prototypical Adaptation (MPA) losses for Trans4PASS domain adaptation.

Zhang et al., "Bending Reality: Distortion-aware Transformers for Adapting to
Panoramic Semantic Segmentation", CVPR 2022, https://arxiv.org/abs/2203.01452

MPA aligns pixel features of both domains to *mutual* class prototypes:
- features: the sum of the Trans4PASS decoder's per-stage features (multi-scale), as
  returned by :meth:`segkit.models.trans4pass.Trans4PASS.forward_features`;
- source pixels are grouped by ground-truth labels, target pixels by pseudo-labels
  (ignore_index pixels are skipped);
- prototypes live in a memory bank shared by both domains and move by exponential
  moving average (momentum 0.999 in the official recipe) towards the mean of the
  batch prototypes of source *and* target;
- the feature loss is the KL divergence between the channel softmax of each pixel
  feature and that of its class prototype (weight 0.001 per domain in the official
  recipe), added to the segmentation losses (source CE, target pseudo-label CE).

:func:`segkit.adapt.adapt` runs the whole workflow (source-only training, pseudo-labels,
adaptation training with these losses, evaluation on the target). A training step
(Trans4PASS ``model``, source batch ``xs, ys``, target batch ``xt, pseudo``)::

    memory = PrototypeMemory(num_classes=19, channels=128)
    logits_s, feats_s = model.forward_features(xs)
    logits_t, feats_t = model.forward_features(xt)
    fs, ft = sum(feats_s), sum(feats_t)
    loss = ce(logits_s, ys) + ce(logits_t, pseudo) \
        + 1e-3 * mpa_feature_loss(fs, ys, memory.prototypes) \
        + 1e-3 * mpa_feature_loss(ft, pseudo, memory.prototypes)
    loss.backward()
    memory.update([(fs, ys), (ft, pseudo)])

The official code (https://github.com/jamycheung/Trans4PASS, ``adaptations/train_mpa.py``)
accumulates batch prototypes for 100 iterations before each EMA step: ``update_every=100``
does the same (the default 1 applies the EMA on every call). Deviation: within one call the
domains present are averaged first, then calls are averaged; the official code averages
every (domain, iteration) prototype with equal weight. :meth:`PrototypeMemory.initialise_mutual`
is the official initialisation: the mean of the per-domain class means.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["class_prototypes", "PrototypeMemory", "mpa_feature_loss"]


def _labels_at(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of (B, H, W) labels to `size`."""
    if labels.ndim != 3:
        raise ValueError(f"labels must have shape (B, H, W); got {tuple(labels.shape)}.")
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    return F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()


def class_prototypes(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, ignore_index: int = 255
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean feature of every class.

    Args:
        features: (B, C, h, w) pixel features.
        labels: (B, H, W) class indices (ground truth or pseudo-labels); resized to (h, w)
            by nearest neighbour. Pixels equal to `ignore_index` are skipped.
        num_classes: K.
        ignore_index: void label.

    Returns:
        (prototypes (K, C), counts (K,)) with zeros for classes absent from the batch.
    """
    if features.ndim != 4:
        raise ValueError(f"features must have shape (B, C, h, w); got {tuple(features.shape)}.")
    b, c, h, w = features.shape
    lab = _labels_at(labels, (h, w)).reshape(-1)
    feats = features.permute(0, 2, 3, 1).reshape(-1, c)  # (B,C,h,w) -> (BhW, C)
    valid = (lab != ignore_index) & (lab >= 0) & (lab < num_classes)
    lab, feats = lab[valid], feats[valid]
    sums = feats.new_zeros(num_classes, c).index_add_(0, lab, feats)
    counts = torch.bincount(lab, minlength=num_classes).to(feats.dtype)
    protos = sums / counts.clamp(min=1)[:, None]
    return protos, counts


def mpa_feature_loss(
    features: torch.Tensor, labels: torch.Tensor, prototypes: torch.Tensor, ignore_index: int = 255
) -> torch.Tensor:
    """KL(softmax(prototype[y]) || softmax(feature)) averaged over labelled pixels.

    Args:
        features: (B, C, h, w) pixel features.
        labels: (B, H, W) labels (resized to (h, w) by nearest neighbour).
        prototypes: (K, C) memory-bank prototypes (treated as constants).
        ignore_index: void label.

    Returns:
        Scalar loss; 0 (with a graph) when no pixel is labelled.
    """
    if prototypes.ndim != 2 or prototypes.shape[1] != features.shape[1]:
        raise ValueError(
            f"prototypes must have shape (K, {features.shape[1]}) to match the feature channels; "
            f"got {tuple(prototypes.shape)}."
        )
    k, c = prototypes.shape
    lab = _labels_at(labels, features.shape[-2:]).reshape(-1)
    feats = features.permute(0, 2, 3, 1).reshape(-1, c)  # (BhW, C)
    valid = (lab != ignore_index) & (lab >= 0) & (lab < k)
    if not bool(valid.any()):
        return features.sum() * 0.0
    log_p = F.log_softmax(feats[valid], dim=1)
    target = F.softmax(prototypes.detach()[lab[valid]], dim=1)
    return F.kl_div(log_p, target, reduction="batchmean")


class PrototypeMemory(nn.Module):
    """Dynamic memory bank of mutual (source + target) class prototypes.

    Args:
        num_classes: K.
        channels: feature channels C (Trans4PASS decoder: 128).
        momentum: EMA momentum (official: 0.999).
        ignore_index: void label.
        update_every: apply the EMA once every this many :meth:`update` calls, towards the
            mean of the batch prototypes accumulated since the last step (official: 100).

    Buffers:
        prototypes: (K, C); initialised to zeros, or set with :meth:`initialise` /
            :meth:`initialise_mutual`. The accumulation state is a buffer too, so a
            checkpointed memory resumes mid-accumulation.
    """

    def __init__(self, num_classes: int, channels: int, momentum: float = 0.999, ignore_index: int = 255,
                 update_every: int = 1) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}.")
        if int(update_every) < 1:
            raise ValueError(f"update_every must be >= 1 (1: an EMA step on every update); got {update_every}.")
        self.num_classes, self.momentum, self.ignore_index = num_classes, momentum, ignore_index
        self.update_every = int(update_every)
        self.register_buffer("prototypes", torch.zeros(num_classes, channels))
        self.register_buffer("initialised", torch.zeros(num_classes, dtype=torch.bool))
        self.register_buffer("acc_sum", torch.zeros(num_classes, channels))
        self.register_buffer("acc_count", torch.zeros(num_classes))
        self.register_buffer("acc_calls", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def initialise(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Set every prototype to the pixel-weighted class mean over (features, labels) batches."""
        sums = torch.zeros_like(self.prototypes)
        counts = torch.zeros(self.num_classes, device=sums.device, dtype=sums.dtype)
        for feats, labels in batches:
            p, n = class_prototypes(feats.detach(), labels, self.num_classes, self.ignore_index)
            sums += p * n[:, None]
            counts += n
        seen = counts > 0
        self.prototypes[seen] = sums[seen] / counts[seen, None]
        self.initialised |= seen

    @torch.no_grad()
    def initialise_mutual(self, domains: Iterable[Iterable[tuple[torch.Tensor, torch.Tensor]]]) -> None:
        """Set every prototype to the mean over domains of each domain's pixel-weighted class mean.

        The official initialisation averages the source and the target class means with
        equal weight, whatever their pixel counts; pass, per domain, (features, labels)
        batches whose labels keep only the pixels the model predicts correctly (others
        ``ignore_index``), as it does. A class seen in one domain only takes that mean.
        """
        sums = torch.zeros_like(self.prototypes)
        n_dom = torch.zeros(self.num_classes, device=sums.device, dtype=sums.dtype)
        for batches in domains:
            d_sum = torch.zeros_like(self.prototypes)
            d_count = torch.zeros_like(n_dom)
            for feats, labels in batches:
                p, n = class_prototypes(feats.detach(), labels, self.num_classes, self.ignore_index)
                d_sum += p * n[:, None]
                d_count += n
            seen = d_count > 0
            sums[seen] += d_sum[seen] / d_count[seen, None]
            n_dom += seen.to(n_dom.dtype)
        seen = n_dom > 0
        self.prototypes[seen] = sums[seen] / n_dom[seen, None]
        self.initialised |= seen

    @torch.no_grad()
    def update(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Accumulate the mean of the batch prototypes of all given domains; every
        ``update_every`` calls, an EMA step towards the accumulated mean.

        Classes absent from every accumulated batch keep their prototype; a class seen for
        the first time takes its accumulated prototype directly.
        """
        protos, present = [], []
        for feats, labels in batches:
            p, n = class_prototypes(feats.detach(), labels, self.num_classes, self.ignore_index)
            protos.append(p)
            present.append(n > 0)
        stacked = torch.stack(protos)  # (D, K, C)
        mask = torch.stack(present).to(stacked.dtype)  # (D, K)
        n_dom = mask.sum(0)
        seen = n_dom > 0
        self.acc_sum[seen] += ((stacked * mask[..., None]).sum(0) / n_dom.clamp(min=1)[:, None])[seen]
        self.acc_count += seen.to(self.acc_count.dtype)
        self.acc_calls += 1
        if int(self.acc_calls) % self.update_every:
            return
        seen = self.acc_count > 0
        batch_mean = self.acc_sum / self.acc_count.clamp(min=1)[:, None]
        fresh = seen & ~self.initialised
        old = seen & self.initialised
        self.prototypes[fresh] = batch_mean[fresh]
        self.prototypes[old] = self.momentum * self.prototypes[old] + (1 - self.momentum) * batch_mean[old]
        self.initialised |= seen
        self.acc_sum.zero_()
        self.acc_count.zero_()
