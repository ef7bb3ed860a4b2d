"""The trainer's side of rare-class training: sampling probabilities and crops from the config.

`setup_rare` reads the training masks once (when ``rare_sampling`` or ``train_crop`` is on),
computes DAFormer's class probabilities at ``rare_temperature`` (:mod:`segkit.data.rare`),
puts a `RareCrop` on the training set for ``train_crop`` and returns a `RareSetup` that draws
each epoch's image order for ``rare_sampling``. Its `record` goes into ``config.yaml`` and
its per-image probabilities into ``rare_sampling.json``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segkit.data.rare import (RareCrop, class_probabilities, defect_free, image_class_counts, image_probabilities,
                              sample_indices, sampling_needed)

__all__ = ["RareSetup", "setup_rare"]


@dataclass
class RareSetup:
    """Class probabilities of the training set and, with ``rare_sampling``, its image probabilities."""

    class_names: list[str]
    frequency: np.ndarray
    class_probs: np.ndarray
    image_probs: np.ndarray | None
    ids: list[str]
    temperature: float
    rule: str = ""  # why sampling is on or off under rare_sampling: auto
    free: np.ndarray | None = None  # which training images are labelled with the background only

    def order(self, num_images: int, epoch: int, rank: int, world: int, seed: int) -> list[int]:
        """This rank's image indices for `epoch`: ``num_images // world`` drawn with the image probabilities."""
        assert self.image_probs is not None  # internal: called only with rare_sampling on
        drawn = sample_indices(self.image_probs, num_images, seed * 1_000_003 + epoch)
        return drawn[rank::world][: num_images // world]

    def record(self) -> dict[str, Any]:
        """The class frequencies and probabilities, for ``config.yaml``."""
        rule = {"sampling_rule": self.rule} if self.rule else {}
        free = {}
        if self.free is not None and self.free.any():  # the draws' share read from the probabilities used
            drawn = self.image_probs[self.free].sum() if self.image_probs is not None else self.free.mean()
            free = {"defect_free_images": round(float(self.free.mean()), 4), "defect_free_draws": round(float(drawn), 4)}
        return {"temperature": self.temperature, "sampling": self.image_probs is not None, **rule, **free,
                "class_frequency": {n: round(float(f), 6) for n, f in zip(self.class_names, self.frequency)},
                "class_probability": {n: round(float(p), 6) for n, p in zip(self.class_names, self.class_probs)}}

    def image_record(self) -> dict[str, Any]:
        """Per-image sampling probabilities (``rare_sampling.json``)."""
        probs = self.image_probs if self.image_probs is not None else np.full(len(self.ids), 1 / max(len(self.ids), 1))
        return {**self.record(), "image_probability": {i: float(p) for i, p in zip(self.ids, probs)}}

    def write(self, path: Path) -> None:
        """Write `image_record` as JSON (``rare_sampling.json`` in the run directory)."""
        Path(path).write_text(json.dumps(self.image_record(), indent=1) + "\n", encoding="utf-8")


def setup_rare(cfg: Any, train_ds: Any, num_classes: int, class_names: list[str]) -> RareSetup | None:
    """The `RareSetup` of a `TrainConfig` (None when neither ``rare_sampling`` nor ``train_crop`` is on).

    With ``train_crop`` the training set's ``augment`` becomes a `RareCrop` at ``input_shape``.

    Raises:
        ValueError: ``train_crop`` with a dataset that has no ``augment`` attribute.
    """
    if not (cfg.rare_sampling or cfg.train_crop):
        return None
    counts = image_class_counts(train_ds, num_classes, cfg.ignore_index)
    sampling, rule = bool(cfg.rare_sampling), ""
    if cfg.rare_sampling == "auto":
        sampling, rule = sampling_needed(counts, class_names)
    probs = class_probabilities(counts, cfg.rare_temperature)
    if cfg.train_crop:
        if not hasattr(train_ds, "augment"):
            raise ValueError(f"TrainConfig.train_crop=True needs a dataset with an `augment` transform (a "
                             f"segkit.data.VOCSegmentation), not {type(train_ds).__name__}; set train_crop=false")
        train_ds.augment = RareCrop(cfg.input_shape, probs, cfg.crop_rare_prob, scale=(0.75, 1.25),
                                    mask_fill=getattr(train_ds, "mask_fill", 255), crop_scale=cfg.crop_scale)
    totals = counts.sum(0).astype(np.float64)
    return RareSetup(class_names=list(class_names), frequency=totals / max(totals.sum(), 1), class_probs=probs,
                     image_probs=image_probabilities(counts, probs) if sampling else None,
                     ids=[str(i) for i in getattr(train_ds, "ids", range(len(train_ds)))],
                     temperature=cfg.rare_temperature, rule=rule, free=defect_free(counts))
