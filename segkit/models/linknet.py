"""LinkNet: additive encoder-decoder skips on a ResNet-18 encoder.

Chaurasia & Culurciello, "LinkNet: Exploiting Encoder Representations for Efficient
Semantic Segmentation", VCIP 2017, https://arxiv.org/abs/1707.03718

The encoder is torchvision's ResNet-18 built without weights (stem: 7x7/2 conv and a
3x3/2 max-pool, i.e. x4 before the first block). Each decoder block is 1x1 (m -> m/4),
a 3x3 transposed conv x2, and 1x1 (m/4 -> n); its output is *added* to the matching
encoder output instead of concatenated. The final block is a 3x3 transposed conv x2,
a 3x3 conv, and a 2x2 transposed conv x2 to the classes.

Any encoder giving four feature maps at strides 4/8/16/32 (e.g. a timm
``features_only`` model) can be passed as ``encoder=`` with its ``encoder_channels``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from segkit.models._registry import register_model
from segkit.models._base import SegmentationModel
from segkit.models.unet import ConvBNAct

__all__ = ["LinkNet", "ResNetEncoder"]


class ResNetEncoder(nn.Module):
    """A torchvision ResNet as a 4-stage feature extractor (strides 4, 8, 16, 32).

    Args:
        depth: 18, 34, 50 or 101.
        dilate: replace the strides of layer3/layer4 by dilation ((False, True, True) -> OS8).
        weights_path: optional local state-dict file to load (never downloads).
    """

    def __init__(self, depth: int = 18, dilate: Sequence[bool] = (False, False, False), weights_path: str | None = None) -> None:
        super().__init__()
        import torchvision  # deferred: importing it costs seconds in every process that imports segkit.models

        builders = {18: torchvision.models.resnet18, 34: torchvision.models.resnet34,
                    50: torchvision.models.resnet50, 101: torchvision.models.resnet101}
        if depth not in builders:
            raise ValueError(f"depth must be one of {sorted(builders)}; got {depth!r}.")
        if depth < 50 and any(dilate):
            raise ValueError("dilation needs a bottleneck ResNet (depth 50 or 101); torchvision's BasicBlock has none.")
        net = builders[depth](weights=None, replace_stride_with_dilation=list(dilate))
        if weights_path:  # local file only, matched by name and shape (segkit.models._weights)
            from segkit.models._weights import load_weights

            load_weights(net, weights_path)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        exp = 1 if depth < 50 else 4
        self.channels = [64 * exp, 128 * exp, 256 * exp, 512 * exp]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return [c1, c2, c3, c4]


class DecoderBlock(nn.Sequential):
    """1x1 (m -> m/4) -> 3x3 transposed conv x2 -> 1x1 (m/4 -> n), each with BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        mid = max(1, in_channels // 4)
        super().__init__(
            ConvBNAct(in_channels, mid, 1),
            nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            ConvBNAct(mid, out_channels, 1),
        )


class LinkNet(SegmentationModel):
    """LinkNet with additive skips.

    Args:
        num_classes: output channels.
        encoder: a module returning 4 maps at strides 4/8/16/32; default ResNet-18.
        encoder_channels: channels of those maps (needed with a custom `encoder`).
        weights_path: local ResNet-18 weights for the default encoder.

    Shape:
        (B, 3, H, W) -> (B, num_classes, H, W); inputs are padded to multiples of 32.

    Parameters: 11.53M at 2 classes; the paper reports 11.5M (Table 1, Chaurasia &
    Culurciello 2017).
    """

    def __init__(
        self,
        num_classes: int = 2,
        encoder: nn.Module | None = None,
        encoder_channels: Sequence[int] | None = None,
        weights_path: str | None = None,
    ) -> None:
        super().__init__(num_classes, 32)
        if encoder is None:
            encoder = ResNetEncoder(18, weights_path=weights_path)
            encoder_channels = encoder.channels
        elif encoder_channels is None:
            raise ValueError("encoder_channels is required with a custom encoder (4 ints for strides 4/8/16/32).")
        ch = list(encoder_channels)
        if len(ch) != 4:
            raise ValueError(f"encoder_channels must have 4 entries; got {ch}.")
        self.backbone = encoder
        self.decoder = nn.ModuleList([
            DecoderBlock(ch[3], ch[2]),
            DecoderBlock(ch[2], ch[1]),
            DecoderBlock(ch[1], ch[0]),
            DecoderBlock(ch[0], ch[0]),
        ])
        self.final = nn.Sequential(
            nn.ConvTranspose2d(ch[0], 32, 3, stride=2, padding=1, output_padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            ConvBNAct(32, 32, 3),
            nn.Conv2d(32, num_classes, 1),
        )
        self.cam_layers = {"backbone": "backbone.layer4" if isinstance(encoder, ResNetEncoder) else "backbone",
                           "decoder": "decoder.3"}

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        c1, c2, c3, c4 = self.backbone(x)
        d = self.decoder[0](c4) + c3
        d = self.decoder[1](d) + c2
        d = self.decoder[2](d) + c1
        d = self.decoder[3](d)  # stride 2
        return self.final(d)


@register_model("linknet", family="linknet", paper="LinkNet (Chaurasia & Culurciello, VCIP 2017)", year=2017,
                input_multiple=32, reference_params=11_500_000)
def linknet(num_classes: int = 2, encoder: nn.Module | None = None, encoder_channels: Sequence[int] | None = None,
            weights_path: str | None = None) -> LinkNet:
    """LinkNet, ResNet-18 encoder (reference 11.5M params: paper Table 1)."""
    return LinkNet(num_classes, encoder, encoder_channels, weights_path)
