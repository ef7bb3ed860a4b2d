"""`AdaptConfig`: the settings of a domain-adaptation run (the source recipe is a `TrainConfig`).

The defaults are the official Trans4PASS values (Zhang et al., "Bending Reality:
Distortion-aware Transformers for Adapting to Panoramic Semantic Segmentation", CVPR 2022,
https://arxiv.org/abs/2203.01452; code https://github.com/jamycheung/Trans4PASS,
``adaptations/train_mpa.py`` and ``adaptations/gen_pseudo_label.py``):

- loss weights: pseudo-label cross-entropy 1 (``LAMBDA_SSL``), MPA feature losses 0.001 on
  the source and 0.001 on the target (``LAMBDA_KL_S``, ``LAMBDA_KL_T``);
- prototype memory: EMA momentum 0.999 (``MOMENTUM_MEM``), one EMA step per 100
  iterations (``ITER_UPDATE_MEM``);
- pseudo-labels: softmax averaged over the scales 0.5-1.75; per class, the threshold is the
  median confidence of the pixels predicted as that class, capped at 0.9.

Not reproduced: the official adaptation also trains an output-space discriminator
(adversarial weight 0.001); segkit's adaptation has no adversarial term. The official
optimiser (SGD, lr 2.5e-6, poly schedule over 100k iterations from pretrained weights) is
tied to that scale, so adaptation here uses the source recipe's optimiser type with ``lr``
(default: the recipe's ``Init_lr``, batch-scaled unless ``lr_scaling`` is off) and the official
schedule: polynomial decay ``lr * (1 - step / steps) ** 0.9`` per step, no warm-up (the model
starts trained).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from segkit._typecheck import coerce_fields
from segkit._utils import did_you_mean

__all__ = ["AdaptConfig", "OFFICIAL_SCALES"]

OFFICIAL_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


@dataclass
class AdaptConfig:
    """Everything the adaptation stages need besides the source recipe (`TrainConfig`).

    Attributes:
        epochs: adaptation epochs; one epoch is one pass over the target training images.
        batch_size: images per domain per step (None: the recipe's ``Unfreeze_batch_size``).
        lr: initial learning rate of the adaptation (None: the recipe's ``Init_lr``, batch-scaled
            unless ``lr_scaling`` is off).
        lr_power: power of the per-step polynomial decay (official 0.9).
        lambda_ssl: weight of the pseudo-label cross-entropy on the target (official 1).
        lambda_kl_s, lambda_kl_t: weights of the MPA feature losses on source and target
            (official 0.001 each).
        memory_momentum: EMA momentum of the prototype memory (official 0.999).
        memory_update_every: steps between EMA steps of the memory (official 100).
        pseudo_quantile: per-class threshold = this quantile of the confidences of the
            pixels predicted as the class (official 0.5, the median).
        pseudo_max_threshold: cap of every class threshold (official 0.9).
        pseudo_scales: input scales averaged for the pseudo-labels (official 0.5-1.75).
        feature_layer: where MPA reads pixel features: "" (automatic, see
            ``segkit.adapt.features``), a ``cam_layers`` role or a module path.
        target_train_split: the target's unlabelled training split.
        target_test_split: the target's labelled split that scores both models.
        max_train_batches: cap on steps per adaptation epoch (smoke runs).
    """

    epochs: int = 10
    batch_size: int | None = None
    lr: float | None = None
    lr_power: float = 0.9
    lambda_ssl: float = 1.0
    lambda_kl_s: float = 0.001
    lambda_kl_t: float = 0.001
    memory_momentum: float = 0.999
    memory_update_every: int = 100
    pseudo_quantile: float = 0.5
    pseudo_max_threshold: float = 0.9
    pseudo_scales: list[float] = field(default_factory=lambda: list(OFFICIAL_SCALES))
    feature_layer: str = ""
    target_train_split: str = "train"
    target_test_split: str = "test"
    max_train_batches: int | None = None

    def __post_init__(self) -> None:
        coerce_fields(self)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, the value and the valid range."""
        if self.epochs < 1:
            raise ValueError(f"AdaptConfig.epochs={self.epochs} must be >= 1")
        for name in ("batch_size", "max_train_batches"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"AdaptConfig.{name}={v} must be >= 1 or None")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"AdaptConfig.lr={self.lr} must be > 0 or None (the recipe's Init_lr)")
        if self.lr_power < 0:
            raise ValueError(f"AdaptConfig.lr_power={self.lr_power} must be >= 0 (0: constant lr; official 0.9)")
        for name in ("lambda_ssl", "lambda_kl_s", "lambda_kl_t"):
            if getattr(self, name) < 0:
                raise ValueError(f"AdaptConfig.{name}={getattr(self, name)} must be >= 0 (0 turns the loss off)")
        if not 0.0 <= self.memory_momentum < 1.0:
            raise ValueError(f"AdaptConfig.memory_momentum={self.memory_momentum} must be in [0, 1) (official 0.999)")
        if self.memory_update_every < 1:
            raise ValueError(f"AdaptConfig.memory_update_every={self.memory_update_every} must be >= 1 (official 100)")
        if not 0.0 <= self.pseudo_quantile <= 1.0:
            raise ValueError(f"AdaptConfig.pseudo_quantile={self.pseudo_quantile} must be in [0, 1] (official 0.5)")
        if not 0.0 <= self.pseudo_max_threshold <= 1.0:
            raise ValueError(f"AdaptConfig.pseudo_max_threshold={self.pseudo_max_threshold} must be in [0, 1] "
                             "(official 0.9)")
        if not self.pseudo_scales or min(self.pseudo_scales) <= 0:
            raise ValueError(f"AdaptConfig.pseudo_scales={self.pseudo_scales} must be positive scales, e.g. [1.0]")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "AdaptConfig":
        """Build from a dict; unknown keys raise ``ValueError`` with a did-you-mean."""
        data = dict(data or {})
        names = [f.name for f in dataclasses.fields(cls)]
        bad = [k for k in data if k not in names]
        if bad:
            hints = "".join(did_you_mean(k, names) for k in bad)
            raise ValueError(f"unknown AdaptConfig key(s) {bad}.{hints} Valid keys: {', '.join(names)}")
        return cls(**data)

    def replace(self, **overrides: Any) -> "AdaptConfig":
        """A copy with fields changed (unknown names raise with a did-you-mean)."""
        return AdaptConfig.from_dict({**self.to_dict(), **overrides})
