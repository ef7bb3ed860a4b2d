"""ResNeSt split attention (Splat).

Zhang et al., "ResNeSt: Split-Attention Networks", 2020, https://arxiv.org/abs/2004.08955

A grouped conv (groups = cardinality * radix) gives R splits of C channels, then BN + ReLU.
Sum the splits, GAP, fc1 (1x1, grouped) -> BN -> ReLU, fc2 up to R*C. Radix-softmax over R
inside each cardinal group (sigmoid when R=1). Output = attention-weighted sum of splits.

Matches ``timm.layers.SplitAttn(norm_layer=nn.BatchNorm2d)`` weight for weight (tested).
Constraints: the grouped conv needs C divisible by ``groups * radix`` (odd C with radix 2
raises, naming the fix). The attention width is ``make_divisible(C*R*0.25, min 32, divisor 8)``,
never zero. The BN after fc1 works on a 1x1 map, so training needs batch size > 1.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from segkit.modules._registry import register_module
from segkit.modules._width import check_channels, make_divisible

__all__ = ["SplitAttention"]


@register_module(
    "split_attn",
    paper="ResNeSt: Split-Attention Networks",
    year=2020,
    addresses="weak cross-channel and long-range modelling",
    where="stacked ResNet-style, replacing the 3x3 conv of a bottleneck (as an add-on it keeps the shape)",
)
class SplitAttention(nn.Module):
    """Split-attention conv (ResNeSt).

    Args:
        channels: input (= output) channels C; divisible by ``groups * radix``.
        radix: number of splits R.
        groups: cardinality.
        kernel_size: conv kernel (odd).
        rd_ratio: attention width ratio (of ``C * R``).
        rd_divisor: attention width divisor.
        min_attn: minimum attention width.

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(
        self,
        channels: int,
        radix: int = 2,
        groups: int = 1,
        kernel_size: int = 3,
        rd_ratio: float = 0.25,
        rd_divisor: int = 8,
        min_attn: int = 32,
    ) -> None:
        super().__init__()
        check_channels("SplitAttention", channels)
        if radix < 1 or groups < 1:
            raise ValueError(f"SplitAttention(radix={radix}, groups={groups}): both must be >= 1")
        if channels % (groups * radix):
            raise ValueError(
                f"SplitAttention(channels={channels}, radix={radix}, groups={groups}): the grouped conv needs "
                f"channels divisible by groups*radix={groups * radix}; use radix=1, groups=1, or a channel count "
                f"that is a multiple of {groups * radix}"
            )
        if kernel_size % 2 == 0:
            raise ValueError(f"SplitAttention(kernel_size={kernel_size}): use an odd kernel to keep H and W")
        self.channels = channels
        self.radix = radix
        self.groups = groups
        mid = channels * radix
        self.attn_channels = make_divisible(channels * radix * rd_ratio, rd_divisor, min_attn)
        self.conv = nn.Conv2d(channels, mid, kernel_size, padding=kernel_size // 2, groups=groups * radix, bias=False)
        self.bn0 = nn.BatchNorm2d(mid)
        self.act0 = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, self.attn_channels, 1, groups=groups)
        self.bn1 = nn.BatchNorm2d(self.attn_channels)
        self.act1 = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(self.attn_channels, mid, 1, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act0(self.bn0(self.conv(x)))
        b, rc, h, w = x.shape
        c = rc // self.radix
        splits = x.reshape(b, self.radix, c, h, w)  # (B,R*C,H,W) -> (B,R,C,H,W)
        gap = splits.sum(dim=1).mean(dim=(2, 3), keepdim=True)  # (B,C,1,1)
        attn = self.fc2(self.act1(self.bn1(self.fc1(gap))))  # (B,R*C,1,1)
        if self.radix > 1:
            # radix-softmax inside each cardinal group: (B,G,R,C/G) -> softmax over R
            attn = attn.view(b, self.groups, self.radix, -1).transpose(1, 2)
            attn = torch.softmax(attn, dim=1).reshape(b, self.radix, c, 1, 1)
        else:
            attn = torch.sigmoid(attn).reshape(b, 1, c, 1, 1)
        return (splits * attn).sum(dim=1)
