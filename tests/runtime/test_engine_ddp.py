"""DDP under torchrun on CPU (gloo): `segkit train` launched by torchrun equals a script calling
``train``, and the all-reduced metrics equal a single-process evaluation."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from segkit.data import VOCSegmentation
from segkit.engine import evaluate, load_run

REPO = Path(__file__).resolve().parents[2]

# one recipe, given once as `segkit train` options and once as the TrainConfig a script builds
CLI_RECIPE = ["--profile", "quick", "--model", "deeplabv3plus-mobilenetv2", "--epochs", "1", "--device", "cpu",
              "--set", "input_shape=[64,64]", "--set", "Unfreeze_batch_size=4", "--set", "num_workers=0",
              "--set", "max_train_batches=2", "--set", "max_val_images=4", "--set", "sync_bn=true",
              "--set", "ema_decay=0.9"]
SCRIPT = """
import sys
import torch
from segkit.engine import TrainConfig, train

torch.set_num_threads(1)
cfg = TrainConfig.profile("quick").replace(model="deeplabv3plus-mobilenetv2", UnFreeze_Epoch=1, input_shape=[64, 64],
                                           Unfreeze_batch_size=4, num_workers=0, max_train_batches=2,
                                           max_val_images=4, sync_bn=True, ema_decay=0.9)
train(None, cfg, sys.argv[1], sys.argv[2], device="cpu", progress=False, verbose=False)
"""


@pytest.mark.slow
def test_torchrun_two_processes_gloo(synthetic_root, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    cli, api = tmp_path / "cli_run", tmp_path / "api_run"
    launches = [[*torchrun, "-m", "segkit", "train", "--data-root", str(synthetic_root), "--run-dir", str(cli),
                 "--no-progress", *CLI_RECIPE],  # the command docs/scaling.md gives
                [*torchrun, str(script), str(synthetic_root), str(api)]]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for cmd in launches]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out[-3000:]

    model, config, hist, metrics = load_run(cli)
    api_run = load_run(api)
    assert config["world_size"] == api_run.config["world_size"] == 2 and len(hist) == 1
    ckpt = torch.load(cli / "checkpoints" / "last.pt", weights_only=True)
    assert set(ckpt["rng_per_rank"]) == {"0", "1"}  # every rank's RNG is kept for resume
    assert list(hist["weights"]) == ["ema"] and int(ckpt["ema"]["n_averaged"]) > 0  # the average under DDP
    # the CLI launch is the same run as the script's: same fingerprint, same metrics
    assert json.loads((cli / "fingerprint.json").read_text()) == json.loads((api / "fingerprint.json").read_text())
    assert metrics["confusion_matrix"] == api_run.metrics["confusion_matrix"]
    # the DDP evaluation of best.pt (the average; each rank scores half the images, matrices all-reduced)
    # equals one process
    val = VOCSegmentation(synthetic_root, split="val", input_shape=(64, 64))
    m = evaluate(model, val, device="cpu", progress=False)
    assert m.hist.tolist() == metrics["confusion_matrix"]
    assert m.miou == metrics["miou"] == hist["miou"][0]


@pytest.mark.slow
def test_torchrun_one_process_uses_the_process_group(synthetic_root, tmp_path):
    """`torchrun --nproc-per-node 1` takes the multi-process path (how one GPU checks NCCL)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    run = tmp_path / "one"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "segkit",
           "train", "--data-root", str(synthetic_root), "--run-dir", str(run), "--no-progress", *CLI_RECIPE]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    config = load_run(run).config
    assert config["backend"] == "gloo" and config["world_size"] == 1
