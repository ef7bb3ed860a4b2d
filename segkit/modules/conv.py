"""Small convolution blocks shared by the paper's modules.

`DepthwiseSeparableConv` follows the paper's reference code exactly (see ``docs/models.md``):
depthwise kxk conv, pointwise 1x1 conv, then BN and a non-inplace ReLU (no norm between the two convs).
"""
from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["ConvBNAct", "DepthwiseSeparableConv"]


class ConvBNAct(nn.Sequential):
    """Conv2d -> BatchNorm2d -> activation (any of them optional).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        stride: conv stride.
        padding: padding; ``None`` gives ``dilation * (kernel_size // 2)``.
        dilation: conv dilation.
        groups: conv groups.
        bias: conv bias.
        norm_layer: norm class taking the channel count, or ``None``.
        act_layer: activation class (instantiated without arguments), or ``None``.
        bn_momentum: momentum given to ``nn.BatchNorm2d`` when it is the norm.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = False,
        norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
        act_layer: type[nn.Module] | None = nn.ReLU,
        bn_momentum: float = 0.1,
    ) -> None:
        if padding is None:
            padding = dilation * (kernel_size // 2)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=bias)
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels, momentum=bn_momentum) if norm_layer is nn.BatchNorm2d
                          else norm_layer(out_channels))
        if act_layer is not None:
            layers.append(act_layer())
        super().__init__(*layers)


class DepthwiseSeparableConv(nn.Module):
    """Depthwise kxk conv -> pointwise 1x1 conv -> BN -> ReLU (non-inplace).

    Args:
        inp: input channels.
        oup: output channels.
        k: depthwise kernel size.
        s: depthwise stride.
        p: depthwise padding.
        bias: bias on both convs (the paper uses none).

    Shape:
        (B, inp, H, W) -> (B, oup, H/s, W/s)
    """

    def __init__(self, inp: int, oup: int, k: int = 3, s: int = 1, p: int = 1, bias: bool = False) -> None:
        super().__init__()
        if inp < 1 or oup < 1:
            raise ValueError(f"DepthwiseSeparableConv needs positive channels, got inp={inp}, oup={oup}")
        self.depthwise = nn.Conv2d(inp, inp, k, s, p, groups=inp, bias=bias)
        self.pointwise = nn.Conv2d(inp, oup, 1, 1, 0, bias=bias)
        self.bn = nn.BatchNorm2d(oup)
        self.act = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.pointwise(self.depthwise(x))))
