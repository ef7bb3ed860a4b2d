"""The UNet family: UNet, UNet++ and UNet 3+.

- UNet: Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image
  Segmentation", MICCAI 2015, https://arxiv.org/abs/1505.04597
- UNet++: Zhou et al., "UNet++: A Nested U-Net Architecture for Medical Image
  Segmentation", DLMIA 2018, https://arxiv.org/abs/1807.10165
- UNet 3+: Huang et al., "UNet 3+: A Full-Scale Connected UNet for Medical Image
  Segmentation", ICASSP 2020, https://arxiv.org/abs/2004.08790

Deviations from the papers: every 3x3 conv is padded ("same") and followed by BN, so the
output has the input's size (the 2015 UNet used valid convs and cropped skips). UNet++
upsamples with parameter-free bilinear interpolation. UNet 3+ side outputs return
logits (no sigmoid) so they train with any segkit loss (the paper's hybrid focal +
MS-SSIM + IoU loss is not included).

This file also holds `ConvBNAct`, the conv block the other survey files share.
"""
from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.models._base import SegmentationModel
from segkit.models._registry import register_model

__all__ = ["ConvBNAct", "UNet", "UNetPlusPlus", "UNet3Plus"]


# helpers

def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> activation (ReLU by default, None for identity)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        act_layer: type[nn.Module] | None = nn.ReLU,
    ) -> None:
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        pad = (dilation * (k[0] - 1) // 2, dilation * (k[1] - 1) // 2)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, k, stride, pad, dilation=dilation, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if act_layer is not None:
            layers.append(act_layer())
        super().__init__(*layers)


class DoubleConv(nn.Sequential):
    """Two 3x3 conv + BN + ReLU layers (the UNet 'H' block)."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None) -> None:
        mid = mid_channels or out_channels
        super().__init__(ConvBNAct(in_channels, mid, 3), ConvBNAct(mid, out_channels, 3))


def _widths(base_channels: int, depth: int) -> list[int]:
    return [base_channels * 2**i for i in range(depth + 1)]


# UNet

class UNet(SegmentationModel):
    """UNet: a symmetric encoder-decoder with concatenated skips.

    Args:
        num_classes: output channels.
        in_channels: image channels.
        base_channels: width of the first level; level i has base * 2**i channels.
        depth: number of 2x downsamplings (input multiple = 2**depth).
        upsample: "transpose" (2x2 transposed conv, the paper) or "bilinear".

    Shape:
        (B, in_channels, H, W) -> (B, num_classes, H, W); inputs are padded to multiples of 2**depth.

    The default (64, depth 4, transposed convs) has 31.04M parameters at 2 classes.
    """

    def __init__(
        self,
        num_classes: int = 2,
        in_channels: int = 3,
        base_channels: int = 64,
        depth: int = 4,
        upsample: Literal["transpose", "bilinear"] = "transpose",
    ) -> None:
        for n, v in (("num_classes", num_classes), ("base_channels", base_channels), ("depth", depth)):
            _check_positive(n, v)
        if upsample not in ("transpose", "bilinear"):
            raise ValueError(f"upsample must be 'transpose' or 'bilinear'; got {upsample!r}.")
        super().__init__(num_classes, 2**depth, in_channels)
        ch = _widths(base_channels, depth)
        self.encoder = nn.ModuleList([DoubleConv(in_channels, ch[0])] + [DoubleConv(ch[i - 1], ch[i]) for i in range(1, depth + 1)])
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i in range(depth, 0, -1):
            if upsample == "transpose":
                self.ups.append(nn.ConvTranspose2d(ch[i], ch[i - 1], 2, stride=2))
                self.decoder.append(DoubleConv(2 * ch[i - 1], ch[i - 1]))
            else:
                self.ups.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
                self.decoder.append(DoubleConv(ch[i] + ch[i - 1], ch[i - 1]))
        self.head = nn.Conv2d(ch[0], num_classes, 1)
        self.backbone = self.encoder
        self.cam_layers = {"backbone": f"encoder.{depth}", "decoder": f"decoder.{depth - 1}"}

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, enc in enumerate(self.encoder):
            x = enc(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.ups, self.decoder):
            x = dec(torch.cat([skips.pop(), up(x)], 1))
        return self.head(x)


# UNet++

class UNetPlusPlus(SegmentationModel):
    """UNet++: nested dense skip paths X^{i,j} = H([X^{i,0..j-1}, Up(X^{i+1,j-1})]).

    Args:
        num_classes: output channels.
        in_channels: image channels.
        widths: channels of levels 0..4 (paper: 32, 64, 128, 256, 512).
        deep_supervision: attach a 1x1 head to every X^{0,j}; in training mode the model
            returns ``[main, *aux]`` (main = X^{0,4} head, aux = heads of X^{0,1..3}).
        prune_level: at inference compute only the sub-network ending at X^{0,prune_level}
            (1..4) and return its head (needs ``deep_supervision=True`` when < 4), which is
            the pruning the paper proposes.

    Shape:
        (B, 3, H, W) -> (B, num_classes, H, W); inputs are padded to multiples of 16.

    Parameters: 9.16M at 2 classes; the paper's Table 3 (Zhou et al. 2018) lists 9.04M for
    UNet++ (its convs differ in bias/BN bookkeeping); checked within 2% in tests.
    """

    def __init__(
        self,
        num_classes: int = 2,
        in_channels: int = 3,
        widths: Sequence[int] = (32, 64, 128, 256, 512),
        deep_supervision: bool = False,
        prune_level: int = 4,
    ) -> None:
        super().__init__(num_classes, 16, in_channels)
        if len(widths) != 5:
            raise ValueError(f"widths must list 5 level widths; got {tuple(widths)}.")
        if prune_level not in (1, 2, 3, 4):
            raise ValueError(f"prune_level must be 1, 2, 3 or 4; got {prune_level!r}.")
        if prune_level < 4 and not deep_supervision:
            raise ValueError("prune_level < 4 needs deep_supervision=True (only then do the X^{0,j} heads exist).")
        self.deep_supervision = deep_supervision
        self.prune_level = prune_level
        w = list(widths)
        self.pool = nn.MaxPool2d(2)
        # nodes[f"{i}_{j}"] is H for X^{i,j}
        nodes = {}
        for i in range(5):
            nodes[f"{i}_0"] = DoubleConv(in_channels if i == 0 else w[i - 1], w[i])
        for j in range(1, 5):
            for i in range(0, 5 - j):
                nodes[f"{i}_{j}"] = DoubleConv(w[i] * j + w[i + 1], w[i])
        self.nodes = nn.ModuleDict(nodes)
        n_heads = 4 if deep_supervision else 1
        self.heads = nn.ModuleList([nn.Conv2d(w[0], num_classes, 1) for _ in range(n_heads)])
        self.backbone = nn.ModuleList([self.nodes[f"{i}_0"] for i in range(5)])
        self.cam_layers = {"backbone": "nodes.4_0", "decoder": "nodes.0_4"}

    def _up(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        levels = 5 if self.training else self.prune_level + 1  # backbone depth needed
        X: dict[tuple[int, int], torch.Tensor] = {}
        for i in range(levels):
            X[i, 0] = self.nodes[f"{i}_0"](x if i == 0 else self.pool(X[i - 1, 0]))
        for j in range(1, levels):
            for i in range(0, levels - j):
                dense = [X[i, k] for k in range(j)]
                X[i, j] = self.nodes[f"{i}_{j}"](torch.cat(dense + [self._up(X[i + 1, j - 1], X[i, 0])], 1))
        if not self.deep_supervision:
            return self.heads[0](X[0, 4])
        if self.training:
            outs = [head(X[0, j + 1]) for j, head in enumerate(self.heads)]
            return [outs[-1], *outs[:-1]]
        return self.heads[self.prune_level - 1](X[0, self.prune_level])


# UNet 3+

class UNet3Plus(SegmentationModel):
    """UNet 3+: full-scale skips, full-scale deep supervision and a classification-guided module.

    Each decoder node X_De^i gets five inputs, each through a 3x3 conv to `cat_channels`
    (64): encoder maps at levels <= i (max-pooled down) and decoder maps at coarser
    levels (bilinear up; level 5 is the deepest encoder map). The 5 x 64 = 320 channels
    are fused by a 3x3 conv + BN + ReLU.

    Args:
        num_classes: output channels.
        in_channels: image channels.
        widths: encoder widths of levels 1..5 (paper: 64, 128, 256, 512, 1024).
        cat_channels: width of each full-scale skip (paper: 64).
        deep_supervision: in training mode return ``[main, *aux]``: main from X_De^1, aux
            from X_De^2..4 and X_En^5 (3x3 conv, bilinear upsampling to the input).
        classification_guided: add the classification-guided module (CGM) on X_En^5:
            dropout -> 1x1 conv -> adaptive max pool -> sigmoid gives a 2-vector whose
            argmax (target present or not) multiplies every output. Use
            :meth:`forward_with_cls` to get the 2-vector for its BCE loss.

    Shape:
        (B, 3, H, W) -> (B, num_classes, H, W); inputs are padded to multiples of 16.

    Parameters: 26.97M at 1 class, the figure in the paper's Table 1 (Huang et al. 2020,
    UNet 3+ with the 64-1024 encoder); checked in tests/models/test_zoo_models.py.
    """

    def __init__(
        self,
        num_classes: int = 2,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 128, 256, 512, 1024),
        cat_channels: int = 64,
        deep_supervision: bool = False,
        classification_guided: bool = False,
    ) -> None:
        super().__init__(num_classes, 16, in_channels)
        _check_positive("cat_channels", cat_channels)
        if len(widths) != 5:
            raise ValueError(f"widths must list 5 level widths; got {tuple(widths)}.")
        self.deep_supervision = deep_supervision
        self.classification_guided = classification_guided
        w = list(widths)
        self.pool = nn.MaxPool2d(2)
        self.encoder = nn.ModuleList([DoubleConv(in_channels, w[0])] + [DoubleConv(w[i - 1], w[i]) for i in range(1, 5)])
        fused = 5 * cat_channels
        # skips[d][s]: conv bringing source level s (0..4) to decoder level d (0..3)
        self.skips = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for d in range(4):
            convs = nn.ModuleList()
            for s in range(5):
                src_ch = w[s] if (s <= d or s == 4) else fused
                convs.append(ConvBNAct(src_ch, cat_channels, 3))
            self.skips.append(convs)
            self.fuse.append(ConvBNAct(fused, fused, 3))
        # side heads: decoder levels 0..3 then the deepest encoder map
        n_heads = 5 if deep_supervision else 1
        self.heads = nn.ModuleList(
            [nn.Conv2d(fused if k < 4 else w[4], num_classes, 3, padding=1) for k in range(n_heads)]
        )
        if classification_guided:
            self.cls = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(w[4], 2, 1), nn.AdaptiveMaxPool2d(1), nn.Sigmoid())
        self.backbone = self.encoder
        self.cam_layers = {"backbone": "encoder.4", "decoder": "fuse.0"}

    @staticmethod
    def _resize(t: torch.Tensor, size: tuple[int, int], level_from: int, level_to: int) -> torch.Tensor:
        if level_from < level_to:  # finer -> coarser: max-pool
            k = 2 ** (level_to - level_from)
            return F.max_pool2d(t, k, k, ceil_mode=True)
        if level_from > level_to:  # coarser -> finer: bilinear
            return F.interpolate(t, size=size, mode="bilinear", align_corners=False)
        return t

    def forward_with_cls(self, x: torch.Tensor) -> tuple[torch.Tensor | list[torch.Tensor], torch.Tensor | None]:
        """Like :meth:`forward`, also returning the CGM probabilities (B, 2) or None."""
        return self.run_padded(self._forward_with_cls, x)

    def _forward_with_cls(self, x: torch.Tensor) -> tuple[torch.Tensor | list[torch.Tensor], torch.Tensor | None]:
        size = x.shape[-2:]
        enc = []
        for i, block in enumerate(self.encoder):
            enc.append(block(x if i == 0 else self.pool(enc[-1])))
        # dec[level]: decoder map at level 0..3; level 4 is enc[4]
        dec: dict[int, torch.Tensor] = {4: enc[4]}
        for d in range(3, -1, -1):
            ref = enc[d].shape[-2:]
            parts = []
            for s in range(5):
                src = enc[s] if s <= d else dec[s]
                parts.append(self.skips[d][s](self._resize(src, ref, s, d)))
            dec[d] = self.fuse[d](torch.cat(parts, 1))
        cls_prob = None
        gate = None
        if self.classification_guided:
            cls_prob = self.cls(enc[4]).flatten(1)  # (B, 2)
            gate = cls_prob.argmax(1).to(x.dtype).view(-1, 1, 1, 1)
        sources = [dec[0], dec[1], dec[2], dec[3], enc[4]]
        n = len(self.heads) if (self.deep_supervision and self.training) else 1
        outs = []
        for k in range(n):
            o = F.interpolate(self.heads[k](sources[k]), size=size, mode="bilinear", align_corners=False)
            outs.append(o * gate if gate is not None else o)
        return (outs if n > 1 else outs[0]), cls_prob

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        return self._forward_with_cls(x)[0]


# registered factories



@register_model("unet", family="unet", paper="U-Net (Ronneberger et al., MICCAI 2015)", year=2015, input_multiple=16)
def unet(num_classes: int = 2, in_channels: int = 3, base_channels: int = 64, depth: int = 4,
         upsample: Literal["transpose", "bilinear"] = "transpose") -> UNet:
    """UNet with padded convs and BN (64-1024 channels, 4 levels)."""
    return UNet(num_classes, in_channels, base_channels, depth, upsample)


@register_model("unetplusplus", family="unet", paper="UNet++ (Zhou et al., DLMIA 2018)", year=2018, input_multiple=16,
                reference_params=9_040_000)
def unetplusplus(num_classes: int = 2, in_channels: int = 3, widths: Sequence[int] = (32, 64, 128, 256, 512),
                 deep_supervision: bool = False, prune_level: int = 4) -> UNetPlusPlus:
    """UNet++ with nested dense skips, optional deep supervision and inference pruning."""
    return UNetPlusPlus(num_classes, in_channels, widths, deep_supervision, prune_level)


@register_model("unet3plus", family="unet", paper="UNet 3+ (Huang et al., ICASSP 2020)", year=2020, input_multiple=16,
                reference_params=26_970_000)
def unet3plus(num_classes: int = 2, in_channels: int = 3, widths: Sequence[int] = (64, 128, 256, 512, 1024),
              cat_channels: int = 64, deep_supervision: bool = False,
              classification_guided: bool = False) -> UNet3Plus:
    """UNet 3+ with full-scale skips, full-scale deep supervision and the optional CGM."""
    return UNet3Plus(num_classes, in_channels, widths, cat_channels, deep_supervision, classification_guided)
