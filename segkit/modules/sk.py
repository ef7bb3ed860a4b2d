"""Selective Kernel (SK) convolution.

Li, Wang, Hu, Yang, "Selective Kernel Networks", CVPR 2019, https://arxiv.org/abs/1903.06586

M branches, branch i a conv with kernel 3+2i (padding 1+i, groups G) + BN + ReLU.
U = sum of branches; z = FC(GAP U) with d = max(C/r, L); one FC d -> C per branch;
softmax across branches; output = sum_m a_m * U_m.

Deviations: the squeeze FC is a bias-free ``nn.Linear`` + ReLU (the survey code's form)
rather than conv + BN, so it also trains at batch 1. ``d = max(C // r, L)`` with L >= 1
is never zero. Defaults follow the survey (M=3, G=1, r=4, L=32); the paper prefers M=2.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from segkit.modules._registry import register_module
from segkit.modules._width import check_channels, hidden_width

__all__ = ["SK"]


@register_module(
    "sk",
    paper="Selective Kernel Networks",
    year=2019,
    addresses="the receptive field of a layer is fixed",
    where="replaces the 3x3 conv of a bottleneck (as an add-on it keeps the shape)",
)
class SK(nn.Module):
    """Selective-kernel convolution: branches with growing kernels, softmax-selected per channel.

    Args:
        channels: input (= output) channels C.
        branches: number of branches M (kernels 3, 5, 7, ...).
        groups: conv groups G; must divide C.
        reduction: r in ``d = max(C // r, min_dim)``.
        min_dim: L, the lower bound of d (0 = the exact C // r, which raises when 0).

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, branches: int = 3, groups: int = 1, reduction: int = 4, min_dim: int = 32) -> None:
        super().__init__()
        check_channels("SK", channels)
        if branches < 1:
            raise ValueError(f"SK(branches={branches}): need at least 1 branch (the paper uses 2)")
        if groups < 1 or channels % groups:
            raise ValueError(f"SK(channels={channels}, groups={groups}): groups must divide channels; use groups=1")
        self.channels = channels
        self.branches = branches
        self.dim = hidden_width("SK", channels, reduction, min_dim, min_knob="min_dim")
        self.convs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels, channels, 3 + 2 * i, padding=1 + i, groups=groups, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            )
            for i in range(branches)
        )
        self.fc = nn.Sequential(nn.Linear(channels, self.dim, bias=False), nn.ReLU(inplace=True))
        self.fcs = nn.ModuleList(nn.Linear(self.dim, channels) for _ in range(branches))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], x.shape[1]
        feats = torch.stack([conv(x) for conv in self.convs], dim=0)  # (M,B,C,H,W)
        u = feats.sum(dim=0)
        z = self.fc(u.mean(dim=(2, 3)))  # (B,d)
        logits = torch.stack([fc(z) for fc in self.fcs], dim=0)  # (M,B,C)
        attn = torch.softmax(logits, dim=0).view(self.branches, b, c, 1, 1)
        return (attn * feats).sum(dim=0)
