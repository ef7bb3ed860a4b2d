"""MobileViT-attention ASPP family (see ``docs/models.md``): WA_ASPP_MViT, LiteMobileViTASPP,
WA_ASPPv2 and AG_ASPP_MViT (= MSA_ASPP, the paper's Multi-Scale-Attention ASPP).

All share: b1 = 1x1 conv (bias) + BN + ReLU; branches 2-4 = ``Conv1x1(no bias)(MViT_k(x))``
with the same patch size; b5 = GAP -> 1x1 conv (bias) -> norm -> ReLU -> bilinear upsampling
(align_corners=False); norm = GroupNorm(1, dim_out) by default (BN crashes at batch 1).

* ``WA_ASPP_MViT``: cumulative sums as in WA_ASPP, concat, 1x1 fuse.
* ``LiteMobileViTASPP``: the raw five outputs concatenated and fused (same params).
* ``WA_ASPPv2``: sum of the five outputs weighted by softmax(alpha) (alpha: 5 ones), then a
  1x1 conv + BN + ReLU. Deviation: the demo left branches 3-4 as copies of b1; here all three
  MViT branches are real, as the paper describes.
* ``AG_ASPP_MViT`` / ``MSA_ASPP``: AttnGate after branches 2-4 (``gate_mode="middle"``, final)
  or after all five (``"all"``, first attempt), concat, 1x1 fuse.
"""
from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.models.heads.aspp import pooled_norm
from segkit.modules.attn_gate import AttnGate
from segkit.modules.mobilevit import MobileViTAttentionBlock

__all__ = ["WA_ASPP_MViT", "LiteMobileViTASPP", "WA_ASPPv2", "AG_ASPP_MViT", "MSA_ASPP"]


class _MViTASPPBase(nn.Module):
    """Shared branches. Subclasses implement `merge(b1, p2, p3, p4, b5)`."""

    def __init__(self, dim_in: int = 320, dim_out: int = 256, patch_size: tuple[int, int] | int = (2, 2),
                 mvit_depth: int = 1, mvit_dim: int = 96, mvit_mlp_dim: int = 192, mvit_heads: int = 2,
                 mvit_dropout: float = 0.0, use_groupnorm: bool = True,
                 attn_axis: Literal["intra_patch", "inter_patch"] = "intra_patch", bn_mom: float = 0.1,
                 **legacy: Any) -> None:
        super().__init__()
        if "mvit_patch_size" in legacy:  # the first keyword's old name
            patch_size = legacy.pop("mvit_patch_size")
        if legacy:
            raise TypeError(f"{type(self).__name__} got unexpected argument(s) {sorted(legacy)}")
        if dim_in < 1 or dim_out < 1:
            raise ValueError(f"{type(self).__name__}: dim_in and dim_out must be >= 1, got {dim_in}, {dim_out}")
        self.b1 = nn.Sequential(nn.Conv2d(dim_in, dim_out, 1, bias=True), nn.BatchNorm2d(dim_out, momentum=bn_mom),
                                nn.ReLU(inplace=False))
        self.mvit = nn.ModuleList(
            MobileViTAttentionBlock(dim_in, patch_size, mvit_depth, mvit_dim, mvit_mlp_dim, mvit_heads, mvit_dropout,
                                    attn_axis) for _ in range(3)
        )
        self.proj = nn.ModuleList(nn.Conv2d(dim_in, dim_out, 1, bias=False) for _ in range(3))
        self.b5_conv = nn.Conv2d(dim_in, dim_out, 1, bias=True)
        self.b5_norm = nn.GroupNorm(1, dim_out) if use_groupnorm else nn.BatchNorm2d(dim_out, momentum=bn_mom)
        self.b5_relu = nn.ReLU(inplace=False)
        self.use_groupnorm = use_groupnorm
        self.out_channels = dim_out
        self.feature_multiple = self.mvit[0].patch_multiple  # the map must tile into patches

    def attention_modules(self) -> list[nn.Module]:
        """The attention this head adds to a plain ASPP (``zero_gate`` gates each): the MobileViT
        blocks of branches 2-4 (a gated branch at gate 0 is its 1x1 projection of the input)."""
        return list(self.mvit)

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        out = [self.b1(x)] + [proj(m(x)) for m, proj in zip(self.mvit, self.proj)]
        g = pooled_norm(self.b5_norm, self.b5_conv(x.mean((2, 3), keepdim=True)), type(self).__name__)
        out.append(F.interpolate(self.b5_relu(g), (h, w), mode="bilinear", align_corners=False))
        return out


