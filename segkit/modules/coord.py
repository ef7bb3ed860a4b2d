"""Coordinate attention.

Hou, Zhou, Feng, "Coordinate Attention for Efficient Mobile Network Design", CVPR 2021,
https://arxiv.org/abs/2103.02907

Pool along W to (C,H,1) and along H to (C,1,W); concatenate on the spatial axis; shared
1x1 (C -> mip) + BN + h-swish; split; two 1x1 convs + sigmoid give a_h and a_w;
y = x · a_h · a_w. ``mip = max(min_mip, C // r)`` with r=32 and min_mip=8 is never zero.
GGCA (segkit.modules, paper model) is the grouped variant with max cues; it is registered
separately as "ggca".
"""
from __future__ import annotations

import torch
import torch.nn as nn

from segkit.modules._registry import register_module
from segkit.modules._width import hidden_width

__all__ = ["CoordAttention"]


@register_module(
    "coord",
    paper="Coordinate Attention for Efficient Mobile Network Design",
    year=2021,
    addresses="SE loses position information",
    where="mobile (inverted residual) blocks",
)
class CoordAttention(nn.Module):
    """Coordinate attention: direction-aware channel attention.

    Args:
        channels: input channels C.
        reduction: r in ``mip = max(min_mip, C // r)``.
        min_mip: lower bound of the hidden width (paper 8; 0 = exact, raises at 0).

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, reduction: float = 32, min_mip: int = 8) -> None:
        super().__init__()
        self.channels = channels
        self.mip = hidden_width("CoordAttention", channels, reduction, min_mip, min_knob="min_mip")
        self.conv1 = nn.Conv2d(channels, self.mip, 1)
        self.bn1 = nn.BatchNorm2d(self.mip)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(self.mip, channels, 1)
        self.conv_w = nn.Conv2d(self.mip, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        x_h = x.mean(dim=3, keepdim=True)  # (B,C,H,1)
        x_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (B,C,1,W) -> (B,C,W,1)
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))  # (B,mip,H+W,1)
        y_h, y_w = torch.split(y, [h, w], dim=2)
        a_h = torch.sigmoid(self.conv_h(y_h))  # (B,C,H,1)
        a_w = torch.sigmoid(self.conv_w(y_w.transpose(2, 3)))  # (B,C,1,W)
        return x * a_h * a_w
