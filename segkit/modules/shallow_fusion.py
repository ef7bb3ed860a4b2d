"""SFF: shallow feature fusion, ``ShallowFusionLite`` (the paper's reference code; see ``docs/models.md``).

Two shallow backbone features F1 (stride s) and F2 (stride 2s) are each reduced by a bias-free
1x1 conv, refined by a depthwise-separable conv, F2 is upsampled to F1's size (bilinear,
align_corners=False), both are concatenated, fused by a DS conv to `out` channels, dropped
out and re-weighted by CBAM. The output replaces DeepLabV3+'s low-level feature.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.modules.cbam import CBAM
from segkit.modules.conv import DepthwiseSeparableConv

__all__ = ["ShallowFusionLite", "SFFGroup", "SFF_GROUPS"]


@dataclass(frozen=True)
class SFFGroup:
    """One tap configuration of the paper: F1 = features[:a], F2 = features[a:b], deep = features[b:]."""

    a: int
    b: int
    reduced: int
    out: int
    dropout: float = 0.2


# The four groups of the paper (group 2 is the chosen one; group 3's taps are inferred).
SFF_GROUPS: dict[str, SFFGroup] = {
    "sff1": SFFGroup(4, 7, 16, 32),
    "sff2": SFFGroup(4, 7, 24, 56),
    "sff3": SFFGroup(7, 11, 24, 96),
    "sff4": SFFGroup(2, 4, 16, 40),
}


class ShallowFusionLite(nn.Module):
    """Fuse two shallow features into one low-level feature at F1's resolution.

    Args:
        in1: channels of F1 (the finer feature).
        in2: channels of F2 (the coarser feature).
        reduced: width r of each path after the 1x1 reduction.
        out: output channels (the DeepLab ``low_level_channels``).
        dropout: dropout probability after the fuse conv (non-inplace).

    Shape:
        (B, in1, H, W), (B, in2, H', W') -> (B, out, H, W)
    """

    def __init__(self, in1: int, in2: int, reduced: int = 16, out: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        for arg, val in (("in1", in1), ("in2", in2), ("reduced", reduced), ("out", out)):
            if val < 1:
                raise ValueError(f"ShallowFusionLite: {arg} must be >= 1, got {val}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"ShallowFusionLite: dropout must be in [0, 1), got {dropout}")
        self.reduce1 = nn.Conv2d(in1, reduced, 1, bias=False)
        self.reduce2 = nn.Conv2d(in2, reduced, 1, bias=False)
        self.ds1 = DepthwiseSeparableConv(reduced, reduced)
        self.ds2 = DepthwiseSeparableConv(reduced, reduced)
        self.fuse = DepthwiseSeparableConv(2 * reduced, out)
        self.dropout = nn.Dropout(dropout, inplace=False)
        self.cbam = CBAM(out, reduction=16, kernel_size=7)
        self.in_channels = (in1, in2)
        self.out_channels = out

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        a = self.ds1(self.reduce1(f1))
        b = self.ds2(self.reduce2(f2))
        b = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False)
        y = self.fuse(torch.cat([a, b], dim=1))  # (B, 2r, H, W) -> (B, out, H, W)
        return self.cbam(self.dropout(y))
