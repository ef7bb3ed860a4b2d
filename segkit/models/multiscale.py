"""Hierarchical multi-scale attention: a wrapper that fuses a model's predictions at several scales.

Tao, Sapra & Catanzaro, "Hierarchical Multi-Scale Attention for Semantic Segmentation",
NVIDIA, 2020, https://arxiv.org/abs/2005.10821

A shared trunk runs at every scale r. Each scale gives logits L_r and a spatial
attention map alpha_r (B, 1, h_r, w_r). Scales are fused pairwise from the smallest up:

    L = Up(alpha_small * L_small) + (1 - Up(alpha_small)) * L_large

so attention learned between two adjacent scales (training uses r in {0.5, 1.0}) is
reused hierarchically at inference (r in {0.5, 1.0, 2.0}).

Deviation: the paper's attention head reads the trunk's penultimate features. To work
around *any* segkit model (which only exposes logits), the attention head here reads
the scale's logits concatenated with the resized image, a plain conv head (the paper
notes a plain conv head works and a QKV head would need (B, HW, HW) memory).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.models._base import SegmentationModel
from segkit.models._registry import build_model, register_model
from segkit.models.unet import ConvBNAct

__all__ = ["AttentionHead", "HierarchicalMultiScale"]


class AttentionHead(nn.Module):
    """Conv head mapping [logits, image] to a sigmoid attention map (B, 1, H, W)."""

    def __init__(self, num_classes: int, in_channels: int = 3, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            ConvBNAct(num_classes + in_channels, hidden, 3),
            ConvBNAct(hidden, hidden, 3),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, logits: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(torch.cat([logits, image], 1)))


class HierarchicalMultiScale(SegmentationModel):
    """Wrap a segmentation model with hierarchical multi-scale attention.

    Args:
        model: any model mapping (B, 3, H, W) to (B, K, H, W) logits with ``num_classes``.
        train_scales: scales used in training mode (paper: 0.5, 1.0).
        infer_scales: scales used in eval mode (paper: 0.5, 1.0, 2.0).
        input_multiple: every scaled input is rounded to a multiple of this (defaults
            to the model's ``input_multiple`` attribute, else 32).
        attn_hidden: width of the attention head.

    Shape:
        (B, 3, H, W) -> (B, K, H, W). In training mode, if the wrapped model returns a list
        (deep supervision) only its first (main) output is used.

    Attributes:
        last_attention: the attention maps of the last forward, {scale: (B, 1, h, w)},
            detached, for visualisation.
    """

    def __init__(
        self,
        model: nn.Module,
        train_scales: Sequence[float] = (0.5, 1.0),
        infer_scales: Sequence[float] = (0.5, 1.0, 2.0),
        input_multiple: int | None = None,
        attn_hidden: int = 32,
    ) -> None:
        if not hasattr(model, "num_classes"):
            raise ValueError("model must have a `num_classes` attribute (every segkit model does).")
        super().__init__(model.num_classes, int(input_multiple or getattr(model, "input_multiple", 32)),
                         getattr(model, "in_channels", 3))
        for name, scales in (("train_scales", train_scales), ("infer_scales", infer_scales)):
            if len(scales) < 1 or any(s <= 0 for s in scales):
                raise ValueError(f"{name} must be a non-empty sequence of positive scales; got {tuple(scales)}.")
        self.model = model
        self.train_scales = tuple(sorted(float(s) for s in train_scales))
        self.infer_scales = tuple(sorted(float(s) for s in infer_scales))
        self.attention = AttentionHead(self.num_classes, 3, attn_hidden)
        self.backbone = getattr(model, "backbone", None)
        self.cam_layers = {role: f"model.{path}" for role, path in getattr(model, "cam_layers", {}).items()}
        self.last_attention: dict[float, torch.Tensor] = {}

    def _scaled_size(self, h: int, w: int, s: float) -> tuple[int, int]:
        m = self.input_multiple
        return max(m, round(h * s / m) * m), max(m, round(w * s / m) * m)

    def _run_scale(self, x: torch.Tensor, s: float) -> tuple[torch.Tensor, torch.Tensor]:
        size = self._scaled_size(x.shape[-2], x.shape[-1], s)
        xs = x if tuple(size) == tuple(x.shape[-2:]) else F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        logits = self.model(xs)
        if isinstance(logits, (list, tuple)):
            logits = logits[0]
        return logits, self.attention(logits, xs)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        scales = self.train_scales if self.training else self.infer_scales
        pred, alpha = None, None
        self.last_attention = {}
        for s in scales:  # smallest first
            logits, attn = self._run_scale(x, s)
            self.last_attention[s] = attn.detach()
            if pred is None:
                pred = logits
            else:
                size = logits.shape[-2:]
                up_pred = F.interpolate(alpha * pred, size=size, mode="bilinear", align_corners=False)
                up_alpha = F.interpolate(alpha, size=size, mode="bilinear", align_corners=False)
                pred = up_pred + (1 - up_alpha) * logits
            alpha = attn
        return F.interpolate(pred, size=x.shape[-2:], mode="bilinear", align_corners=False)


@register_model("multiscale-attention", family="multiscale", paper="Hierarchical Multi-Scale Attention (Tao et al., 2020)",
                year=2020, input_multiple=32)
def multiscale_attention(base: str = "segformer-b0", num_classes: int = 19,
                         train_scales: Sequence[float] = (0.5, 1.0), infer_scales: Sequence[float] = (0.5, 1.0, 2.0),
                         **base_kwargs) -> HierarchicalMultiScale:
    """Hierarchical multi-scale attention around a registered model (default SegFormer-B0)."""
    model = build_model(base, num_classes=num_classes, **base_kwargs)
    return HierarchicalMultiScale(model, train_scales, infer_scales)
