"""PSPNet and DeepLabV3 (multi-grid): the dilated-ResNet survey models.

- PSPNet: Zhao et al., "Pyramid Scene Parsing Network", CVPR 2017,
  https://arxiv.org/abs/1612.01105
- DeepLabV3: Chen et al., "Rethinking Atrous Convolution for Semantic Image
  Segmentation", 2017, https://arxiv.org/abs/1706.05587

Both use torchvision's ResNet built without weights and with strides replaced by
dilation (output stride 8 or 16). DeepLabV3 here is only the multi-grid ResNet backbone
adapter: the ASPP and the DeepLabV3 head are segkit's shared ones (``heads/aspp.py``,
``deeplab.DeepLabV3``). PSPNet follows MMSegmentation's
``pspnet_r50-d8`` layout: pyramid pooling at 1/2/3/6 with each level reduced to the
head's ``channels`` (512), a 3x3 bottleneck, and an auxiliary FCN head on layer3 that
only runs in training mode. DeepLabV3 applies multi-grid unit rates (1, 2, 4) to the
three layer4 blocks. Deviation: the stem is torchvision's single 7x7 conv, not MMSeg's three-conv
ResNetV1c stem (19k parameters fewer out of 49M).
"""
from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.models._registry import register_model
from segkit.models.heads.aspp import batch_one_error, is_batch_one_error
from segkit.models.linknet import ResNetEncoder
from segkit.models._base import SegmentationModel
from segkit.models.unet import ConvBNAct

__all__ = ["PyramidPooling", "PSPNet", "MultiGridResNet", "create_deeplabv3_resnet", "apply_multi_grid"]


def apply_multi_grid(layer: nn.Sequential, base_rate: int, multi_grid: Sequence[int]) -> None:
    """Set the 3x3 conv of block i in a ResNet `layer` to dilation base_rate * multi_grid[i]."""
    if len(multi_grid) != len(layer):
        raise ValueError(f"multi_grid needs one rate per block ({len(layer)}); got {tuple(multi_grid)}.")
    for block, unit in zip(layer, multi_grid):
        rate = base_rate * int(unit)
        block.conv2.dilation = (rate, rate)
        block.conv2.padding = (rate, rate)


def _dilation_flags(output_stride: int) -> tuple[bool, bool, bool]:
    if output_stride == 8:
        return (False, True, True)
    if output_stride == 16:
        return (False, False, True)
    raise ValueError(f"output_stride must be 8 or 16; got {output_stride!r}.")


class PyramidPooling(nn.Module):
    """Pyramid pooling: AdaptiveAvgPool(s) -> 1x1 conv+BN+ReLU -> bilinear up, for s in pool_scales.

    Returns the input concatenated with every level: C + len(pool_scales) * channels.
    """

    def __init__(self, in_channels: int, channels: int, pool_scales: Sequence[int] = (1, 2, 3, 6)) -> None:
        super().__init__()
        self.levels = nn.ModuleList(
            [nn.Sequential(nn.AdaptiveAvgPool2d(s), ConvBNAct(in_channels, channels, 1)) for s in pool_scales]
        )
        self.out_channels = in_channels + len(pool_scales) * channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        outs = [x]
        for level in self.levels:
            try:
                y = level(x)
            except ValueError as e:  # the 1x1 bin at batch size 1: BatchNorm sees one value per channel
                if not is_batch_one_error(e):
                    raise
                bins = level[0].output_size
                raise batch_one_error(f"PSPNet pyramid pooling (bin {bins})", (x.shape[0], x.shape[1], bins, bins),
                                      "drop the 1x1 bin (pool_scales=(2, 3, 6))") from e
            outs.append(F.interpolate(y, size=size, mode="bilinear", align_corners=False))
        return torch.cat(outs, 1)


