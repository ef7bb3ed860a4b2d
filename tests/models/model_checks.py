"""The forward/backward check every model test shares (not a test file: imported by them)."""
from __future__ import annotations

import torch
import torch.nn as nn


def forward_backward(model: nn.Module, size: tuple[int, int], batch: int = 1) -> None:
    """Run `model` on a random (batch, 3, H, W) input and backpropagate: every output (a tensor or a
    deep-supervision list) must be (batch, num_classes, H, W), every trainable parameter must get a
    gradient and every gradient must be finite."""
    out = model(torch.randn(batch, 3, *size))
    outs = out if isinstance(out, (list, tuple)) else [out]
    for o in outs:
        assert tuple(o.shape) == (batch, model.num_classes, *size), f"output {tuple(o.shape)} for input {size}"
    sum(o.float().pow(2).mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad[:5]}"
