"""Self-Calibrated Convolution (SCConv).

Liu, Hou, Cheng, Wang, Feng, "Improving Convolutional Networks with Self-Calibrated
Convolutions", CVPR 2020 (the survey lists 2019), http://mftp.mmcheng.net/Papers/20cvprSCNet.pdf

Full form (default): split X into X1 (C1 = C//2 channels) and X2 (C - C1); Y2 = K1*X2;
T = AvgPool_r(X1); X1' = Up(K2*T); Y1 = K4*(K3*X1 ⊙ sigmoid(X1 + X1')); output = [Y1; Y2].
``calibrated_only=True`` gives the survey code's form: only the calibrated path, on the
whole input. Each K is a 3x3 conv + BatchNorm.

Deviations: the split is on the input channels directly (SCNet's bottleneck first applies
two 1x1 convs); the average pool uses ``ceil_mode=True`` so maps smaller than r still
pool to 1x1 instead of failing; Up is nearest interpolation as in the official code.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.modules._registry import register_module
from segkit.modules._width import check_channels

__all__ = ["SCConv"]


def _k(ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch))


class _Calibrated(nn.Module):
    """The self-calibration path on `ch` channels (K2, K3, K4)."""

    def __init__(self, ch: int, pooling_r: int) -> None:
        super().__init__()
        self.k2 = nn.Sequential(nn.AvgPool2d(pooling_r, pooling_r, ceil_mode=True), _k(ch))
        self.k3 = _k(ch)
        self.k4 = _k(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.k2(x), size=(x.shape[2], x.shape[3]))
        return self.k4(self.k3(x) * torch.sigmoid(x + up))


@register_module(
    "scconv",
    paper="Improving Convolutional Networks with Self-Calibrated Convolutions",
    year=2020,
    addresses="outputs are built the same way everywhere and the receptive field is set by the kernel",
    where="replaces a 3x3 conv (as an add-on it keeps the shape)",
)
class SCConv(nn.Module):
    """Self-calibrated convolution.

    Args:
        channels: input (= output) channels C (>= 2 for the full form).
        pooling_r: average-pool factor r of the calibration branch.
        calibrated_only: apply only the calibrated path on all channels (survey code).

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, pooling_r: int = 4, calibrated_only: bool = False) -> None:
        super().__init__()
        check_channels("SCConv", channels)
        if pooling_r < 1:
            raise ValueError(f"SCConv(pooling_r={pooling_r}): pooling_r must be >= 1")
        if not calibrated_only and channels < 2:
            raise ValueError(
                f"SCConv(channels={channels}) splits C into two halves, giving a 0-wide half; "
                "use calibrated_only=True or channels>=2"
            )
        self.channels = channels
        self.calibrated_only = calibrated_only
        self.c1 = channels if calibrated_only else channels // 2
        self.calibrated = _Calibrated(self.c1, pooling_r)
        self.k1 = nn.Identity() if calibrated_only else _k(channels - self.c1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.calibrated_only:
            return self.calibrated(x)
        x1, x2 = x[:, : self.c1], x[:, self.c1 :]
        return torch.cat([self.calibrated(x1), self.k1(x2)], dim=1)
