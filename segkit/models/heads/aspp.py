"""Classic ASPP of DeepLabV3/V3+ (Chen et al., https://arxiv.org/abs/1706.05587, 1802.02611).

Reference layout (the bubbliiiing DeepLabV3+ code; see ``docs/models.md``): a 1x1 branch,
three 3x3 atrous branches at 6r/12r/18r (r = 16/OS), an image-pooling branch (mean over H
then W, 1x1 conv, BN, ReLU, bilinear upsampling with align_corners=True), concatenation and
a 1x1 fuse conv. All convs have a
bias; ReLUs are non-inplace. Attribute names match the reference so checkpoints load.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ASPP", "pooled_norm", "batch_one_error", "is_batch_one_error"]

_BN_BATCH_ONE = "Expected more than 1 value per channel when training"  # PyTorch's BatchNorm message


def is_batch_one_error(exc: Exception) -> bool:
    """True for PyTorch's BatchNorm error on one value per channel (batch size 1 after global pooling)."""
    return isinstance(exc, ValueError) and _BN_BATCH_ONE in str(exc)


def batch_one_error(where: str, shape: tuple[int, ...], fix: str) -> ValueError:
    """The error for a BatchNorm after global pooling trained at batch size 1 (one value per channel)."""
    return ValueError(f"{where}: BatchNorm in the image-pooling branch cannot train at batch size 1 (its input is "
                      f"{tuple(shape)}, one value per channel). Train with batch size >= 2 "
                      f"(e.g. --set Unfreeze_batch_size=2), call model.eval(), or {fix}.")


def pooled_norm(norm: nn.Module, x: torch.Tensor, where: str) -> torch.Tensor:
    """Apply the norm of an image-pooling branch; a BN at batch 1 in training gets a clear error."""
    if isinstance(norm, nn.GroupNorm):
        # the aten op directly: F.group_norm's Python batch-size check emits TracerWarnings
        return torch.group_norm(x, norm.num_groups, norm.weight, norm.bias, norm.eps)
    try:
        return norm(x)
    except ValueError as e:
        if not is_batch_one_error(e):
            raise
        raise batch_one_error(where, x.shape, "use a head with GroupNorm there (use_groupnorm=True, "
                                              "e.g. aspp='msa_aspp')") from e


class ASPP(nn.Module):
    """Atrous Spatial Pyramid Pooling with an image-pooling branch.

    Args:
        dim_in: input channels (320 for MobileNetV2, 2048 for Xception).
        dim_out: output channels of every branch and of the module.
        rate: dilation multiplier, 16 // downsample_factor.
        bn_mom: BatchNorm momentum.
        align_corners: of the pooled-branch upsampling (True in the reference).

    Shape:
        (B, dim_in, h, w) -> (B, dim_out, h, w)
    """

    def __init__(self, dim_in: int, dim_out: int = 256, rate: int = 1, bn_mom: float = 0.1,
                 align_corners: bool = True) -> None:
        super().__init__()
        if dim_in < 1 or dim_out < 1 or rate < 1:
            raise ValueError(f"ASPP needs positive dim_in, dim_out, rate; got {dim_in}, {dim_out}, {rate}")

        def branch(k: int, d: int) -> nn.Sequential:
            pad = 0 if k == 1 else d
            return nn.Sequential(nn.Conv2d(dim_in, dim_out, k, 1, padding=pad, dilation=d, bias=True),
                                 nn.BatchNorm2d(dim_out, momentum=bn_mom), nn.ReLU(inplace=False))

        self.branch1 = branch(1, rate)
        self.branch2 = branch(3, 6 * rate)
        self.branch3 = branch(3, 12 * rate)
        self.branch4 = branch(3, 18 * rate)
        self.branch5_conv = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=True)
        self.branch5_bn = nn.BatchNorm2d(dim_out, momentum=bn_mom)
        self.branch5_relu = nn.ReLU(inplace=False)
        self.conv_cat = nn.Sequential(nn.Conv2d(dim_out * 5, dim_out, 1, 1, padding=0, bias=True),
                                      nn.BatchNorm2d(dim_out, momentum=bn_mom), nn.ReLU(inplace=False))
        self.align_corners = align_corners
        self.out_channels = dim_out

    def attention_modules(self) -> list[nn.Module]:
        """None: the classic ASPP is the plain head that ``zero_gate`` reduces the attention heads to."""
        return []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        g = torch.mean(torch.mean(x, 2, True), 3, True)  # (B,C,1,1): mean over H, then W
        g = self.branch5_relu(pooled_norm(self.branch5_bn, self.branch5_conv(g), "ASPP"))
        g = F.interpolate(g, (h, w), mode="bilinear", align_corners=self.align_corners)
        cat = torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x), g], dim=1)
        return self.conv_cat(cat)
