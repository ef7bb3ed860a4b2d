"""Trans4PASS: distortion-aware transformer for panoramic semantic segmentation.

Zhang et al., "Bending Reality: Distortion-aware Transformers for Adapting to
Panoramic Semantic Segmentation", CVPR 2022, https://arxiv.org/abs/2203.01452
(official code: jamycheung/Trans4PASS).

- Encoder: MiT-style (``segkit.models.segformer.MixTransformer``) with dims
  (64, 128, 320, 512), heads (1, 2, 5, 8), mlp ratio 4, qkv bias, LN eps 1e-6, sr
  (8, 4, 2, 1), drop path 0.1; Tiny depths (2, 2, 2, 2), Small (3, 4, 6, 3).
- Deformable patch embedding (DPE), stage 1 only: the 7x7/s4 projection weights are
  applied through a modulated deformable conv (torchvision ``deform_conv2d``); offsets
  come from a zero-initialised conv with 2k^2 outputs clamped to +-min(H, W)/4, the
  mask is 2*sigmoid of a zero-initialised conv with k^2 outputs, so training starts from
  a plain conv with mask 1.
- Deformable MLP decoder (DMLP): per stage a ``DeformableMLPBlock(in, 128)``: a
  deformable 3x3 projection + BN + GELU; two deformable MLPs (1x1 deformable convs with
  per-channel offsets and masks from a depthwise-separable conv with 3C outputs,
  offsets clamped to +-max(H, W)/4, then BN + GELU); x = x + h + w; x = x + Linear(x);
  x = Linear(x). Stages 2-4 are upsampled (bilinear, align_corners=True) to stage 1 and
  summed; a 1x1 conv predicts the classes.
- :meth:`Trans4PASS.forward_features` also returns the per-stage decoder features for the
  mutual prototypical adaptation losses (``segkit.adapt.mpa``).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.models._registry import register_model
from segkit.models.segformer import MixTransformer
from segkit.models._base import SegmentationModel

__all__ = ["DeformablePatchEmbed", "DeformableMLP", "DeformableMLPBlock", "DMLPDecoder", "Trans4PASS"]


def _deform_conv(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 mask: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """torchvision's modulated deform_conv2d in fp32: its CPU kernel has no bf16, which autocast on a
    CPU with native bf16 (precision "auto") would hand it."""
    from torchvision.ops import deform_conv2d  # deferred: importing torchvision costs seconds in every process

    with torch.autocast(x.device.type, enabled=False):
        return deform_conv2d(x.float(), offset.float(), weight.float(), None if bias is None else bias.float(),
                             mask=mask.float(), **kwargs)


class DeformablePatchEmbed(nn.Module):
    """Modulated deformable conv patch embedding + LN; returns tokens (B, N, C) and (H, W).

    Args:
        in_channels: input channels.
        embed_dim: output channels.
        kernel_size, stride: patch conv geometry (padding kernel_size // 2).
    """

    def __init__(self, in_channels: int = 3, embed_dim: int = 64, kernel_size: int = 7, stride: int = 4) -> None:
        super().__init__()
        k, p = kernel_size, kernel_size // 2
        self.stride, self.padding = stride, p
        self.proj = nn.Conv2d(in_channels, embed_dim, k, stride, p)
        self.offset_conv = nn.Conv2d(in_channels, 2 * k * k, k, stride, p)
        self.modulator_conv = nn.Conv2d(in_channels, k * k, k, stride, p)
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.reset_offsets()

    def reset_offsets(self) -> None:
        """Zero the offset and modulator convs (start as a plain conv with mask 1)."""
        for m in (self.offset_conv, self.modulator_conv):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        max_offset = min(x.shape[-2], x.shape[-1]) / 4
        offset = self.offset_conv(x).clamp(-max_offset, max_offset)
        mask = 2.0 * torch.sigmoid(self.modulator_conv(x))
        x = _deform_conv(x, offset, self.proj.weight, self.proj.bias, mask, stride=self.stride, padding=self.padding)
        h, w = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), h, w  # (B,C,H,W) -> (B,HW,C)


class _DeformableProj(nn.Module):
    """Deformable 3x3 projection in -> out (offsets/mask zero-initialised) + BN + GELU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.offset_conv = nn.Conv2d(in_channels, 2 * 9, 3, 1, 1)
        self.modulator_conv = nn.Conv2d(in_channels, 9, 3, 1, 1)
        for m in (self.offset_conv, self.modulator_conv):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        max_offset = min(x.shape[-2], x.shape[-1]) / 4
        offset = self.offset_conv(x).clamp(-max_offset, max_offset)
        mask = 2.0 * torch.sigmoid(self.modulator_conv(x))
        x = _deform_conv(x, offset, self.proj.weight, self.proj.bias, mask, padding=1)
        return self.act(self.norm(x))


class DeformableMLP(nn.Module):
    """1x1 deformable conv with per-channel offsets and mask, then BN + GELU.

    A depthwise-separable conv predicts 3C channels: y-offsets, x-offsets and the mask
    (2*sigmoid) of every channel; offsets are clamped to +-max(H, W)/4.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, channels, 1, 1))
        self.bias = nn.Parameter(torch.empty(channels))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        nn.init.uniform_(self.bias, -channels**-0.5, channels**-0.5)
        self.offset_modulator = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.Conv2d(channels, 3 * channels, 1, bias=False),
        )
        self.norm = nn.BatchNorm2d(channels)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        off_y, off_x, mod = torch.chunk(self.offset_modulator(x), 3, dim=1)
        max_offset = max(x.shape[-2], x.shape[-1]) / 4
        # torchvision reads offsets as (dy, dx) pairs per offset group: C groups, one 1x1 tap each.
        # (The official code concatenates all dy then all dx, which pairs them differently.)
        b, c, h, w = x.shape
        offset = torch.stack([off_y, off_x], 2).reshape(b, 2 * c, h, w)  # (B,C,2,H,W) -> (B,2C,H,W)
        offset = offset.clamp(-max_offset, max_offset)
        x = _deform_conv(x, offset, self.weight, self.bias, 2.0 * torch.sigmoid(mod))
        return self.act(self.norm(x))


class DeformableMLPBlock(nn.Module):
    """Deformable projection to `embed_dim`, then h/w deformable MLPs and two linear layers.

    The h and w MLPs have nominal kernels 1x3 and 3x1 in the official code, but both apply
    1x1 weights; they differ only through their learned offsets, as here.
    """

    def __init__(self, in_channels: int, embed_dim: int = 128) -> None:
        super().__init__()
        self.sdp = _DeformableProj(in_channels, embed_dim)
        self.h_mlp = DeformableMLP(embed_dim)
        self.w_mlp = DeformableMLP(embed_dim)
        self.c_mlp = nn.Linear(embed_dim, embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sdp(x)
        x = x + self.h_mlp(x) + self.w_mlp(x)
        t = x.permute(0, 2, 3, 1)  # (B,C,H,W) -> (B,H,W,C)
        t = self.proj(t + self.c_mlp(t))
        return t.permute(0, 3, 1, 2).contiguous()


class DMLPDecoder(nn.Module):
    """One DeformableMLPBlock per stage; upsample to stage 1, sum, 1x1 classifier.

    ``forward`` returns (logits at 1/4, per-stage features at 1/4).
    """

    def __init__(self, in_channels: Sequence[int], num_classes: int, embed_dim: int = 128) -> None:
        super().__init__()
        self.heads = nn.ModuleList([DeformableMLPBlock(c, embed_dim) for c in in_channels])
        self.pred = nn.Conv2d(embed_dim, num_classes, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        size = feats[0].shape[-2:]
        outs = []
        for f, head in zip(feats, self.heads):
            y = head(f)
            if y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=True)
            outs.append(y)
        return self.pred(sum(outs)), outs


class Trans4PASS(SegmentationModel):
    """Trans4PASS: MiT encoder with a deformable patch embedding and the DMLP decoder.

    Args:
        num_classes: output channels (19, Cityscapes / DensePASS).
        depths: encoder depths; (2, 2, 2, 2) Tiny, (3, 4, 6, 3) Small.
        emb_chans: decoder width (128).
        drop_path_rate: encoder stochastic depth (0.1).
        deformable_embed: use the DPE in stage 1 (False gives a plain MiT embedding).
        embed_dims, num_heads: encoder widths and heads (paper: 64/128/320/512, 1/2/5/8;
            smaller values give quick test models).

    Shape:
        (B, 3, H, W) -> (B, num_classes, H, W); inputs are padded to multiples of 32.

    Parameters (19 classes): Tiny 15.27M, Small 26.32M. Reference: the layout of the
    official code (jamycheung/Trans4PASS ``segmentron/models/backbones/trans4pass.py`` with
    ``USE_DCN`` on stage 1 only, and the DMLP of ``segmentron/modules/dmlp.py``) counted
    layer by layer in tests/models/test_zoo_models.py: MiT-B1/B2 encoder + DPE offsets (13.17M /
    24.22M) + DMLP decoder (2.10M). The paper's own #Params figure could not be retrieved
    from the sources available here, so it is not used as the reference.
    """

    def __init__(
        self,
        num_classes: int = 19,
        depths: Sequence[int] = (2, 2, 2, 2),
        emb_chans: int = 128,
        drop_path_rate: float = 0.1,
        deformable_embed: bool = True,
        embed_dims: Sequence[int] = (64, 128, 320, 512),
        num_heads: Sequence[int] = (1, 2, 5, 8),
    ) -> None:
        super().__init__(num_classes, 32)
        dims = tuple(embed_dims)
        embed1 = DeformablePatchEmbed(3, dims[0], 7, 4) if deformable_embed else None
        self.backbone = MixTransformer(dims, tuple(num_heads), tuple(depths), (8, 4, 2, 1), 4.0, drop_path_rate,
                                       patch_embed1=embed1)
        self.decoder = DMLPDecoder(dims, num_classes, emb_chans)
        self.cam_layers = {"backbone": "backbone.outputs.3", "decoder": "decoder.heads.0"}

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logits at the input size, per-stage decoder features at 1/4) for MPA training."""
        return self.run_padded(self._forward_features, x)

    def _forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        logits, feats = self.decoder(self.backbone(x))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=True), feats

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward_features(x)[0]


_PAPER = "Trans4PASS (Zhang et al., CVPR 2022)"


@register_model("trans4pass-t", family="trans4pass", paper=_PAPER, year=2022, input_multiple=32,
                reference_params=15_270_000)
def trans4pass_t(num_classes: int = 19, emb_chans: int = 128, drop_path_rate: float = 0.1) -> Trans4PASS:
    """Trans4PASS-Tiny, depths 2-2-2-2 (reference 15.27M: official code layout, counted)."""
    return Trans4PASS(num_classes, (2, 2, 2, 2), emb_chans, drop_path_rate)


@register_model("trans4pass-s", family="trans4pass", paper=_PAPER, year=2022, input_multiple=32,
                reference_params=26_320_000)
def trans4pass_s(num_classes: int = 19, emb_chans: int = 128, drop_path_rate: float = 0.1) -> Trans4PASS:
    """Trans4PASS-Small, depths 3-4-6-3 (reference 26.32M: official code layout, counted)."""
    return Trans4PASS(num_classes, (3, 4, 6, 3), emb_chans, drop_path_rate)
