"""The optimiser, the one optimiser step (AMP loss scaling, gradient clipping), and the
seeding that makes every epoch and every loader worker reproducible.

Both the supervised trainer and the adaptation stage step through :func:`optimizer_step`.
"""
from __future__ import annotations

import random
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn as nn

from segkit.training.config import TrainConfig
from segkit.runtime.threads import set_opencv_threads

__all__ = ["NonFiniteLossError", "nonfinite_message", "build_optimizer", "optimizer_step", "seed_all", "epoch_seed", "seed_loader_worker"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/inf; the message names epoch, step and what to change."""


def nonfinite_message(epoch: int, total: int, step: int, steps: int, lr: float, cfg: TrainConfig, last: Any) -> str:
    """The NonFiniteLossError message: where it happened, what was kept, and the fixes to try."""
    keep = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was written yet"
    fixes = ["lower Init_lr (e.g. by 10x)", "set grad_clip (e.g. 10.0)"]
    if cfg.precision != "fp32":
        fixes.insert(0, "set precision='fp32' (mixed precision can overflow)")
    fixes.append(f"check the masks hold only 0..num_classes-1 and ignore_index={cfg.ignore_index}")
    return (f"loss became NaN/inf at epoch {epoch + 1}/{total}, step {step + 1}/{steps} (lr={lr:.3g}); "
            f"training stopped and {keep} (resume with resume=True after changing the config). "
            f"Fixes: {'; '.join(fixes)}.")


def build_optimizer(model: nn.Module, cfg: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """SGD (Nesterov), Adam or AdamW over all of `model`'s parameters, as ``cfg.optimizer_type`` says."""
    params = list(model.parameters())  # built once over all parameters, as the reference
    if cfg.optimizer_type == "sgd":  # not fused: torch's fused SGD fails on a parameter whose first
        # gradient comes after the first step (a backbone unfrozen by staged training)
        return torch.optim.SGD(params, lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay)
    kind = torch.optim.Adam if cfg.optimizer_type == "adam" else torch.optim.AdamW
    return kind(params, lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay,
                fused=_fused_ok(params))


def _fused_ok(params: list[nn.Parameter]) -> bool | None:
    """Fused kernels when every parameter is a float on one CPU or CUDA device, else torch's default.

    On a CPU torch's default is a Python loop over the parameters: an Adam step of DeepLabV3+-
    MobileNetV2 took 22 ms against 4.5 ms fused (one thread), a tenth of a 64-px training step.
    """
    if {p.device.type for p in params} not in ({"cpu"}, {"cuda"}):
        return None
    return all(p.is_floating_point() for p in params) or None


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   params: Iterable[nn.Parameter], grad_clip: float | None) -> None:
    """Backward through the (scaled) loss, clip the gradient norm when asked, step and update the scaler.

    Gradients are unscaled before clipping, so `grad_clip` is a bound on the true norm.
    """
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(params, grad_clip)
    scaler.step(optimizer)
    scaler.update()


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of one epoch on one rank: a run resumed at any epoch draws what it would have drawn."""
    return (seed * 1_000_003 + epoch * 1009 + rank) % 2**31


def seed_loader_worker(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: seed Python and NumPy in a loader worker.

    torch seeds each worker from the loader's (epoch-seeded) generator; the other two
    generators are derived from it, so augmentation is the same with any worker count.
    """
    s = torch.initial_seed() % 2**32
    random.seed(s)
    np.random.seed(s)
    set_opencv_threads(1)  # a worker augments one image at a time; OpenCV's pool would compete with torch
