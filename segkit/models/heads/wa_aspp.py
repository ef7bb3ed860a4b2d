"""WA_ASPP: window-attention ASPP and its gated (WAFA) variant (see ``docs/models.md``).

Branch 1 is a 1x1 conv + BN + ReLU; branches 2-4 are ``Conv1x1(WindowTransformerBlock_k(x))``
with windows 4, 8 and 16 (no BN or activation after the projection), aggregated cumulatively
(o2 = b1 + p2, o3 = b1 + o2 + p3, o4 = b1 + o2 + o3 + p4); branch 5 is image pooling
(align_corners=False). The five maps are concatenated and fused by a 1x1 conv + BN + ReLU.
``gate=True`` multiplies the concatenation by ``MaxMergeGate(cat)`` before the fuse conv
(the reference's ``hebing``; its checkpoint keys still load). ``branch_style="text"`` builds
the article-described branch (window attention -> BN -> GELU -> 1x1 conv -> BN -> GELU),
whose parameter count the paper does not give. Any feature size works: each window block
pads to its window and crops back.
"""
from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.models.heads.aspp import pooled_norm
from segkit.modules.attn_gate import MaxMergeGate, legacy_key_hook
from segkit.modules.window_attention import WindowTransformerBlock

__all__ = ["WA_ASPP"]


class WA_ASPP(nn.Module):
    """Window-attention ASPP.

    Args:
        dim_in: input channels (320).
        dim_out: branch / output width.
        window_size: windows of branches 2, 3, 4 (any feature size: each block pads to its window).
        heads: attention heads of every window block.
        mlp_ratio: FFN expansion of every window block.
        attn_dropout: attention dropout (DeepLab passes 0.1).
        ffn_dropout: FFN dropout (DeepLab passes 0.1).
        gate: add the max-merge channel/spatial gate on the concatenation (the WAFA model).
        branch_style: "code" (the reference code) or "text" (the article's description).
        bn_mom: BatchNorm momentum.

    Shape:
        (B, dim_in, h, w) -> (B, dim_out, h, w)
    """

    def __init__(self, dim_in: int, dim_out: int = 256, window_size: Sequence[int] = (4, 8, 16), heads: int = 4,
                 mlp_ratio: float = 4, attn_dropout: float = 0.1, ffn_dropout: float = 0.1, gate: bool = False,
                 branch_style: Literal["code", "text"] = "code", bn_mom: float = 0.1) -> None:
        super().__init__()
        if len(window_size) != 3:
            raise ValueError(f"window_size needs 3 entries (branches 2-4), got {window_size!r}")
        if branch_style not in ("code", "text"):
            raise ValueError(f"branch_style must be 'code' or 'text', got {branch_style!r}")
        self.b1 = nn.Sequential(nn.Conv2d(dim_in, dim_out, 1, bias=True), nn.BatchNorm2d(dim_out, momentum=bn_mom),
                                nn.ReLU(inplace=False))
        self.wtb = nn.ModuleList(
            WindowTransformerBlock(dim_in, ws, heads, mlp_ratio, attn_dropout, ffn_dropout) for ws in window_size
        )
        if branch_style == "code":
            self.proj = nn.ModuleList(nn.Conv2d(dim_in, dim_out, 1, bias=False) for _ in window_size)
        else:
            self.proj = nn.ModuleList(
                nn.Sequential(nn.BatchNorm2d(dim_in), nn.GELU(), nn.Conv2d(dim_in, dim_out, 1, bias=False),
                              nn.BatchNorm2d(dim_out), nn.GELU()) for _ in window_size
            )
        self.b5_conv = nn.Conv2d(dim_in, dim_out, 1, bias=True)
        self.b5_bn = nn.BatchNorm2d(dim_out, momentum=bn_mom)
        self.b5_relu = nn.ReLU(inplace=False)
        self.gate = MaxMergeGate(5 * dim_out) if gate else None
        self._register_load_state_dict_pre_hook(legacy_key_hook)  # the reference's "hebing." keys
        self.fuse = nn.Sequential(nn.Conv2d(5 * dim_out, dim_out, 1, bias=True),
                                  nn.BatchNorm2d(dim_out, momentum=bn_mom), nn.ReLU(inplace=False))
        self.window_size = tuple(window_size)
        self.out_channels = dim_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        b1 = self.b1(x)
        p2, p3, p4 = (proj(wtb(x)) for wtb, proj in zip(self.wtb, self.proj))
        o2 = b1 + p2
        o3 = b1 + o2 + p3
        o4 = b1 + o2 + o3 + p4
        g = self.b5_relu(pooled_norm(self.b5_bn, self.b5_conv(x.mean((2, 3), keepdim=True)), "WA_ASPP"))
        g = F.interpolate(g, (h, w), mode="bilinear", align_corners=False)
        cat = torch.cat([b1, o2, o3, o4, g], dim=1)  # (B, 5*dim_out, h, w)
        if self.gate is not None:
            cat = self.gate(cat) * cat  # the gated map is multiplied by cat a second time (as in the reference code)
        return self.fuse(cat)
