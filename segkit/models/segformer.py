"""SegFormer: Mix Transformer (MiT) encoder and an all-MLP decoder.

Xie et al., "SegFormer: Simple and Efficient Design for Semantic Segmentation with
Transformers", NeurIPS 2021, https://arxiv.org/abs/2105.15203

MiT has four stages and no positional encoding:
- overlapping patch embedding: conv k7/s4/p3 in stage 1, k3/s2/p1 afterwards, then LN;
- efficient self-attention: keys and values pass through a conv with kernel = stride =
  sr (8, 4, 2, 1) and LN, so the sequence shrinks by sr**2 = (64, 16, 4, 1);
- Mix-FFN: Linear -> 3x3 depthwise conv -> GELU -> Linear.
The all-MLP decoder maps each stage to a common width with a linear layer, upsamples
to 1/4, concatenates, fuses with a 1x1 conv + BN + ReLU, and classifies.

The encoder is reused by Trans4PASS (``segkit.models.trans4pass``), which swaps the
stage-1 patch embedding for a deformable one.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.models._registry import register_model
from segkit.models._base import SegmentationModel
from segkit.models.hierarchical import DropPath, HierarchicalEncoder

__all__ = ["MixTransformer", "SegFormer", "SegFormerHead", "OverlapPatchEmbed", "MIT_CONFIGS"]

# dims, heads, depths per MiT size (paper Table 6); sr ratios (8, 4, 2, 1) and mlp ratio 4 for all
MIT_CONFIGS: dict[str, dict[str, tuple[int, ...]]] = {
    "b0": {"dims": (32, 64, 160, 256), "heads": (1, 2, 5, 8), "depths": (2, 2, 2, 2)},
    "b1": {"dims": (64, 128, 320, 512), "heads": (1, 2, 5, 8), "depths": (2, 2, 2, 2)},
    "b2": {"dims": (64, 128, 320, 512), "heads": (1, 2, 5, 8), "depths": (3, 4, 6, 3)},
    "b3": {"dims": (64, 128, 320, 512), "heads": (1, 2, 5, 8), "depths": (3, 4, 18, 3)},
    "b4": {"dims": (64, 128, 320, 512), "heads": (1, 2, 5, 8), "depths": (3, 8, 27, 3)},
    "b5": {"dims": (64, 128, 320, 512), "heads": (1, 2, 5, 8), "depths": (3, 6, 40, 3)},
}


# blocks

class OverlapPatchEmbed(nn.Module):
    """Conv (kernel k, stride s, padding k//2) then LN; returns tokens (B, N, C) and (H, W)."""

    def __init__(self, in_channels: int, embed_dim: int, kernel_size: int = 7, stride: int = 4, eps: float = 1e-6) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size, stride, kernel_size // 2)
        self.norm = nn.LayerNorm(embed_dim, eps=eps)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        h, w = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), h, w  # (B,C,H,W) -> (B,HW,C)


class EfficientSelfAttention(nn.Module):
    """Multi-head attention whose keys/values come from an sr x sr strided conv of the map."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1, qkv_bias: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads}).")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, sr_ratio)
            self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        hd = c // self.num_heads
        q = self.q(x).reshape(b, n, self.num_heads, hd).transpose(1, 2)  # (B,heads,N,hd)
        if self.sr_ratio > 1:
            kv_in = x.transpose(1, 2).reshape(b, c, h, w)
            kv_in = self.norm(self.sr(kv_in).flatten(2).transpose(1, 2))  # (B, N/sr^2, C)
        else:
            kv_in = x
        kv = self.kv(kv_in).reshape(b, -1, 2, self.num_heads, hd).permute(2, 0, 3, 1, 4)  # (2,B,heads,M,hd)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class MixFFN(nn.Module):
    """Linear -> 3x3 depthwise conv -> GELU -> Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.fc1(x)
        b, n, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)
        return self.fc2(self.act(x))


class MiTBlock(nn.Module):
    """LN -> efficient attention -> residual; LN -> Mix-FFN -> residual."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, sr_ratio: int, drop_path: float = 0.0,
                 eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = EfficientSelfAttention(dim, num_heads, sr_ratio, eps=eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MixFFN(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), h, w))
        return x + self.drop_path(self.mlp(self.norm2(x), h, w))


class MixTransformer(HierarchicalEncoder):
    """MiT encoder: 4 stages at strides 4, 8, 16, 32 returning (B, C_i, H_i, W_i) maps.

    Args:
        dims, heads, depths: per-stage widths, attention heads and block counts.
        sr_ratios: key/value reduction per stage.
        mlp_ratio: Mix-FFN expansion.
        drop_path_rate: stochastic depth, linearly increasing over all blocks.
        patch_embed1: optional replacement for the stage-1 embedding (any module with
            the :class:`OverlapPatchEmbed` call signature), e.g. Trans4PASS's deformable one.
    """

    def __init__(
        self,
        dims: Sequence[int] = (32, 64, 160, 256),
        heads: Sequence[int] = (1, 2, 5, 8),
        depths: Sequence[int] = (2, 2, 2, 2),
        sr_ratios: Sequence[int] = (8, 4, 2, 1),
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.1,
        in_channels: int = 3,
        patch_embed1: nn.Module | None = None,
    ) -> None:
        if not (len(heads) == len(sr_ratios) == 4):
            raise ValueError("dims, heads, depths and sr_ratios must each have 4 entries.")

        def embed(i: int) -> nn.Module:
            if i == 0:
                return patch_embed1 if patch_embed1 is not None else OverlapPatchEmbed(in_channels, dims[0], 7, 4)
            return OverlapPatchEmbed(dims[i - 1], dims[i], 3, 2)

        super().__init__(dims, depths, drop_path_rate, embed,
                         lambda i, rate: MiTBlock(dims[i], heads[i], mlp_ratio, sr_ratios[i], rate))
        if patch_embed1 is not None and hasattr(patch_embed1, "reset_offsets"):
            patch_embed1.reset_offsets()  # keep the zero-init of deformable offsets after the init
        self._register_load_state_dict_pre_hook(_renamed_embeds)

    def stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        x, h, w = self.embeds[i](x)
        for blk in self.stages[i]:
            x = blk(x, h, w)
        return self.norms[i](x).transpose(1, 2).reshape(x.shape[0], -1, h, w)  # (B,HW,C) -> (B,C,H,W)


def _renamed_embeds(state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Checkpoints saved before the shared encoder (segkit 0.3) named the embeddings ``patch_embeds``."""
    for key in [k for k in state_dict if k.startswith(prefix + "patch_embeds.")]:
        state_dict[prefix + "embeds." + key[len(prefix + "patch_embeds."):]] = state_dict.pop(key)


