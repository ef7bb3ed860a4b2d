"""GGCA: Global Grouped Coordinate Attention (the paper's own module, no earlier
source paper; see ``docs/models.md``).

Coordinate attention with channel groups and max-pooled cues. The input (B,C,H,W) is
regrouped to (B*G, C/G, H, W); four directional descriptors (mean/max over W, mean/max
over H) each go separately through one shared transform T = 1x1 conv -> BN -> ReLU -> 1x1
conv, and ``y = x * sigmoid(T(h_avg)+T(h_max)) * sigmoid(T(w_avg)+T(w_max))``. No residual.

Five variants, differing only in pooling, checks and the zero-width clamp:

==================  ================================  ===========================
class               pooling                           hidden width m
==================  ================================  ===========================
GGCA                adaptive pools to a fixed (h, w)  Cg // r (0 is rejected)
GGCADynamic         adaptive pools to runtime (H, W)  Cg // r (0 is rejected)
GGCASafe            as GGCADynamic                    max(1, Cg // r)
GGCAFusedPooling    tensor mean/amax over W and H     max(1, Cg // r)
GGCAFused (final)   as GGCAFusedPooling               max(1, Cg // r)
==================  ================================  ===========================

Deviation from the reference code: every variant validates (channels, num_groups, reduction) in
``__init__`` (ValueError with the fix) instead of asserting in forward, so no combination
fails late and graph tracing stays free of assert warnings.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.modules._registry import register_module
from segkit.modules._width import hidden_width

__all__ = ["GGCA", "GGCADynamic", "GGCASafe", "GGCAFusedPooling", "GGCAFused", "ggca_hidden"]


def ggca_hidden(channels: int, num_groups: int, reduction: int, clamp: bool = True, module: str = "GGCA") -> int:
    """Hidden width m of the shared transform: (channels // num_groups) // reduction, clamped to
    >= 1 (`clamp`) or rejected at 0 with a ValueError naming the fix (the shared zero-width rule)."""
    cg = channels // num_groups
    return hidden_width(module, cg, reduction, min_hidden=1 if clamp else 0,
                        fix=f"a reduction <= {cg} (the channels per group), fewer groups, or the clamped "
                            f"GGCASafe / GGCAFused")


class _GGCABase(nn.Module):
    clamp = True

    def __init__(self, channels: int, reduction: int = 16, num_groups: int = 4) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, val in (("channels", channels), ("reduction", reduction), ("num_groups", num_groups)):
            if not isinstance(val, int) or val < 1:
                raise ValueError(f"{name}: {arg} must be a positive int, got {val!r}")
        if channels < num_groups or channels % num_groups:
            raise ValueError(
                f"{name}: channels={channels} is not divisible into num_groups={num_groups} groups; "
                f"use a num_groups that divides {channels} (e.g. 1)"
            )
        cg = channels // num_groups
        m = ggca_hidden(channels, num_groups, reduction, clamp=self.clamp, module=name)
        self.channels, self.num_groups, self.reduction = channels, num_groups, reduction
        self.group_channels, self.hidden = cg, m
        # One transform shared by all groups and all four descriptors.
        self.conv1 = nn.Conv2d(cg, m, 1, bias=True)
        self.bn1 = nn.BatchNorm2d(m)
        self.act = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(m, cg, 1, bias=True)

    def transform(self, d: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.bn1(self.conv1(d))))

    def _pool(self, xg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        xg = x.reshape(-1, self.group_channels, h, w)  # (B,C,H,W) -> (B*G, Cg, H, W)
        h_avg, h_max, w_avg, w_max = self._pool(xg)  # (B*G,Cg,H,1) x2, (B*G,Cg,1,W) x2
        # Four separate calls: each normalises with its own BN batch statistics.
        att_h = torch.sigmoid(self.transform(h_avg) + self.transform(h_max))
        att_w = torch.sigmoid(self.transform(w_avg) + self.transform(w_max))
        return (xg * att_h * att_w).reshape(x.shape)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, num_groups={self.num_groups}, reduction={self.reduction}, "
                f"hidden={self.hidden}")


class GGCA(_GGCABase):
    """Original GGCA with adaptive pools to a fixed (h, 1) and (1, w).

    Only correct when (h, w) equals the real feature size at the block.

    Args:
        channels: input channels C.
        h: feature height the pools are built for.
        w: feature width the pools are built for.
        reduction: m = (C / num_groups) // reduction (no clamp: 0 is rejected).
        num_groups: channel groups G (must divide C).
    """

    clamp = False

    def __init__(self, channels: int, h: int, w: int, reduction: int = 16, num_groups: int = 4) -> None:
        super().__init__(channels, reduction, num_groups)
        if h < 1 or w < 1:
            raise ValueError(f"GGCA: h and w must be positive feature sizes, got h={h}, w={w}")
        self.h, self.w = h, w
        self.pool_h_avg, self.pool_h_max = nn.AdaptiveAvgPool2d((h, 1)), nn.AdaptiveMaxPool2d((h, 1))
        self.pool_w_avg, self.pool_w_max = nn.AdaptiveAvgPool2d((1, w)), nn.AdaptiveMaxPool2d((1, w))

    def _pool(self, xg):
        return self.pool_h_avg(xg), self.pool_h_max(xg), self.pool_w_avg(xg), self.pool_w_max(xg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if not torch.jit.is_tracing() and (h, w) != (self.h, self.w):
            raise RuntimeError(
                f"GGCA was built for feature size ({self.h}, {self.w}) but got ({h}, {w}); "
                f"build it with h={h}, w={w} or use GGCAFused (size-free)"
            )
        return super().forward(x)


class GGCADynamic(_GGCABase):
    """GGCA with adaptive pools to the runtime (H, 1) and (1, W); no zero-width clamp.

    Args:
        channels: input channels C.
        reduction: m = (C / num_groups) // reduction (0 is rejected).
        num_groups: channel groups G (must divide C).
    """

    clamp = False

    def _pool(self, xg):
        h, w = xg.shape[-2:]
        return (F.adaptive_avg_pool2d(xg, (h, 1)), F.adaptive_max_pool2d(xg, (h, 1)),
                F.adaptive_avg_pool2d(xg, (1, w)), F.adaptive_max_pool2d(xg, (1, w)))


class GGCASafe(GGCADynamic):
    """GGCADynamic with the zero-width clamp m = max(1, Cg // reduction)."""

    clamp = True


class GGCAFusedPooling(_GGCABase):
    """GGCA with direct tensor mean/amax pooling (same numbers, fewer dispatches) and the clamp.

    Args:
        channels: input channels C.
        reduction: m = max(1, (C / num_groups) // reduction).
        num_groups: channel groups G (must divide C).

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    clamp = True

    def _pool(self, xg):
        return xg.mean(3, keepdim=True), xg.amax(3, keepdim=True), xg.mean(2, keepdim=True), xg.amax(2, keepdim=True)


@register_module(
    "ggca",
    paper="GGCA, Global Grouped Coordinate Attention (the paper's reference code)",
    year=None,
    addresses="Coordinate attention without groups or max cues",
    where="After the depthwise conv of deep MobileNetV2 blocks (stage idx >= 4)",
)
class GGCAFused(GGCAFusedPooling):
    """The final GGCA used by ``MobileNetV2_GGCA`` (identical to GGCAFusedPooling).

    Args:
        channels: input channels C.
        reduction: m = max(1, (C / num_groups) // reduction).
        num_groups: channel groups G (must divide C).
    """
