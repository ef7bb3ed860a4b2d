"""Learning-rate scaling and the reference's per-epoch schedules (docs/training.md).

``fit_lr`` scales ``Init_lr``/``Min_lr`` by ``bs / nbs`` inside the reference limits;
``EpochLR`` is the warm-up cosine (``"cos"``) or step (``"step"``) schedule, evaluated once
at the start of every epoch and written to every parameter group. ``budget_lr`` is the
per-step warm-up cosine of a wall-time budget (``TrainConfig.time_limit``, see
:mod:`segkit.training.budget`).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch

__all__ = ["fit_lr", "config_lr", "lr_limits", "EpochLR", "budget_lr", "set_optimizer_lr", "step_sanity_check"]


def lr_limits(optimizer_type: str, backbone: str = "") -> tuple[float, float]:
    """(lo, hi) learning-rate limits of the reference for an optimiser (and xception)."""
    adam = optimizer_type in ("adam", "adamw")
    if "xception" in (backbone or "").lower():
        return (1e-4, 1e-4) if adam else (5e-4, 1e-1)
    return (3e-4, 5e-4) if adam else (5e-4, 1e-1)


def fit_lr(
    init_lr: float, min_lr: float, batch_size: int, optimizer_type: str = "sgd", nbs: int = 16, backbone: str = ""
) -> tuple[float, float]:
    """Batch-size-scaled (Init_lr_fit, Min_lr_fit).

    ``Init_fit = min(max(bs/nbs*Init_lr, lo), hi)``; ``Min_fit = min(max(bs/nbs*Min_lr, lo*0.01), hi*0.01)``.
    With the reference (sgd, bs=2, Init_lr=7e-3) this gives 8.75e-4 and 8.75e-6. An ``Init_lr``
    outside ``[lo, hi]`` (e.g. 1e6 with SGD, used as 0.1) gives a ``UserWarning``.
    """
    if batch_size < 1 or nbs < 1:
        raise ValueError(f"fit_lr: batch_size={batch_size} and nbs={nbs} must be >= 1")
    lo, hi = lr_limits(optimizer_type, backbone)
    if not lo <= init_lr <= hi:
        # no batch size reaches this Init_lr: the clamp replaces the user's choice, so say so
        bound = "above the upper" if init_lr > hi else "below the lower"
        warnings.warn(f"Init_lr={init_lr:g} is {bound} {optimizer_type} limit [{lo:g}, {hi:g}] of the reference "
                      f"recipe: training uses at most {hi:g} and at least {lo:g} (after the batch/nbs scaling); "
                      f"choose Init_lr within the limits", UserWarning, stacklevel=2)
    init_fit = min(max(batch_size / nbs * init_lr, lo), hi)
    min_fit = min(max(batch_size / nbs * min_lr, lo * 1e-2), hi * 1e-2)
    return init_fit, min_fit


def config_lr(cfg: Any, batch_size: int, backbone: str = "") -> tuple[float, float]:
    """(Init_lr, Min_lr) a `TrainConfig` trains with at `batch_size`: `fit_lr`'s, or as given without ``lr_scaling``."""
    if not cfg.lr_scaling:
        return float(cfg.Init_lr), float(cfg.Min_lr)
    return fit_lr(cfg.Init_lr, cfg.Min_lr, batch_size, cfg.optimizer_type, cfg.nbs, backbone)


