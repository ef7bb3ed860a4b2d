"""DDP under torchrun on CPU (gloo): the all-reduced metrics equal a single-process evaluation."""
from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.data import VOCSegmentation
from segkit.engine import evaluate, load_run

REPO = Path(__file__).resolve().parents[1]


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Conv2d(8, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.head(self.backbone(x)), size=x.shape[-2:], mode="bilinear", align_corners=False)


SCRIPT = """
import sys
import torch
import torch.nn as nn
import torch.nn.functional as F
from segkit.engine import TrainConfig, train

torch.set_num_threads(1)
{tiny}

torch.manual_seed(0)
cfg = TrainConfig(input_shape=[64, 64], UnFreeze_Epoch=1, Unfreeze_batch_size=4, Init_lr=0.1, num_workers=0,
                  eval_period=1, sync_bn=True, device="cpu", ema_decay=0.9)
train(TinyNet(), cfg, sys.argv[1], sys.argv[2], progress=False, verbose=False)
"""


@pytest.mark.slow
def test_torchrun_two_processes_gloo(synthetic_root, tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT.format(tiny=textwrap.dedent(inspect.getsource(TinyNet))))
    run = tmp_path / "ddp_run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    res = subprocess.run([*torchrun, str(script), str(synthetic_root), str(run)], env=env, capture_output=True,
                         text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]

    model, config, hist, metrics = load_run(run, model=TinyNet())
    assert config["world_size"] == 2 and len(hist) == 1
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert set(ckpt["rng_per_rank"]) == {"0", "1"}  # every rank's RNG is kept for resume
    assert list(hist["weights"]) == ["ema"] and int(ckpt["ema"]["n_averaged"]) > 0  # the average under DDP
    # the DDP evaluation of best.pt (the average; each rank scores half the images, matrices all-reduced)
    # equals one process
    val = VOCSegmentation(synthetic_root, split="val", input_shape=(64, 64))
    m = evaluate(model, val, device="cpu", progress=False)
    assert m.hist.tolist() == metrics["confusion_matrix"]
    assert m.miou == metrics["miou"] == hist["miou"][0]
