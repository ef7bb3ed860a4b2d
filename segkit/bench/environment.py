"""Device helpers for timing: input-shape check, synchronisation, and the environment record."""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from segkit._utils import resolve_device

__all__ = ["environment"]


def _check_shape(input_shape: Sequence[int]) -> tuple[int, int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"input_shape must be (B, C, H, W) with positive sizes; got {tuple(input_shape)}")
    return shape  # type: ignore[return-value]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def environment(device: str | torch.device = "cpu") -> dict[str, Any]:
    """Versions, device name, thread counts and backend flags that affect timings."""
    import segkit

    dev = resolve_device(device)
    env: dict[str, Any] = {
        "device": str(dev),
        "device_name": _device_name(dev),
        "torch": torch.__version__,
        "segkit": segkit.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if dev.type == "cuda":
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
        env["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
        env["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
    return env