class _FCNHead(nn.Sequential):
    """Auxiliary head: 3x3 conv+BN+ReLU -> dropout -> 1x1 classifier."""

    def __init__(self, in_channels: int, channels: int, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__(ConvBNAct(in_channels, channels, 3), nn.Dropout2d(dropout), nn.Conv2d(channels, num_classes, 1))


class PSPNet(SegmentationModel):
    """PSPNet on a dilated ResNet.

    Args:
        num_classes: output channels (19 for Cityscapes).
        depth: ResNet depth, 50 or 101.
        output_stride: 8 (paper) or 16.
        channels: width of each pyramid level and of the bottleneck (MMSeg: 512).
        pool_scales: pyramid bins (paper: 1, 2, 3, 6).
        aux_head: add the layer3 FCN head; in training mode forward returns ``[main, aux]``.
        weights_path: local ResNet weights (state dict of a torchvision ResNet).
        encoder: optional replacement encoder returning 4 maps (strides 4..32 or dilated),
            e.g. ``timm.create_model("resnet50", features_only=True, out_indices=(1, 2, 3, 4),
            output_stride=8, pretrained=False)``; the pyramid reads the last map and the
            auxiliary head the third.
        encoder_channels: channels of those 4 maps (``encoder.feature_info.channels()``).

    Shape:
        (B, 3, H, W) -> (B, num_classes, H, W); inputs are padded to multiples of the output stride.

    Parameters: 48.96M at 19 classes with the auxiliary head; the MMSeg
    ``pspnet_r50-d8`` architecture (ResNetV1c-50 + PSPHead(512) + FCNHead(256)) counts
    48.98M, computed layer by layer in tests/models/test_zoo_models.py.
    """

    def __init__(
        self,
        num_classes: int = 19,
        depth: Literal[50, 101] = 50,
        output_stride: Literal[8, 16] = 8,
        channels: int = 512,
        pool_scales: Sequence[int] = (1, 2, 3, 6),
        aux_head: bool = True,
        weights_path: str | None = None,
        encoder: nn.Module | None = None,
        encoder_channels: Sequence[int] | None = None,
    ) -> None:
        if depth not in (50, 101):
            raise ValueError(f"depth must be 50 or 101; got {depth!r}.")
        # a custom encoder's stride is unknown: assume the deepest map is at 1/32
        super().__init__(num_classes, output_stride if encoder is None else 32)
        if encoder is None:
            encoder = ResNetEncoder(depth, _dilation_flags(output_stride), weights_path)
            encoder_channels = encoder.channels
        elif encoder_channels is None or len(encoder_channels) != 4:
            raise ValueError(f"a custom encoder needs encoder_channels with 4 entries; got {encoder_channels!r}.")
        self.backbone = encoder
        c3, c4 = encoder_channels[2], encoder_channels[3]
        self.ppm = PyramidPooling(c4, channels, pool_scales)
        self.decoder = nn.Sequential(ConvBNAct(self.ppm.out_channels, channels, 3), nn.Dropout2d(0.1))
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        self.aux = _FCNHead(c3, 256, num_classes) if aux_head else None
        self.cam_layers = {"backbone": "backbone.layer4" if isinstance(encoder, ResNetEncoder) else "backbone",
                           "neck": "ppm", "decoder": "decoder.0"}

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        size = x.shape[-2:]
        _, _, c3, c4 = self.backbone(x)[-4:]
        out = self.classifier(self.decoder(self.ppm(c4)))
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        if self.training and self.aux is not None:
            aux = F.interpolate(self.aux(c3), size=size, mode="bilinear", align_corners=False)
            return [out, aux]
        return out


class MultiGridResNet(nn.Module):
    """Dilated ResNet with multi-grid layer4, in the ``(low, deep)`` backbone contract of
    ``segkit.models.deeplab.DeepLabV3`` (low = layer1 at stride 4, deep = layer4).

    Args:
        depth: 50 or 101.
        output_stride: 16 (layer4 base rate 2) or 8 (layer3 rate 2, layer4 base rate 4).
        multi_grid: unit rates of the three layer4 blocks (paper best: 1, 2, 4).
        weights_path: local ResNet weights.
    """

    cam_layer = "encoder.layer4"

    def __init__(self, depth: Literal[50, 101] = 101, output_stride: Literal[8, 16] = 16,
                 multi_grid: Sequence[int] = (1, 2, 4), weights_path: str | None = None) -> None:
        super().__init__()
        if depth not in (50, 101):
            raise ValueError(f"depth must be 50 or 101; got {depth!r}.")
        self.encoder = ResNetEncoder(depth, _dilation_flags(output_stride), weights_path)
        apply_multi_grid(self.encoder.layer4, 2 if output_stride == 16 else 4, multi_grid)
        self.low_channels, self.out_channels = self.encoder.channels[0], self.encoder.channels[3]
        self.output_stride = output_stride
        self.input_multiple = output_stride

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c1, _, _, c4 = self.encoder(x)
        return c1, c4


def create_deeplabv3_resnet(num_classes: int = 21, depth: Literal[50, 101] = 101, output_stride: Literal[8, 16] = 16,
                            multi_grid: Sequence[int] = (1, 2, 4), aspp_channels: int = 256,
                            weights_path: str | None = None) -> nn.Module:
    """DeepLabV3 (ASPP, no decoder) on a multi-grid dilated ResNet.

    Reuses segkit's shared pieces: ``segkit.models.heads.aspp.ASPP`` (1x1 and three 3x3
    atrous branches at 6/12/18 x 16/OS, image pooling, 1x1 fuse) and the
    ``segkit.models.deeplab.DeepLabV3`` head (3x3 conv + BN + ReLU, dropout, classifier).

    Shape:
        (B, 3, H, W) -> (B, num_classes, H, W); inputs are padded to multiples of `output_stride`.
    """
    from segkit.models.deeplab import DeepLabV3
    from segkit.models.heads.aspp import ASPP

    backbone = MultiGridResNet(depth, output_stride, multi_grid, weights_path)
    aspp = ASPP(backbone.out_channels, aspp_channels, rate=16 // output_stride)
    return DeepLabV3(backbone, aspp, num_classes, aspp_channels, align_corners=False)


@register_model("pspnet-r50", family="pspnet", paper="PSPNet (Zhao et al., CVPR 2017)", year=2017, input_multiple=8,
                reference_params=48_980_000)
def pspnet_r50(num_classes: int = 19, output_stride: Literal[8, 16] = 8, channels: int = 512,
               pool_scales: Sequence[int] = (1, 2, 3, 6), aux_head: bool = True,
               weights_path: str | None = None) -> PSPNet:
    """PSPNet, dilated ResNet-50 OS8 (reference 48.98M: MMSeg pspnet_r50-d8 architecture, counted)."""
    return PSPNet(num_classes, 50, output_stride, channels, pool_scales, aux_head, weights_path)


@register_model("deeplabv3-r101", family="deeplab", paper="DeepLabV3 (Chen et al., arXiv 2017)", year=2017,
                input_multiple=16)
def deeplabv3_r101(num_classes: int = 21, output_stride: Literal[8, 16] = 16, multi_grid: Sequence[int] = (1, 2, 4),
                   aspp_channels: int = 256, weights_path: str | None = None) -> nn.Module:
    """DeepLabV3, dilated ResNet-101 with multi-grid (1, 2, 4) and ASPP at OS16."""
    return create_deeplabv3_resnet(num_classes, 101, output_stride, multi_grid, aspp_channels, weights_path)


@register_model("deeplabv3-r50", family="deeplab", paper="DeepLabV3 (Chen et al., arXiv 2017)", year=2017,
                input_multiple=16)
def deeplabv3_r50(num_classes: int = 21, output_stride: Literal[8, 16] = 16, multi_grid: Sequence[int] = (1, 2, 4),
                  aspp_channels: int = 256, weights_path: str | None = None) -> nn.Module:
    """DeepLabV3, dilated ResNet-50 with multi-grid (1, 2, 4) and ASPP at OS16."""
    return create_deeplabv3_resnet(num_classes, 50, output_stride, multi_grid, aspp_channels, weights_path)
