"""Efficient Channel Attention (ECA).

Wang et al., "ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks",
CVPR 2020, https://arxiv.org/abs/1910.03151

GAP, then a 1-D conv (kernel k, padding (k-1)/2, no bias) over the channel sequence, then
sigmoid and scaling. No dimensionality reduction, hence no zero-width risk; k parameters.

The adaptive kernel follows the official code: ``t = int(|(log2(C) + b) / gamma|)``,
``k = t if t is odd else t + 1`` (gamma=2, b=1), so C=64 gives 3 and C=960 gives 5.
An even explicit kernel would shorten the channel axis, so it raises.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from segkit.modules._registry import register_module
from segkit.modules._width import check_channels

__all__ = ["ECA", "eca_kernel_size"]


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """The adaptive odd kernel size of ECA-Net for `channels`."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


@register_module(
    "eca",
    paper="ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks",
    year=2020,
    addresses="SE's dimensionality reduction hurts; a cheaper channel attention is wanted",
    where="same as SE: inside or after residual blocks",
)
class ECA(nn.Module):
    """Efficient Channel Attention: a k-tap 1-D conv across channels.

    Args:
        channels: input channels C.
        kernel_size: odd kernel size k; ``None`` picks the adaptive size from C.
        gamma: gamma of the adaptive rule.
        b: b of the adaptive rule.

    Shape:
        (B, C, H, W) -> (B, C, H, W)

    Parameters: ``k``.
    """

    def __init__(self, channels: int, kernel_size: int | None = None, gamma: int = 2, b: int = 1) -> None:
        super().__init__()
        check_channels("ECA", channels)
        k = eca_kernel_size(channels, gamma, b) if kernel_size is None else int(kernel_size)
        if k < 1 or k % 2 == 0:
            raise ValueError(
                f"ECA(channels={channels}, kernel_size={kernel_size}): kernel_size must be a positive odd int "
                f"(an even kernel with padding (k-1)/2 drops a channel); use {max(1, k - 1) | 1} or {k + 1 | 1}"
            )
        self.channels = channels
        self.kernel_size = k
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], x.shape[1]
        y = self.pool(x).view(b, 1, c)  # (B,C,1,1) -> (B,1,C): channels as a sequence
        y = torch.sigmoid(self.conv(y)).view(b, c, 1, 1)
        return x * y
