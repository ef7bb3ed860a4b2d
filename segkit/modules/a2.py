"""A^2 double attention.

Chen, Kalantidis, Li, Yan, Feng, "A^2-Nets: Double Attention Networks", NeurIPS 2018,
https://arxiv.org/abs/1810.11579

A = 1x1 (C -> c_m); B, V = 1x1 (C -> c_n).
Gather: G = A · softmax_HW(B)^T, shape (c_m, c_n). Distribute: Z = G · softmax_cn(V),
shape (c_m, HW). Optional 1x1 reconstruction back to C.

The softmax dims are explicit (the survey code leaves them implicit): B is normalised over the HW positions, V over
the c_n descriptors. A softmax without a dim on the 3-D tensor would normalise over the
batch. Widths default to ``c_m = c_n = C``; an explicit 0 raises. With
``reconstruct=False`` the output has c_m channels, so the shape changes unless c_m == C
(``segkit.stitch.insert`` refuses it where the host needs the shape kept).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from segkit.modules._registry import register_module
from segkit.modules._width import check_channels

__all__ = ["DoubleAttention"]


@register_module(
    "a2",
    paper="A^2-Nets: Double Attention Networks",
    year=2018,
    addresses="long-range relations need depth",
    where="near the output; top layers gain most",
    contract="(B,C,H,W) -> (B,C,H,W); (B,c_m,H,W) when reconstruct=False",
)
class DoubleAttention(nn.Module):
    """A^2 double attention (gather, then distribute).

    Args:
        channels: input channels C.
        c_m: width of the gathered features A (default C).
        c_n: number of global descriptors (default C).
        reconstruct: 1x1 conv c_m -> C at the end (keeps the shape).

    Shape:
        (B, C, H, W) -> (B, C, H, W), or (B, c_m, H, W) when ``reconstruct=False``.
    """

    def __init__(self, channels: int, c_m: int | None = None, c_n: int | None = None, reconstruct: bool = True) -> None:
        super().__init__()
        check_channels("DoubleAttention", channels)
        c_m = channels if c_m is None else int(c_m)
        c_n = channels if c_n is None else int(c_n)
        if c_m < 1 or c_n < 1:
            raise ValueError(
                f"DoubleAttention(channels={channels}, c_m={c_m}, c_n={c_n}) gives a 0-wide layer; "
                "use c_m>=1 and c_n>=1 (or leave them None for c_m=c_n=channels)"
            )
        self.channels = channels
        self.c_m = c_m
        self.c_n = c_n
        self.out_channels = channels if reconstruct else c_m
        self.conv_a = nn.Conv2d(channels, c_m, 1)
        self.conv_b = nn.Conv2d(channels, c_n, 1)
        self.conv_v = nn.Conv2d(channels, c_n, 1)
        self.reconstruct = nn.Conv2d(c_m, channels, 1) if reconstruct else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        a = self.conv_a(x).reshape(b, self.c_m, h * w)  # (B,c_m,HW)
        attn_b = torch.softmax(self.conv_b(x).reshape(b, self.c_n, h * w), dim=2)  # over HW
        attn_v = torch.softmax(self.conv_v(x).reshape(b, self.c_n, h * w), dim=1)  # over c_n
        g = torch.bmm(a, attn_b.transpose(1, 2))  # gather: (B,c_m,c_n)
        z = torch.bmm(g, attn_v).reshape(b, self.c_m, h, w)  # distribute: (B,c_m,HW) -> (B,c_m,H,W)
        return self.reconstruct(z)
