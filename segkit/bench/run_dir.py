"""Write a run directory's ``bench.json``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

from segkit.bench.profile import profile

__all__ = ["write_run_bench"]


def write_run_bench(
    run_dir: str | os.PathLike,
    model: nn.Module,
    input_shape: Sequence[int] = (1, 3, 512, 512),
    device: str | torch.device = "cpu",
    **profile_kwargs: Any,
) -> Path:
    """Profile `model` and write the run directory's ``bench.json`` (see ``segkit.runs``)."""
    from segkit.runs import RunDir

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run_dir {str(run_dir)!r} is not a directory; create the run first")
    profile_kwargs.setdefault("name", run_dir.name)
    return profile(model, input_shape, device, **profile_kwargs).save(RunDir(run_dir).bench_path)
