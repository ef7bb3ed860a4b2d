"""`Recipe`: what a `TrainConfig` trains with, as facts a methods section states.

The learning rates are the ones training uses (``schedule.config_lr``: ``Init_lr`` times
batch / ``nbs``, clamped to the optimiser's limits, unless ``lr_scaling`` is off), the warm-up
and the flat tail are the schedule's own (``EpochLR``), the loss terms are the ones
``SegLoss`` adds up. ``TrainConfig.summary()`` is its one-line form; the report's training
paragraph (``segkit.report.methods.training_section``) is its sentence form.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from segkit.data.rare import RARE_IMAGE_SHARE

__all__ = ["Recipe", "recipe_of"]


@dataclass(frozen=True)
class Recipe:
    """The training recipe of a config, in the terms a paper uses.

    Attributes:
        optimizer: "sgd", "adam" or "adamw"; ``momentum`` (SGD's Nesterov momentum or Adam's
            beta1) and ``weight_decay``.
        init_lr, min_lr: the configured ``Init_lr`` / ``Min_lr``.
        lr, final_lr: the peak and final learning rates training uses.
        batch_size, nbs: the (unfrozen) batch and the nominal batch of the scaling.
        lr_scaling: rates scaled by ``batch_size / nbs`` (else used as given).
        scaled_lr: ``batch_size / nbs * init_lr`` (before the limits).
        limits: the optimiser's ``(lo, hi)`` limits on the peak rate.
        clamped: the scaled peak rate lay outside `limits`, so a limit replaced it.
        schedule: "cos" or "step"; ``epochs``; ``warmup`` and ``flat`` epochs of "cos";
            ``warmup_lr_ratio`` its starting share.
        time_limit: seconds of training (warm-up + cosine per step over what fits), or None.
        freeze_epochs, freeze_batch: a frozen-backbone first stage (None: none).
        losses: ``(name, parameters)`` of the terms added up, e.g. ``("Focal", "alpha 0.5, gamma 2")``.
        class_weights: the per-class weights of the CE/Focal term ("auto": from the masks; None: none).
        input_shape, seed, init, pretrained, precision, ema, early_stop, grad_clip: as configured.
    """

    optimizer: str
    momentum: float
    weight_decay: float
    init_lr: float
    min_lr: float
    lr: float
    final_lr: float
    batch_size: int
    nbs: int
    lr_scaling: bool
    scaled_lr: float
    limits: tuple[float, float]
    clamped: bool
    schedule: str
    epochs: int
    warmup: float
    flat: float
    warmup_lr_ratio: float
    time_limit: float | None
    freeze_epochs: int | None
    freeze_batch: int
    losses: tuple[tuple[str, str], ...]
    class_weights: Any
    input_shape: tuple[int, int]
    seed: int
    init: str
    pretrained: str
    precision: str
    ema: float | None
    early_stop: int | None
    grad_clip: float | None

    def one_line(self, cfg: Any) -> str:
        """The recipe in one line (``TrainConfig.summary()``), the rates those training uses."""
        optimizer = {"sgd": f"SGD (Nesterov, momentum {self.momentum:g})", "adam": "Adam",
                     "adamw": "AdamW"}[self.optimizer]
        schedule = {"cos": "cosine", "step": "step"}[self.schedule]
        short = {"Focal": "focal", "OHEM CE": f"OHEM CE ({cfg.ohem_thresh:g})" if cfg.ohem_thresh else ""}
        loss = " + ".join(short.get(n, n) for n, _ in self.losses)
        loss += (f", rare-class sampling when a class is in under {100 * RARE_IMAGE_SHARE:g} % of the images"
                 if cfg.rare_sampling == "auto"
                 else f", rare-class sampling (T={cfg.rare_temperature:g})" if cfg.rare_sampling else "")
        scale = ("a scale where a crop covers half the image" if cfg.crop_scale == "auto"
                 else f"{cfg.crop_scale:g}x resolution")
        loss += f", crops at {scale} ({cfg.crop_rare_prob:g} on a rare class)" if cfg.train_crop else ""
        weights = self.class_weights if self.class_weights is not None else "none"
        budget = f" or {self.time_limit:g} s (the schedule fitted to the steps that fit)" if self.time_limit else ""
        freeze = f", backbone frozen for {self.freeze_epochs}" if self.freeze_epochs is not None else ""
        extras = "".join([f", warm-up {cfg.warmup_epochs:g} epochs" if cfg.warmup_epochs else "",
                          f", EMA {self.ema:g}" if self.ema is not None else "",
                          f", early stop after {self.early_stop} evaluations without gain"
                          if self.early_stop is not None else ""])
        notes = [schedule] if self.final_lr != self.lr else []  # a constant rate has no decay to name
        if (self.lr, self.final_lr) != (self.init_lr, self.min_lr):
            notes.append(f"Init_lr {self.init_lr:g} x batch {self.batch_size} / nbs {self.nbs}, clamped to the "
                         f"{self.optimizer} limits")
        rate = (f"lr {self.lr:g} {'after a warm-up' if self.warmup else 'from the first step'}"
                if self.final_lr == self.lr
                else f"lr {self.lr:g} -> {self.final_lr:g}") + (f" ({'; '.join(notes)})" if notes else "")
        return (f"{optimizer}, {rate}, weight decay {self.weight_decay:g}, "
                f"{self.epochs} epochs{budget}{freeze}, batch {self.batch_size}, "
                f"{self.input_shape[0]}x{self.input_shape[1]}, {loss}, class weights {weights}{extras}")


def _losses(cfg: Any) -> tuple[tuple[str, str], ...]:
    """The terms ``SegLoss`` adds up for `cfg`, each with its parameters (from ``SegLoss``'s defaults)."""
    from segkit.losses import SegLoss

    d = {k: v.default for k, v in inspect.signature(SegLoss.__init__).parameters.items()}
    if cfg.focal_loss:
        out = [("Focal", f"alpha {d['alpha']:g}, gamma {d['gamma']:g}")]
    elif cfg.ohem_thresh:
        out = [("OHEM CE", f"p_true < {cfg.ohem_thresh:g}")]
    else:
        out = [("CE", "")]
    if cfg.dice_loss:
        out.append(("Dice", f"beta {d['beta']:g}, smooth {d['smooth']:g}"))
    if cfg.lovasz_loss:
        out.append(("Lovász", ""))
    return tuple(out)


def recipe_of(cfg: Any, model: str | None = None) -> Recipe:
    """The :class:`Recipe` of a ``TrainConfig``.

    Args:
        cfg: the config.
        model: the model's registry name when it is not ``cfg.model`` (the learning-rate limits
            depend on the backbone: Xception has its own); ``cfg.backbone`` wins when set.
    """
    from segkit.training.schedule import EpochLR, config_lr, lr_limits

    backbone = cfg.backbone or model or cfg.model
    bs = int(cfg.Unfreeze_batch_size)
    lr, final = config_lr(cfg, bs, backbone)
    lo, hi = lr_limits(cfg.optimizer_type, backbone)
    scaled = bs / cfg.nbs * cfg.Init_lr
    sched = EpochLR(cfg.lr_decay_type, lr, final, int(cfg.UnFreeze_Epoch), warmup_lr_ratio=cfg.warmup_lr_ratio,
                    warmup_epochs=cfg.warmup_epochs)
    if cfg.model_path:
        init = f"weights of {cfg.model_path}"
    elif cfg.init_type == "none":
        init = "PyTorch's default initialisation"
    else:
        init = f"{cfg.init_type} initialisation (gain {cfg.init_gain:g})"
    return Recipe(
        optimizer=cfg.optimizer_type, momentum=float(cfg.momentum), weight_decay=float(cfg.weight_decay),
        init_lr=float(cfg.Init_lr), min_lr=float(cfg.Min_lr), lr=float(lr), final_lr=float(final), batch_size=bs,
        nbs=int(cfg.nbs), lr_scaling=bool(cfg.lr_scaling), scaled_lr=float(scaled), limits=(lo, hi),
        clamped=bool(cfg.lr_scaling) and not lo <= scaled <= hi, schedule=cfg.lr_decay_type,
        epochs=int(cfg.UnFreeze_Epoch), warmup=float(sched.warmup), flat=float(sched.flat),
        warmup_lr_ratio=float(cfg.warmup_lr_ratio), time_limit=cfg.time_limit,
        freeze_epochs=int(cfg.Freeze_Epoch) if cfg.Freeze_Train else None, freeze_batch=int(cfg.Freeze_batch_size),
        losses=_losses(cfg), class_weights=cfg.cls_weights, input_shape=(int(cfg.input_shape[0]), int(cfg.input_shape[1])),
        seed=int(cfg.seed), init=init, pretrained=cfg.pretrained or "", precision=str(cfg.precision),
        ema=cfg.ema_decay, early_stop=cfg.early_stop_patience, grad_clip=cfg.grad_clip)