@dataclass(frozen=True)
class EpochLR:
    """The reference schedule as a function of the 0-based epoch.

    Args:
        kind: ``"cos"`` (warm-up cosine with a flat tail) or ``"step"`` (10 geometric steps).
        lr: the peak learning rate (``Init_lr_fit``).
        min_lr: the floor (``Min_lr_fit``).
        total: ``T = UnFreeze_Epoch``.
        warmup_epochs: length of the ``"cos"`` warm-up; None: the reference's
            ``min(max(warmup_ratio * T, 1), 3)``; 0: none (the cosine starts at `lr`).
        warmup_lr_ratio: the warm-up starts at ``max(warmup_lr_ratio * lr, 1e-6)``.
    """

    kind: str
    lr: float
    min_lr: float
    total: int
    warmup_ratio: float = 0.1
    warmup_lr_ratio: float = 0.1
    flat_ratio: float = 0.3
    steps: int = 10
    warmup_epochs: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("cos", "step"):
            raise ValueError(f"EpochLR: kind={self.kind!r} must be 'cos' or 'step'")
        if self.total < 1:
            raise ValueError(f"EpochLR: total={self.total} must be >= 1 (UnFreeze_Epoch)")
        if self.warmup_epochs is not None and self.warmup_epochs < 0:
            raise ValueError(f"EpochLR: warmup_epochs={self.warmup_epochs} must be >= 0 (None: the reference's)")

    @property
    def warmup(self) -> float:
        """Epochs of the ``"cos"`` warm-up: the reference's ``min(max(0.1 T, 1), 3)`` unless set."""
        return min(max(self.warmup_ratio * self.total, 1), 3) if self.warmup_epochs is None else self.warmup_epochs

    @property
    def flat(self) -> float:
        """Epochs at the end of the ``"cos"`` schedule held at ``min_lr``: ``min(max(0.3 T, 1), 15)``."""
        return min(max(self.flat_ratio * self.total, 1), 15)

    def __call__(self, epoch: int) -> float:
        T = self.total
        if self.kind == "cos":
            warm, flat = self.warmup, self.flat
            lr0 = max(self.warmup_lr_ratio * self.lr, 1e-6)
            if warm > 0 and epoch <= warm:
                return (self.lr - lr0) * (epoch / float(warm)) ** 2 + lr0
            if epoch >= T - flat:
                return self.min_lr
            return self.min_lr + 0.5 * (self.lr - self.min_lr) * (
                1.0 + math.cos(math.pi * (epoch - warm) / (T - warm - flat))
            )
        rate = (self.min_lr / self.lr) ** (1 / (self.steps - 1))
        size = T / self.steps
        return self.lr * rate ** (epoch // size)

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "EpochLR":
        return cls(**state)


def budget_lr(progress: float, lr: float, min_lr: float, warmup: float = 0.05, warmup_lr_ratio: float = 0.1) -> float:
    """Warm-up + cosine as a function of the position in the run, for a per-step schedule.

    Args:
        progress: the step's position in the run, ``step / expected_steps`` in ``[0, 1]``
            (clipped); 1 is the last step.
        lr: the peak learning rate (``Init_lr_fit``).
        min_lr: the final learning rate (``Min_lr_fit``), reached at ``progress = 1``.
        warmup: the fraction of the run spent rising linearly from ``warmup_lr_ratio * lr``
            to `lr`.
        warmup_lr_ratio: the first step's rate as a fraction of `lr`.

    Returns:
        The learning rate of that step.
    """
    p = min(max(float(progress), 0.0), 1.0)
    if p < warmup:
        lr0 = warmup_lr_ratio * lr
        return lr0 + (lr - lr0) * p / warmup
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * (p - warmup) / (1.0 - warmup)))


def set_optimizer_lr(optimizer: torch.optim.Optimizer, schedule: EpochLR, epoch: int) -> float:
    """Set ``schedule(epoch)`` on every parameter group; return it."""
    lr = schedule(epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


# Steps the reference framework asks for, per optimiser.
_WANTED_STEPS = {"sgd": 15000, "adam": 5000, "adamw": 5000}
# Advice to train more than this many times longer is not advice for the run at hand
# (a smoke test, a quick look, a CPU tutorial), so it is not given.
_MAX_USEFUL_FACTOR = 10
_shown: set[str] = set()


def step_sanity_check(num_train: int, batch_size: int, epochs: int, optimizer_type: str,
                      once: bool = True) -> str | None:
    """The reference's warning when too few optimiser steps are planned, when it helps.

    It is given when the run plans fewer steps than the reference asks of the optimiser
    (SGD 15,000; Adam 5,000) but at least a tenth of them: then about N more epochs is
    advice one can take. A run ten or more times shorter is short on purpose (a smoke test,
    a first look at a CPU), and telling it to train for 1,251 epochs helps no one.

    Args:
        num_train, batch_size, epochs: the planned run (steps = num_train // batch_size * epochs).
        optimizer_type: "sgd", "adam" or "adamw".
        once: say each distinct warning once per process (several seeds of one setup train
            alike); False returns it every time.

    Returns:
        The warning line, or None.
    """
    wanted = _WANTED_STEPS.get(optimizer_type, 5000)
    per_epoch = num_train // batch_size
    total = per_epoch * epochs
    if total >= wanted or total * _MAX_USEFUL_FACTOR < wanted:
        return None
    need = int(wanted // max(per_epoch, 1)) + 1
    msg = (f"[warning] {optimizer_type} should run at least {wanted} steps; this run has "
           f"{num_train}//{batch_size}*{epochs} = {total}. Consider about {need} epochs (--epochs {need}).")
    if once:
        if msg in _shown:
            return None
        _shown.add(msg)
    return msg
