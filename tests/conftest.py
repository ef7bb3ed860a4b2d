"""Shared fixtures: a small synthetic wire-rope dataset and the CamVid path."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # tests run under xdist on a 2-core machine
os.environ.setdefault("OMP_NUM_THREADS", "1")  # and so do the processes they start (CLI, kernels): no oversubscription

REPO = Path(__file__).resolve().parents[1]
CAMVID = Path(os.environ.get("SEGKIT_CAMVID", REPO.parent / "shared" / "datasets" / "camvid"))


# `make test` hands whole files to two workers in the order collected (--dist loadfile
# --no-loadscope-reorder): the longest files go first, so that none of them starts last and leaves
# the other worker idle (the workers ended 74 s apart in a 524 s suite before, 12 s after).
# Measured on the 2-core machine, longest first.
SLOWEST_FIRST = ["notebooks/test_notebooks.py", "report/test_browser.py", "report/test_report_camvid.py",
                 "models/test_all_models.py", "report/test_report.py", "experiments/test_executors.py",
                 "runtime/test_precision.py", "runtime/test_engine_ddp.py", "commands/test_bad_input.py",
                 "cam/test_cam.py", "models/test_zoo_models.py", "commands/test_cli.py", "training/test_engine.py"]


def pytest_collection_modifyitems(config, items):
    """Files longest first (above); tests marked `cuda` need a GPU: skipped where none is visible."""
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    tests = Path(__file__).parent
    items.sort(key=lambda item: rank.get(item.path.relative_to(tests).as_posix(), len(rank))  # stable
               if item.path.is_relative_to(tests) else len(rank))  # a file given from outside tests/: last
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (run benchmarks/gpu_check.py on a GPU machine)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """24 synthetic wire-rope images at 64x64, VOC layout with train/val splits."""
    from segkit.data import make_synthetic_wirerope

    root = tmp_path_factory.mktemp("wirerope") / "wirerope"
    make_synthetic_wirerope(root, n_images=24, size=64, seed=0)
    return root


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    if not (CAMVID / "ImageSets" / "Segmentation" / "train.txt").is_file():
        pytest.skip(f"CamVid not found at {CAMVID} (set SEGKIT_CAMVID); it ships only with the dev workspace")
    return CAMVID
