"""Spatial Group-wise Enhance (SGE).

Li, Hu, Yang, "Spatial Group-wise Enhance: Improving Semantic Feature Learning in
Convolutional Networks", 2019, https://arxiv.org/abs/1905.09646

Split C into G groups. Per group: g = GAP(x_g); c_i = <g, x_i> at each position; normalise
c over positions (zero mean, unit std); a = gamma * c + beta (one pair per group);
x_i <- x_i * sigmoid(a_i). 2G parameters; gamma starts at 0 and beta at 1.

Group policy: ``groups=None`` (default) uses ``gcd(C, 64)``, the paper's G=64 reduced to a
divisor of C (C=96 -> 32, C=3 -> 1). An explicit ``groups`` that does not divide C raises.
Deviation: at a 1x1 map the std over one position is undefined (NaN in the official
code); segkit then uses the un-normalised (zero-mean, i.e. zero) map instead.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from segkit.modules._registry import register_module
from segkit.modules._width import check_channels

__all__ = ["SGE"]


@register_module(
    "sge",
    paper="Spatial Group-wise Enhance: Improving Semantic Feature Learning in Convolutional Networks",
    year=2019,
    addresses="sub-features inside channel groups pick up noise",
    where="end of each residual block",
)
class SGE(nn.Module):
    """Spatial Group-wise Enhance.

    Args:
        channels: input channels C.
        groups: number of groups G (must divide C); ``None`` gives ``gcd(C, 64)``.
        eps: added to the std.

    Shape:
        (B, C, H, W) -> (B, C, H, W)

    Parameters: ``2 * G``.
    """

    def __init__(self, channels: int, groups: int | None = None, eps: float = 1e-5) -> None:
        super().__init__()
        check_channels("SGE", channels)
        g = math.gcd(channels, 64) if groups is None else int(groups)
        if g < 1 or channels % g:
            raise ValueError(
                f"SGE(channels={channels}, groups={groups}): groups must divide channels; "
                f"use groups={math.gcd(channels, max(g, 1))} or groups=None (gcd(C, 64) = {math.gcd(channels, 64)})"
            )
        self.channels = channels
        self.groups = g
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(1, g, 1, 1))
        self.bias = nn.Parameter(torch.ones(1, g, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        xg = x.reshape(b * self.groups, c // self.groups, h, w)  # (B,C,H,W) -> (B*G,C/G,H,W)
        t = (xg * xg.mean(dim=(2, 3), keepdim=True)).sum(dim=1)  # (B*G,H,W)
        t = t.reshape(b * self.groups, h * w)
        t = t - t.mean(dim=1, keepdim=True)
        if h * w > 1:
            t = t / (t.std(dim=1, keepdim=True) + self.eps)
        t = t.reshape(b, self.groups, h, w) * self.weight + self.bias
        t = t.reshape(b * self.groups, 1, h, w)
        return (xg * torch.sigmoid(t)).reshape(b, c, h, w)
