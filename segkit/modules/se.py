"""Squeeze-and-Excitation (SE) channel attention.

Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018, https://arxiv.org/abs/1709.01507

s = GAP(x); w = sigmoid(W2 · ReLU(W1 · s)) with bias-free FCs C -> C/r -> C; y = x · w.

The hidden width follows the shared zero-width rule of :func:`segkit.modules._width.hidden_width`:
``max(min_hidden, C // r)`` with ``min_hidden=1``; ``min_hidden=0`` is the paper's exact
``C // r`` and raises at 0 instead of building a module that only halves its input.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from segkit.modules._registry import register_module
from segkit.modules._width import hidden_width

__all__ = ["SE"]


@register_module(
    "se",
    paper="Squeeze-and-Excitation Networks",
    year=2018,
    addresses="channels are weighted equally, with no global recalibration",
    where="inside or after residual blocks, at any depth (not on the raw 3-channel input)",
)
class SE(nn.Module):
    """Squeeze-and-Excitation: global channel recalibration.

    Args:
        channels: input channels C.
        reduction: reduction ratio r (paper default 16; demos use 8).
        min_hidden: hidden width is ``max(min_hidden, C // r)``; 0 = paper-exact (raises at 0).
        bias: bias on the two FC layers (the reference code has none).
        init: apply the reference init (Linear weights N(0, 0.001), biases 0).

    Shape:
        (B, C, H, W) -> (B, C, H, W)

    Parameters: ``2 * C * hidden`` (+ ``hidden + C`` with bias).
    """

    def __init__(
        self, channels: int, reduction: float = 16, min_hidden: int = 1, bias: bool = False, init: bool = False
    ) -> None:
        super().__init__()
        self.channels = channels
        self.hidden = hidden_width("SE", channels, reduction, min_hidden)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, self.hidden, bias=bias),
            nn.ReLU(inplace=True),
            nn.Linear(self.hidden, channels, bias=bias),
            nn.Sigmoid(),
        )
        if init:
            for m in self.fc:
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, std=0.001)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], x.shape[1]
        w = self.fc(self.pool(x).view(b, c)).view(b, c, 1, 1)  # (B,C) -> (B,C,1,1)
        return x * w
