"""Knowledge distillation: Hinton et al., "Distilling the Knowledge in a Neural Network"
(https://arxiv.org/abs/1503.02531), per pixel for segmentation (``TrainConfig.distill_*``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["distill_loss"]


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor, temperature: float = 1.0,
                 ignore_index: int = 255) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher/T) || softmax(student/T))``, averaged over the labelled pixels.

    The ``T^2`` keeps the gradient's size independent of T (Hinton et al., section 2).

    Args:
        student, teacher: logits (B, K, H, W).
        target: labels (B, H, W); pixels at `ignore_index` are left out.
        temperature: T > 0.

    Returns:
        A scalar (0, with a gradient, when no pixel is labelled).
    """
    log_s = F.log_softmax(student / temperature, dim=1)
    log_t = F.log_softmax(teacher / temperature, dim=1)
    kl = (log_t.exp() * (log_t - log_s)).sum(dim=1)  # (B, H, W)
    valid = target != ignore_index
    return temperature ** 2 * (kl[valid].mean() if valid.any() else kl.sum() * 0.0)
