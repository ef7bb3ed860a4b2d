"""Timing protocols: warm-up, timed passes with device synchronisation, latency statistics."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Literal

import torch
import torch.nn.functional as F

from segkit._utils import main_logits
from segkit.bench.environment import _sync
from segkit.bench.results import LatencyStats

__all__ = ["time_model", "wait_until_quiet", "PROTOCOLS"]

PROTOCOLS = ("median", "reference")
# (warmup, runs) per protocol when the caller gives None
_PROTOCOL_DEFAULTS = {"median": (5, 30), "reference": (1, 100)}

WARMING_ENV = "SEGKIT_WARMING"  # set by segkit.report.pipeline.kernels in the kernels of a report


def wait_until_quiet(limit_s: float = 120.0) -> None:
    """Wait while the report warms up the next notebook's kernel on this machine (at most `limit_s`).

    ``segkit report`` starts the next notebook's kernel while one runs; its imports would take
    a core from a latency measurement. The flag file named by ``SEGKIT_WARMING`` exists while
    they run; outside a report the variable is unset and this returns at once.
    """
    flag = os.environ.get(WARMING_ENV)
    deadline = time.monotonic() + limit_s
    while flag and Path(flag).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def time_model(
    fn: Callable[[torch.Tensor], Any],
    x: torch.Tensor,
    *,
    warmup: int,
    runs: int,
    protocol: Literal["median", "reference"] = "median",
    postprocess: bool = True,
    after_each: Callable[[], None] | None = None,
) -> LatencyStats:
    """Time ``fn(x)`` (+ softmax + argmax when `postprocess`) under a protocol.

    ``fn`` returns logits (B, K, H, W) as a Tensor (or a list/dict holding them). Each
    timed pass ends with a device synchronisation, so CUDA kernels are included.
    ``after_each`` (e.g. a memory probe) runs after every pass, outside the timed region.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}; got {protocol!r}")
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0; got runs={runs}, warmup={warmup}")
    device = x.device

    def step() -> None:
        out = main_logits(fn(x))
        if postprocess:
            prob = F.softmax(out.float(), dim=1)
            if protocol == "reference":
                # the reference predict code: softmax on the device, argmax in NumPy on the CPU
                prob.permute(0, 2, 3, 1).cpu().numpy().argmax(axis=-1)
            else:
                prob.argmax(dim=1)
        _sync(device)

    wait_until_quiet()
    with torch.no_grad():
        for _ in range(warmup):
            step()
        _sync(device)
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            step()
            samples.append(time.perf_counter() - t0)
            if after_each is not None:
                after_each()
    stat = "mean" if protocol == "reference" else "median"
    return LatencyStats.from_samples(samples, warmup, x.shape[0], stat)
