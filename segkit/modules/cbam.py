"""CBAM: Convolutional Block Attention Module (Woo et al., ECCV 2018, https://arxiv.org/abs/1807.06521).

Channel attention sigma(MLP(GAP x) + MLP(GMP x)) with a shared bias-free 1x1 MLP
C -> C//r -> C, then spatial attention sigma(conv_kxk([mean_c; max_c])) (2 -> 1, no bias).
This standard body reproduces the shallow-feature-fusion parameter totals of the paper's
model (see ``docs/models.md``). Deviation: the hidden width is max(1, C // r), the shared
zero-width rule of :func:`segkit.modules._width.hidden_width`.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from segkit.modules._registry import register_module
from segkit.modules._width import hidden_width

__all__ = ["ChannelAttention", "SpatialAttention", "CBAM"]


class ChannelAttention(nn.Module):
    """sigma(MLP(avg) + MLP(max)) per channel; returns the (B,C,1,1) weights."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = hidden_width("CBAM", channels, reduction)
        self.fc = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(inplace=False),
                                nn.Conv2d(hidden, channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.fc(x.mean((2, 3), keepdim=True))
        mx = self.fc(x.amax((2, 3), keepdim=True))
        return torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """sigma(conv([mean_c; max_c])); returns the (B,1,H,W) weights."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size not in (3, 7):
            raise ValueError(f"SpatialAttention kernel_size must be 3 or 7, got {kernel_size!r}")
        self.conv1 = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)  # (B,2,H,W)
        return torch.sigmoid(self.conv1(d))


@register_module(
    "cbam",
    paper="CBAM: Convolutional Block Attention Module (ECCV 2018)",
    year=2018,
    addresses="Learn both what (channels) and where (positions) to attend",
    where="After a block's output; inside the shallow feature fusion (SFF)",
)
class CBAM(nn.Module):
    """Channel attention, then spatial attention.

    Args:
        channels: input channels C.
        reduction: MLP reduction r (hidden max(1, C // r)).
        kernel_size: spatial conv kernel, 7 or 3.

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.ca = ChannelAttention(channels, reduction)
        self.sa = SpatialAttention(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.ca(x)
        return x * self.sa(x)
