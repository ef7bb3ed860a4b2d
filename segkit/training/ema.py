"""An exponential moving average (EMA) of a model's weights, on PyTorch's own
:class:`torch.optim.swa_utils.AveragedModel`.

After every optimiser step ``ema = decay * ema + (1 - decay) * weights``, for the parameters
and the buffers (BatchNorm statistics) alike; the first update copies the weights. Averaging
the iterates smooths the noise of the last SGD steps (Polyak and Juditsky, *Acceleration of
Stochastic Approximation by Averaging*, SIAM J. Control Optim. 1992,
https://doi.org/10.1137/0330046); whether it helps a given recipe is a measurement, so it is
off by default. Its state (the averaged weights and the update count) is part of
``last.pt``, so a resumed run continues the same average.
"""
from __future__ import annotations

import torch.nn as nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

__all__ = ["make_ema"]


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An EMA copy of `model` (same device and memory format), updated by ``ema.update_parameters(model)``.

    Args:
        model: the trained module (not a DDP wrapper: every rank holds the same weights).
        decay: the share of the average kept at each step, in (0, 1).

    Returns:
        The ``AveragedModel``; ``ema.module`` is the averaged network.
    """
    if not 0 < decay < 1:
        raise ValueError(f"ema_decay={decay} must lie in (0, 1), e.g. 0.999")
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.eval()  # only ever evaluated; update_parameters does not depend on the mode
    return ema
