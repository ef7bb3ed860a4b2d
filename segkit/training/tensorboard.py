"""TensorBoard event files of a training run (``TrainConfig.tensorboard``), written by a callback.

Each run writes ``<run_dir>/tensorboard/``, so ``tensorboard --logdir runs/`` shows every run:
the numbers of ``history.csv`` per epoch (``history/<column>``), the learning rate and the
loss per step (``step/lr``, ``step/loss``) and, after each evaluation, a few validation images
beside their ground truth and prediction (``predictions``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from segkit.training.hooks import Callback, TrainState

__all__ = ["TensorBoardWriter", "tensorboard_writer"]


def tensorboard_writer(log_dir: Any, val_ds: Any, n_images: int = 3, say: Any = print) -> "TensorBoardWriter | None":
    """A `TensorBoardWriter`, or None (said once) when the ``tensorboard`` package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency; an environment without it still trains
        say("[segkit] no TensorBoard events: the tensorboard package is not installed (pip install tensorboard)")
        return None
    return TensorBoardWriter(SummaryWriter(log_dir=str(log_dir)), val_ds, n_images)


class TensorBoardWriter(Callback):
    """Writes a run's scalars and validation predictions through a ``SummaryWriter``.

    Args:
        writer: a ``torch.utils.tensorboard.SummaryWriter``.
        val_ds: the validation dataset (letterboxed items ``(image, mask)``).
        n_images: validation images shown after each evaluation.
    """

    def __init__(self, writer: Any, val_ds: Any, n_images: int = 3) -> None:
        self.writer, self.val_ds = writer, val_ds
        self.n_images = min(n_images, len(val_ds))

    def on_step_end(self, state: TrainState) -> None:
        step = state.epoch * state.steps_per_epoch + state.step
        self.writer.add_scalar("step/lr", state.optimizer.param_groups[0]["lr"], step)
        self.writer.add_scalar("step/loss", state.loss, step)

    def on_epoch_end(self, state: TrainState) -> None:
        epoch = int(state.row.get("epoch", state.epoch + 1))
        for key, value in state.row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.writer.add_scalar(f"history/{key}", value, epoch)
        if "miou" in state.row and self.n_images:  # an evaluation epoch
            self.writer.add_image("predictions", self._predictions(state.model), epoch, dataformats="HWC")
        self.writer.flush()

    def on_train_end(self, state: TrainState) -> None:
        self.writer.close()

    def _predictions(self, model: torch.nn.Module) -> np.ndarray:
        """One row per image: the image, its ground truth and the prediction in class colours."""
        from segkit._utils import main_logits
        from segkit.data.palette import colorize_mask

        palette = getattr(self.val_ds, "palette", None)
        void = getattr(self.val_ds, "ignore_index", 255)
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        pairs = [self.val_ds[i] for i in range(self.n_images)]
        xs = [x for x, _ in pairs]
        batches = [torch.stack(xs)] if all(x.shape == xs[0].shape for x in xs) else [x[None] for x in xs]
        with torch.no_grad():  # one forward pass when the images share a size (a letterboxed val split)
            preds = [p for b in batches for p in main_logits(model(b.to(device))).argmax(1).cpu().numpy()]
        model.train(was_training)
        rows = [np.concatenate([(x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8),
                                colorize_mask(y.numpy(), palette, void), colorize_mask(pred, palette, void)], axis=1)
                for (x, y), pred in zip(pairs, preds)]
        return np.concatenate(rows, axis=0)
