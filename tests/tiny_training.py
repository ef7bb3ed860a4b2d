"""The tiny training run the engine tests share (not a test file: imported by them).

`TinyNet` is a 2-conv network (~1k parameters) that trains 2 epochs on the 24-image 64x64
synthetic set in about a second: resume, faults, the run directory and the training options are
tested on it, in tests/training, tests/runs and tests/runtime.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.engine import Callback, TrainConfig, train


class TinyNet(nn.Module):
    """conv-bn-relu (backbone, stride 2) + dropout + 1x1 head, upsampled to the input size."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        )
        self.drop = nn.Dropout2d(0.1)  # exercises the RNG in resume tests
        self.head = nn.Conv2d(8, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.head(self.drop(self.backbone(x))), size=x.shape[-2:], mode="bilinear",
                             align_corners=False)


def tiny_cfg(**kw) -> TrainConfig:
    base = dict(input_shape=[64, 64], UnFreeze_Epoch=2, Unfreeze_batch_size=4, Init_lr=0.1, num_workers=0,
                eval_period=1, save_period=1, focal_loss=True, dice_loss=True, cls_weights=[1, 2, 3])
    base.update(kw)
    return TrainConfig(**base)


def tiny_model(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet()


def run_tiny(root, run_dir, cfg=None, **kw) -> Path:
    torch.manual_seed(0)  # weights_init draws from the global RNG
    return train(tiny_model(), cfg or tiny_cfg(), root, run_dir, progress=False, verbose=False, **kw)


def equal_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class StopAfter(Callback):
    def __init__(self, epoch: int, step: int | None = None, exc: type[BaseException] = RuntimeError) -> None:
        self.epoch, self.step, self.exc = epoch, step, exc

    def on_step_end(self, state) -> None:
        if self.step is not None and state.epoch == self.epoch and state.step == self.step:
            raise self.exc("simulated interruption")

    def on_epoch_end(self, state) -> None:
        if self.step is None and state.epoch == self.epoch:
            raise self.exc("simulated crash after the epoch")
