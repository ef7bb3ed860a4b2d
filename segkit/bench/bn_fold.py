"""Fold every BatchNorm that follows a convolution into the convolution (an inference copy)."""
from __future__ import annotations

import copy

import torch.nn as nn

__all__ = ["fold_batchnorm"]


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int, str]:
    """An eval-mode copy of `model` with every BatchNorm that follows a conv folded into it.

    Uses ``torch.fx`` (graph-based, safe for any topology) when the model can be traced;
    otherwise folds adjacent (Conv2d, BatchNorm2d) pairs inside ``nn.Sequential``
    containers, where the order is the data flow.

    Returns:
        (folded copy, number of BatchNorm layers folded, method: "torch.fx" or "sequential").
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()
    n_bn = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    try:
        from torch.fx.experimental.optimization import fuse

        fused = fuse(model)
        left = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fused.modules())
        return fused, n_bn - left, "torch.fx"
    except Exception:
        pass

    n = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        keys = list(seq._modules)
        for a, b in zip(keys[:-1], keys[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if (
                type(conv) is nn.Conv2d
                and type(bn) is nn.BatchNorm2d
                and bn.running_mean is not None
                and conv.out_channels == bn.num_features
            ):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
                n += 1
    return model, n, "sequential"
