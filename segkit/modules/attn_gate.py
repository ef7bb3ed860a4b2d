"""AttnGate: SE-style channel gate with biases (the reference notes; paper_model.md §9).

``Gate(X) = X * sigmoid(MLP(GAP(X)))`` with MLP = Linear(C, max(1, C//r)) -> ReLU -> Linear
(both with bias). Used after the branches of MSA_ASPP (AG_ASPP_MViT). Works at batch 1.
Not the additive gate of Attention U-Net (that one would be ``AdditiveAttentionGate``).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from segkit.modules._registry import register_module

__all__ = ["AttnGate", "HebingGate"]


@register_module(
    "attn_gate",
    paper="AttnGate of the reference notes (SE with bias)",
    year=None,
    addresses="Reweight the channels of each ASPP branch output",
    where="After MSA_ASPP branches 2-4",
)
class AttnGate(nn.Module):
    """Per-channel gate.

    Args:
        channels: C.
        reduction: hidden = max(1, C // reduction).

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ValueError(f"AttnGate needs channels >= 1 and reduction >= 1, got {channels}, {reduction}")
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=False), nn.Linear(hidden, channels),
                                nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.fc(x.mean((2, 3)))  # (B, C)
        return x * w[:, :, None, None]


@register_module(
    "hebing",
    paper="hebing gate of WA_ASPP + hebing (the WAFA model of the reference notes)",
    year=None,
    addresses="Merge a channel cue and a spatial cue before the ASPP fuse conv",
    where="On the concatenated WA_ASPP branches, before the fuse conv",
)
class HebingGate(nn.Module):
    """``max(tongdao(U), kongjian(U))``: a max-merge of a channel and a spatial gate.

    tongdao: GAP -> 1x1 conv (C->1, no bias) -> ReLU -> (nearest upsampling) -> multiply U,
    a single non-negative scalar per sample with no sigmoid (a degenerate cSE).
    kongjian: 1x1 conv (C->1, no bias) -> sigmoid -> multiply U (exactly sSE).

    Args:
        channels: C.

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"HebingGate needs channels >= 1, got {channels}")
        self.tongdao = nn.Conv2d(channels, 1, 1, bias=False)
        self.kongjian = nn.Conv2d(channels, 1, 1, bias=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        t = u * torch.relu(self.tongdao(u.mean((2, 3), keepdim=True)))  # (B,1,1,1) broadcast = nearest upsampling
        k = u * torch.sigmoid(self.kongjian(u))
        return torch.maximum(t, k)