class WA_ASPP_MViT(_MViTASPPBase):
    """WA_ASPP with MobileViT attention blocks in branches 2-4 and cumulative sums.

    Args:
        dim_in: input channels.
        dim_out: branch / output width.
        patch_size: MViT patch (also accepted as ``mvit_patch_size``).
        mvit_depth: transformer layers per block.
        mvit_dim: transformer width d.
        mvit_mlp_dim: FFN width.
        mvit_heads: heads.
        mvit_dropout: transformer dropout.
        use_groupnorm: GroupNorm(1, dim_out) in the pooling branch (else BN, no batch-1 training).
        attn_axis: "intra_patch" (reference) or "inter_patch" (original MobileViT).

    Shape:
        (B, dim_in, h, w) -> (B, dim_out, h, w), h and w multiples of the patch size
    """

    cumulative = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fuse = nn.Sequential(nn.Conv2d(5 * self.out_channels, self.out_channels, 1, bias=True),
                                  nn.BatchNorm2d(self.out_channels), nn.ReLU(inplace=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, p2, p3, p4, g = self.branches(x)
        if self.cumulative:
            o2 = b1 + p2
            o3 = b1 + o2 + p3
            p2, p3, p4 = o2, o3, b1 + o2 + o3 + p4
        return self.fuse(torch.cat([b1, p2, p3, p4, g], dim=1))


class LiteMobileViTASPP(WA_ASPP_MViT):
    """WA_ASPP_MViT without the cumulative sums (the five raw outputs are fused); same parameters."""

    cumulative = False


class WA_ASPPv2(_MViTASPPBase):
    """Softmax-weighted sum of the five branches, then 1x1 conv + BN + ReLU (arguments as WA_ASPP_MViT)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.alpha = nn.Parameter(torch.ones(5))
        self.fuse = nn.Sequential(nn.Conv2d(self.out_channels, self.out_channels, 1, bias=True),
                                  nn.BatchNorm2d(self.out_channels), nn.ReLU(inplace=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wts = self.alpha.softmax(0)
        y = sum(wts[i] * b for i, b in enumerate(self.branches(x)))
        return self.fuse(y)


class AG_ASPP_MViT(_MViTASPPBase):
    """MSA_ASPP: MobileViT-attention branches with AttnGates.

    Args:
        gate_mode: "middle" (gates on branches 2-4, the final model) or "all" (all five).
        gate_reduction: AttnGate reduction (hidden = max(1, dim_out // r)).
        **kwargs: as :class:`WA_ASPP_MViT` (``use_groupnorm`` defaults to True).

    Shape:
        (B, dim_in, h, w) -> (B, dim_out, h, w)
    """

    def __init__(self, dim_in: int = 320, dim_out: int = 256, *args: Any,
                 gate_mode: Literal["middle", "all"] = "middle", gate_reduction: int = 16, **kwargs: Any) -> None:
        super().__init__(dim_in, dim_out, *args, **kwargs)
        if gate_mode not in ("middle", "all"):
            raise ValueError(f"gate_mode must be 'middle' or 'all', got {gate_mode!r}")
        self.gate_mode = gate_mode
        n = 5 if gate_mode == "all" else 3
        self.gates = nn.ModuleList(AttnGate(dim_out, gate_reduction) for _ in range(n))
        self.fuse = nn.Sequential(nn.Conv2d(5 * dim_out, dim_out, 1, bias=True), nn.BatchNorm2d(dim_out),
                                  nn.ReLU(inplace=False))

    def attention_modules(self) -> list[nn.Module]:
        """The MobileViT blocks and the AttnGates (a gated AttnGate at gate 0 passes its branch on)."""
        return super().attention_modules() + list(self.gates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.branches(x)
        if self.gate_mode == "all":
            b = [gate(t) for gate, t in zip(self.gates, b)]
        else:
            b = [b[0]] + [gate(t) for gate, t in zip(self.gates, b[1:4])] + [b[4]]
        return self.fuse(torch.cat(b, dim=1))


MSA_ASPP = AG_ASPP_MViT  # the paper's name
