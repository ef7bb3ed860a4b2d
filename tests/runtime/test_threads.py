"""The thread plan: torch threads, loader workers and OpenCV threads chosen together from the cores."""
from __future__ import annotations

import pytest

from segkit.engine.threads import loader_workers, plan_threads


@pytest.mark.parametrize("cores, workers, threads", [(1, 0, 1), (2, 0, 2), (4, 0, 4), (8, 2, 6), (16, 4, 12),
                                                     (64, 4, 60)])
def test_cpu_plan_never_oversubscribes(cores, workers, threads, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    plan = plan_threads("cpu", cores=cores)
    assert (plan.loader_workers, plan.torch_threads, plan.opencv_threads) == (workers, threads, 1)
    assert plan.torch_threads + plan.loader_workers <= max(cores, 1)  # one process or thread per core


def test_gpu_plan_feeds_the_gpu_and_explicit_values_win(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert plan_threads("cuda", cores=16).loader_workers == 8
    assert plan_threads("cuda", cores=2).loader_workers == 1
    assert plan_threads("cpu", threads=3, workers=1, cores=2) == plan_threads("cpu", threads=3, workers=1, cores=2)
    plan = plan_threads("cpu", threads=3, workers=1, cores=2)
    assert (plan.torch_threads, plan.loader_workers) == (3, 1)
    assert loader_workers(2, "cpu", cores=64) == 2 and loader_workers("auto", "cpu", cores=2) == 0
    assert "2 core(s): 2 torch thread(s), 0 data-loader worker(s)" in plan_threads("cpu", cores=2).describe()


def test_train_prints_the_plan_and_accepts_threads(synthetic_root, tmp_path, capsys):
    import torch

    from segkit.cli import main

    before = torch.get_num_threads()
    try:
        assert main(["train", "--data-root", str(synthetic_root), "--run-dir", str(tmp_path / "run"), "--epochs", "1",
                     "--no-progress", "--threads", "1", "--set", "num_workers=auto", "--set", "max_train_batches=1",
                     "--set", "Unfreeze_batch_size=4", "--set", "precision=fp32"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    workers = plan_threads("cpu", threads=1).loader_workers  # 0 on a machine of up to 4 cores
    assert f"1 torch thread(s), {workers} data-loader worker(s)" in out


def test_launcher_choices_are_kept(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # torchrun sets it; so may the user
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    plan = plan_threads("cpu", cores=16)
    assert (plan.cores, plan.torch_threads, plan.loader_workers) == (8, 1, 2)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert plan_threads("cpu", cores=16).torch_threads == 6  # 8 cores each: 2 workers, 6 threads


def test_a_notebook_takes_the_machines_plan_unless_given_threads(monkeypatch):
    import torch

    import segkit.engine.threads as threads
    from segkit.report import setup_notebook

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 3)
    try:
        setup_notebook(threads=0)  # the run trained in the kernel gets every core
        assert torch.get_num_threads() == 3
        setup_notebook(threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_adam_is_fused_on_the_cpu_and_sgd_is_not():
    import torch.nn as nn

    from segkit.engine import TrainConfig
    from segkit.engine.optim import build_optimizer

    net = nn.Conv2d(3, 4, 3)
    assert build_optimizer(net, TrainConfig(optimizer_type="adam"), 1e-3).defaults["fused"] is True
    assert not build_optimizer(net, TrainConfig(optimizer_type="sgd"), 1e-2).defaults.get("fused")
