"""MobileViT-style attention block of the MSA_ASPP family (see ``docs/models.md``).

MobileViT ("MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision
Transformer", Mehta & Rastegari, ICLR 2022, https://arxiv.org/abs/2110.02178): local 3x3 conv,
1x1 projection to width d, unfold into 2x2 patches, transformer, fold, 1x1 back to C,
concatenation with the input and a 3x3 fusion conv.

The reference (and the paper's "window attention / W-MSA") attends *within* each 2x2 patch:
tokens are grouped as (B, (H/ph)(W/pw), ph*pw, d) and attention runs over the ph*pw axis.
The original MobileViT attends *across* patches, (B, ph*pw, (H/ph)(W/pw), d).
``attn_axis="intra_patch"`` (default) / ``"inter_patch"`` chooses; parameters are identical.
Deviation: the even-size check is a RuntimeError naming the size to use, not an assert
(a segkit model pads its input to ``input_multiple``, which covers the patch size).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn as nn

from segkit.modules._registry import register_module

__all__ = ["MultiHeadAttention", "FeedForward", "TransformerBlockLayer", "TransformerBlockGroup",
           "MobileViTAttentionBlock"]


def _conv_bn_silu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, 1, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class MultiHeadAttention(nn.Module):
    """MHSA on (B, P, N, D) over the N axis; ``to_qkv`` without bias, ``proj`` with bias + dropout."""

    def __init__(self, dim: int, heads: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if heads < 1 or dim % heads:
            raise ValueError(f"MultiHeadAttention: dim={dim} must be divisible by heads={heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.scale = float(self.head_dim) ** -0.5
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, p, n, d = x.shape
        qkv = self.to_qkv(x).reshape(b, p, n, 3, self.heads, self.head_dim).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, P, h, N, dh)
        a = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, P, h, N, N)
        out = (a @ v).transpose(2, 3).reshape(b, p, n, d)  # (B, P, N, h, dh) -> (B, P, N, D)
        return self.proj(out)


class FeedForward(nn.Sequential):
    """Linear -> SiLU -> Dropout -> Linear -> Dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.SiLU(), nn.Dropout(dropout), nn.Linear(hidden, dim),
                         nn.Dropout(dropout))


class TransformerBlockLayer(nn.Module):
    """Pre-LN MHA + residual, then pre-LN FFN + residual."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, mlp_dim, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class TransformerBlockGroup(nn.Sequential):
    """`depth` stacked :class:`TransformerBlockLayer`."""

    def __init__(self, dim: int, depth: int, heads: int, mlp_dim: int, dropout: float = 0.0) -> None:
        if depth < 1:
            raise ValueError(f"TransformerBlockGroup: depth must be >= 1, got {depth}")
        super().__init__(*[TransformerBlockLayer(dim, heads, mlp_dim, dropout) for _ in range(depth)])


@register_module(
    "mobilevit_attn",
    paper="MobileViT (ICLR 2022), as the within-patch attention block of MSA_ASPP (the paper's reference code)",
    year=2022,
    addresses="Add global/windowed context to a conv feature map",
    where="MSA_ASPP / WA_ASPP_MViT branches 2-4",
    contract="(B,C,H,W) -> (B,C,H,W); H, W multiples of the patch size",
)
class MobileViTAttentionBlock(nn.Module):
    """Conv 3x3 -> 1x1 to d -> patch transformer -> 1x1 to C -> concat with input -> conv 3x3.

    Args:
        channels: C (320 in the paper).
        patch_size: (ph, pw); H and W must be multiples (RuntimeError otherwise).
        depth: transformer layers.
        dim: transformer width d (divisible by `heads`).
        mlp_dim: FFN hidden width.
        heads: attention heads.
        dropout: transformer dropout.
        attn_axis: "intra_patch" (reference, attention among the ph*pw pixels of a patch) or
            "inter_patch" (original MobileViT, attention across patches).

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, patch_size: tuple[int, int] | int = (2, 2), depth: int = 1, dim: int = 96,
                 mlp_dim: int = 192, heads: int = 2, dropout: float = 0.0,
                 attn_axis: Literal["intra_patch", "inter_patch"] = "intra_patch") -> None:
        super().__init__()
        if attn_axis not in ("intra_patch", "inter_patch"):
            raise ValueError(f"attn_axis must be 'intra_patch' or 'inter_patch', got {attn_axis!r}")
        ph, pw = (patch_size, patch_size) if isinstance(patch_size, int) else tuple(patch_size)
        if ph < 1 or pw < 1:
            raise ValueError(f"patch_size must be positive, got {patch_size!r}")
        self.ph, self.pw, self.attn_axis = ph, pw, attn_axis
        self.patch_multiple = math.lcm(ph, pw)  # the side multiple the map needs
        self.local_rep = nn.Sequential(_conv_bn_silu(channels, channels, 3), _conv_bn_silu(channels, dim, 1))
        self.transformer = TransformerBlockGroup(dim, depth, heads, mlp_dim, dropout)
        self.conv_proj = _conv_bn_silu(dim, channels, 1)
        self.fusion = _conv_bn_silu(2 * channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        z = self.local_rep(x)
        b, d, h, w = z.shape
        ph, pw = self.ph, self.pw
        if not torch.jit.is_tracing() and (h % ph or w % pw):
            raise RuntimeError(
                f"MobileViTAttentionBlock: feature size ({h}, {w}) is not divisible by patch ({ph}, {pw}); use an "
                f"input whose side is a multiple of {max(ph, pw) * 16} at OS16 (e.g. 64 or 512)"
            )
        nh, nw = h // ph, w // pw
        z = z.reshape(b, d, nh, ph, nw, pw)
        if self.attn_axis == "intra_patch":
            t = z.permute(0, 2, 4, 3, 5, 1).reshape(b, nh * nw, ph * pw, d)  # (B, P=nh*nw, N=ph*pw, d)
            t = self.transformer(t)
            z = t.reshape(b, nh, nw, ph, pw, d).permute(0, 5, 1, 3, 2, 4)
        else:
            t = z.permute(0, 3, 5, 2, 4, 1).reshape(b, ph * pw, nh * nw, d)  # (B, P=ph*pw, N=nh*nw, d)
            t = self.transformer(t)
            z = t.reshape(b, ph, pw, nh, nw, d).permute(0, 5, 3, 1, 4, 2)
        z = self.conv_proj(z.reshape(b, d, h, w))
        return self.fusion(torch.cat([y, z], dim=1))
