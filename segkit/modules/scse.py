"""Concurrent spatial and channel squeeze-and-excitation (scSE).

Roy, Navab, Wachinger, "Concurrent Spatial and Channel 'Squeeze & Excitation' in Fully
Convolutional Networks", MICCAI 2018, https://arxiv.org/abs/1803.02579

cSE: GAP -> 1x1 C -> C/r -> ReLU -> 1x1 -> C -> sigmoid, scaling channels.
sSE: 1x1 C -> 1 -> sigmoid, scaling pixels. Output = cSE(x) + sSE(x).

Zero-width policy: like SE, the hidden width is ``max(min_hidden, C // r)`` with
``min_hidden=1`` by default (r=2, so only C=1 is clamped); ``min_hidden=0`` raises at 0.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from segkit.modules._registry import register_module
from segkit.modules._width import hidden_width

__all__ = ["SCSE"]


@register_module(
    "scse",
    paper="Concurrent Spatial and Channel 'Squeeze & Excitation' in Fully Convolutional Networks",
    year=2018,
    addresses="SE recalibrates channels only; segmentation also needs pixel-wise recalibration",
    where="decoder blocks",
)
class SCSE(nn.Module):
    """scSE: channel SE plus a spatial 1x1 gate, summed.

    Args:
        channels: input channels C.
        reduction: cSE reduction r (the paper's C/2 means r=2).
        min_hidden: hidden width is ``max(min_hidden, C // r)``; 0 = exact (raises at 0).

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, reduction: float = 2, min_hidden: int = 1) -> None:
        super().__init__()
        self.channels = channels
        self.hidden = hidden_width("SCSE", channels, reduction, min_hidden)
        self.cse = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, self.hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(self.hidden, channels, 1),
            nn.Sigmoid(),
        )
        self.sse = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.cse(x) + x * self.sse(x)
