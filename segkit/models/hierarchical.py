"""The four-stage hierarchical encoder that SegFormer's MiT and SegNeXt's MSCAN share.

Stage i (strides 4, 8, 16, 32) embeds the previous map (a strided convolution: the
downsampling), runs its blocks, normalises with a LayerNorm over channels and hands the map
on; the encoder returns the four maps. What differs between the two encoders is only what a
stage does between embedding and norm (MiT works on token sequences, MSCAN on maps), which a
subclass writes in :meth:`HierarchicalEncoder.stage`. Stochastic depth rises linearly over
all blocks of all stages, as in both papers' code.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn as nn

__all__ = ["HierarchicalEncoder", "DropPath", "drop_path_rates", "init_weights"]


def init_weights(m: nn.Module) -> None:
    """Linear trunc-normal(0.02), bias 0; LN 1/0; conv N(0, sqrt(2/fan_out)) (both papers' init)."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class DropPath(nn.Module):
    """Stochastic depth: drop the residual branch per sample with probability p (training only)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


def drop_path_rates(depths: Sequence[int], rate: float) -> list[list[float]]:
    """Per stage, its blocks' drop-path rates: linear from 0 to `rate` over all blocks (pure Python: meta-safe)."""
    n = sum(depths)
    flat = [rate * i / max(1, n - 1) for i in range(n)]
    starts = [sum(depths[:i]) for i in range(len(depths))]
    return [flat[s:s + d] for s, d in zip(starts, depths)]


class HierarchicalEncoder(nn.Module):
    """Four stages of embed -> blocks -> LayerNorm, returning the (B, C_i, H_i, W_i) map of each.

    Args:
        dims, depths: per-stage widths and block counts (4 each).
        drop_path_rate: the stochastic depth of the last block.
        embed: stage index -> that stage's embedding module.
        block: (stage index, drop-path rate) -> one block of that stage.

    Attributes ``embeds``, ``stages`` (a list of blocks per stage), ``norms`` and ``outputs``
    (identity taps on the stage maps: Grad-CAM's hook points) are the same in every subclass,
    so their state-dict keys and CAM paths read alike.
    """

    def __init__(self, dims: Sequence[int], depths: Sequence[int], drop_path_rate: float,
                 embed: Callable[[int], nn.Module], block: Callable[[int, float], nn.Module]) -> None:
        super().__init__()
        if not (len(dims) == len(depths) == 4):
            raise ValueError(f"dims and depths must each have 4 entries; got {list(dims)} and {list(depths)}.")
        self.channels = list(dims)
        rates = drop_path_rates(depths, drop_path_rate)
        self.embeds = nn.ModuleList([embed(i) for i in range(4)])
        self.stages = nn.ModuleList([nn.ModuleList([block(i, r) for r in rates[i]]) for i in range(4)])
        self.norms = nn.ModuleList([nn.LayerNorm(d, eps=1e-6) for d in dims])
        self.outputs = nn.ModuleList([nn.Identity() for _ in range(4)])
        self.apply(init_weights)

    def stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Stage `i` on the map `x`: embed, blocks, norm; returns a (B, C, H, W) map."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, tap in enumerate(self.outputs):
            x = tap(self.stage(i, x))
            outs.append(x)
        return outs
