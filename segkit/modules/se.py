"""Squeeze-and-Excitation (SE) channel attention.

Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018, https://arxiv.org/abs/1709.01507

s = GAP(x); w = sigmoid(W2 · ReLU(W1 · s)) with bias-free FCs C -> C/r -> C; y = x · w.

Zero-width policy (zoo.md §2 rule 4): the hidden width is ``max(min_hidden, C // r)`` and
``min_hidden`` defaults to 1, so the default never builds the silent ``Linear(3, 0)``.
Passing ``min_hidden=0`` asks for the paper's exact ``C // r``; when that is 0 the
constructor raises ``ValueError`` with the fix instead of building a module that only
halves its input.

This file also holds :func:`hidden_width`, the one place every reduction-based module in
the zoo computes (and validates) its hidden width.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from segkit.modules._registry import register_module

__all__ = ["SE", "hidden_width", "check_channels"]


def check_channels(module: str, channels: int) -> None:
    """Raise ``ValueError`` unless `channels` is a positive int."""
    if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
        raise ValueError(f"{module}(channels={channels!r}): channels must be a positive int (the C of (B,C,H,W))")


def hidden_width(
    module: str,
    channels: int,
    reduction: float,
    min_hidden: int = 1,
    knob: str = "reduction",
    min_knob: str = "min_hidden",
) -> int:
    """Hidden width ``max(min_hidden, int(channels // reduction))``, never zero.

    Args:
        module: module name used in the error message.
        channels: input channels C.
        reduction: reduction ratio r (> 0).
        min_hidden: lower clamp; 0 means no clamp (paper-exact ``C // r``).
        knob: the argument name reported for `reduction` in error messages.
        min_knob: the argument name reported for `min_hidden` in error messages.

    Returns:
        The hidden width (>= 1).

    Raises:
        ValueError: on a non-positive `reduction`, a negative `min_hidden`, or a zero width.
    """
    check_channels(module, channels)
    if reduction <= 0:
        raise ValueError(f"{module}(channels={channels}, {knob}={reduction}): {knob} must be > 0")
    if min_hidden < 0:
        raise ValueError(f"{module}({min_knob}={min_hidden}): {min_knob} must be >= 0")
    width = max(int(min_hidden), int(channels // reduction))
    if width < 1:
        raise ValueError(
            f"{module}(channels={channels}, {knob}={reduction}) gives a 0-wide hidden layer "
            f"({channels} // {reduction} = 0); use {knob}<={channels} or {min_knob}>=1"
        )
    return width


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