class SegFormerHead(nn.Module):
    """All-MLP decoder: per-stage Linear to `embed_dim`, upsample to 1/4, concat, 1x1 fuse, classify."""

    def __init__(self, in_channels: Sequence[int], num_classes: int, embed_dim: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.linears = nn.ModuleList([nn.Linear(c, embed_dim) for c in in_channels])
        self.fuse = nn.Sequential(
            nn.Conv2d(embed_dim * len(in_channels), embed_dim, 1, bias=False), nn.BatchNorm2d(embed_dim), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(embed_dim, num_classes, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[-2:]
        outs = []
        for f, lin in zip(feats, self.linears):
            b, _, h, w = f.shape
            y = lin(f.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(b, -1, h, w)
            outs.append(F.interpolate(y, size=size, mode="bilinear", align_corners=False) if y.shape[-2:] != size else y)
        return self.classifier(self.dropout(self.fuse(torch.cat(outs[::-1], 1))))


class SegFormer(SegmentationModel):
    """SegFormer = MiT encoder + all-MLP decoder.

    Args:
        num_classes: output channels (150 for ADE20K).
        variant: MiT size "b0" ... "b5".
        decoder_dim: decoder width (paper: 256 for B0/B1, 768 otherwise; None picks it).
        drop_path_rate: encoder stochastic depth.
        encoder: optional replacement encoder returning 4 maps (strides 4..32), with
            ``encoder_channels`` (e.g. a timm ``features_only`` model).

    Shape:
        (B, 3, H, W) -> (B, num_classes, H, W); inputs are padded to multiples of 32.

    Parameters: SegFormer-B0 at 150 classes has 3.75M; the paper reports 3.8M (Table 1,
    ADE20K, MiT-B0: 3.4M encoder + 0.4M decoder).
    """

    def __init__(
        self,
        num_classes: int = 150,
        variant: str = "b0",
        decoder_dim: int | None = None,
        drop_path_rate: float = 0.1,
        encoder: nn.Module | None = None,
        encoder_channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(num_classes, 32)
        if variant not in MIT_CONFIGS:
            raise ValueError(f"variant must be one of {sorted(MIT_CONFIGS)}; got {variant!r}.")
        if encoder is None:
            cfg = MIT_CONFIGS[variant]
            encoder = MixTransformer(cfg["dims"], cfg["heads"], cfg["depths"], drop_path_rate=drop_path_rate)
            encoder_channels = encoder.channels
        elif encoder_channels is None:
            raise ValueError("encoder_channels is required with a custom encoder.")
        if decoder_dim is None:
            decoder_dim = 256 if variant in ("b0", "b1") else 768
        self.backbone = encoder
        self.decode_head = SegFormerHead(list(encoder_channels), num_classes, decoder_dim)
        self.cam_layers = {"backbone": "backbone.outputs.3" if isinstance(encoder, MixTransformer) else "backbone",
                           "decoder": "decode_head.fuse"}

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        out = self.decode_head(self.backbone(x))
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _segformer(variant: str, num_classes: int, **kw) -> SegFormer:
    return SegFormer(num_classes, variant, **kw)


_PAPER = "SegFormer (Xie et al., NeurIPS 2021)"


@register_model("segformer-b0", family="segformer", paper=_PAPER, year=2021, input_multiple=32,
                reference_params=3_800_000)
def segformer_b0(num_classes: int = 150, decoder_dim: int | None = None, drop_path_rate: float = 0.1) -> SegFormer:
    """SegFormer-B0 (reference 3.8M at 150 classes: paper Table 1)."""
    return _segformer("b0", num_classes, decoder_dim=decoder_dim, drop_path_rate=drop_path_rate)


@register_model("segformer-b1", family="segformer", paper=_PAPER, year=2021, input_multiple=32,
                reference_params=13_700_000)
def segformer_b1(num_classes: int = 150, decoder_dim: int | None = None, drop_path_rate: float = 0.1) -> SegFormer:
    """SegFormer-B1 (reference 13.7M at 150 classes: paper Table 1)."""
    return _segformer("b1", num_classes, decoder_dim=decoder_dim, drop_path_rate=drop_path_rate)


@register_model("segformer-b2", family="segformer", paper=_PAPER, year=2021, input_multiple=32,
                reference_params=27_500_000)
def segformer_b2(num_classes: int = 150, decoder_dim: int | None = None, drop_path_rate: float = 0.1) -> SegFormer:
    """SegFormer-B2 (reference 27.5M at 150 classes: paper Table 1)."""
    return _segformer("b2", num_classes, decoder_dim=decoder_dim, drop_path_rate=drop_path_rate)
