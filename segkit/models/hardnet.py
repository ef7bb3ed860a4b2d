"""FC-HarDNet-70: a U-shaped segmentation net built from harmonic dense blocks.

Chao et al., "HarDNet: A Low Memory Traffic Network", ICCV 2019,
https://arxiv.org/abs/1909.00948 (segmentation model: PingoLH/FCHarDNet).

Harmonic dense links: layer k takes the outputs of layers k - 2**n for every n with
2**n dividing k (layer 0 is the block input). A layer linked to 2**n earlier outputs
has width growth_rate * grmul**n (rounded to an even number), so layers that many
later layers read from are wider. A block outputs the concatenation of its odd layers
and its last layer. Design metric: CIO (summed input + output tensor sizes of each
conv), a proxy for DRAM traffic.

Encoder (the FC-HarDNet-70 defaults): stem 16/24/32/48 as four 3x3 ConvBNReLU (strides
2, 1, 2, 1); five HarDBlocks (growth 10/16/18/24/32, layers 4/4/8/8/8, grmul 1.7) each
followed by a 1x1 ConvBNReLU to 64/96/160/224/320 channels and 2x2 average pooling
(except after the last). Decoder, 4 levels: bilinear upsampling to the skip size ->
concatenation with the skip (a block output) -> 1x1 ConvBNReLU halving channels ->
HarDBlock. Then a 1x1 classifier and bilinear upsampling to the input size.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.models._registry import register_model
from segkit.models._base import SegmentationModel
from segkit.models.unet import ConvBNAct

__all__ = ["HarDBlock", "FCHarDNet", "harmonic_links"]


def harmonic_links(layer: int, base_channels: int, growth_rate: int, grmul: float) -> tuple[int, int, list[int]]:
    """(out_channels, in_channels, links) of layer `layer` (1-based) in a harmonic dense block.

    Layer 0 is the block input with `base_channels` channels.
    """
    if layer == 0:
        return base_channels, 0, []
    out = float(growth_rate)
    links = []
    for n in range(10):
        step = 2**n
        if layer % step == 0:
            links.append(layer - step)
            if n > 0:
                out *= grmul
    out_ch = int(int(out + 1) / 2) * 2  # round to an even width
    in_ch = sum(harmonic_links(k, base_channels, growth_rate, grmul)[0] for k in links)
    return out_ch, in_ch, links


class HarDBlock(nn.Module):
    """Harmonic dense block: `n_layers` 3x3 ConvBNReLU layers with harmonic links.

    Output: concatenation of the odd layers and the last layer (`out_channels` wide).
    """

    def __init__(self, in_channels: int, growth_rate: int, grmul: float, n_layers: int) -> None:
        super().__init__()
        self.links: list[list[int]] = []
        layers = []
        self.out_channels = 0
        for i in range(1, n_layers + 1):
            out_ch, in_ch, links = harmonic_links(i, in_channels, growth_rate, grmul)
            self.links.append(links)
            layers.append(ConvBNAct(in_ch, out_ch, 3))
            if i % 2 == 1 or i == n_layers:
                self.out_channels += out_ch
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [x]
        for links, layer in zip(self.links, self.layers):
            inp = outs[links[0]] if len(links) == 1 else torch.cat([outs[k] for k in links], 1)
            outs.append(layer(inp))
        n = len(outs)
        keep = [outs[i] for i in range(1, n) if i % 2 == 1 or i == n - 1]
        return torch.cat(keep, 1)


class FCHarDNet(SegmentationModel):
    """FC-HarDNet segmentation model.

    Args:
        num_classes: output channels (19 for Cityscapes).
        stem_channels: the four stem conv widths.
        ch_list: 1x1 transition widths after each encoder block.
        growth_rates: growth rate per block.
        n_layers: layers per block.
        grmul: width multiplier per harmonic level.

    Shape:
        (B, 3, H, W) -> (B, num_classes, H, W); inputs are padded to multiples of 4 * 2**(blocks - 1)
        (64 for the default five blocks).

    Parameters: 4.12M at 19 classes; the FCHarDNet README reports 4.1M for FC-HarDNet-70
    (Cityscapes).
    """

    def __init__(
        self,
        num_classes: int = 19,
        stem_channels: Sequence[int] = (16, 24, 32, 48),
        ch_list: Sequence[int] = (64, 96, 160, 224, 320),
        growth_rates: Sequence[int] = (10, 16, 18, 24, 32),
        n_layers: Sequence[int] = (4, 4, 8, 8, 8),
        grmul: float = 1.7,
    ) -> None:
        super().__init__(num_classes, 4 * 2 ** (len(ch_list) - 1))
        if not (len(ch_list) == len(growth_rates) == len(n_layers)):
            raise ValueError(
                f"ch_list, growth_rates and n_layers need equal lengths; got {len(ch_list)}, "
                f"{len(growth_rates)}, {len(n_layers)}."
            )
        if len(stem_channels) != 4:
            raise ValueError(f"stem_channels must have 4 entries; got {tuple(stem_channels)}.")
        n_blocks = len(ch_list)
        s = list(stem_channels)
        self.stem = nn.Sequential(
            ConvBNAct(3, s[0], 3, 2), ConvBNAct(s[0], s[1], 3), ConvBNAct(s[1], s[2], 3, 2), ConvBNAct(s[2], s[3], 3)
        )
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        skip_channels = []
        ch = s[3]
        for i in range(n_blocks):
            blk = HarDBlock(ch, growth_rates[i], grmul, n_layers[i])
            self.blocks.append(blk)
            skip_channels.append(blk.out_channels)
            self.transitions.append(ConvBNAct(blk.out_channels, ch_list[i], 1))
            ch = ch_list[i]
        self.pool = nn.AvgPool2d(2, 2)
        self.up_convs = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for i in range(n_blocks - 2, -1, -1):
            cat = ch + skip_channels[i]
            self.up_convs.append(ConvBNAct(cat, cat // 2, 1))
            blk = HarDBlock(cat // 2, growth_rates[i], grmul, n_layers[i])
            self.up_blocks.append(blk)
            ch = blk.out_channels
        self.classifier = nn.Conv2d(ch, num_classes, 1)
        self.backbone = nn.ModuleDict({"stem": self.stem, "blocks": self.blocks, "transitions": self.transitions})
        self.cam_layers = {"backbone": f"blocks.{n_blocks - 1}", "decoder": f"up_blocks.{n_blocks - 2}"}

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        out = self.stem(x)
        skips = []
        for i, (blk, trans) in enumerate(zip(self.blocks, self.transitions)):
            out = blk(out)
            if i < len(self.blocks) - 1:
                skips.append(out)
            out = trans(out)
            if i < len(self.blocks) - 1:
                out = self.pool(out)
        for conv, blk in zip(self.up_convs, self.up_blocks):
            skip = skips.pop()
            out = F.interpolate(out, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            out = blk(conv(torch.cat([out, skip], 1)))
        return F.interpolate(self.classifier(out), size=size, mode="bilinear", align_corners=False)


@register_model("fc-hardnet-70", family="hardnet", paper="HarDNet (Chao et al., ICCV 2019)", year=2019,
                input_multiple=64, reference_params=4_100_000)
def fc_hardnet_70(num_classes: int = 19) -> FCHarDNet:
    """FC-HarDNet-70 (reference 4.1M: PingoLH/FCHarDNet README, Cityscapes)."""
    return FCHarDNet(num_classes)
