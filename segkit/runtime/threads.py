"""How many CPU threads and data-loader workers a process uses: chosen from the machine, printed.

On a small CPU torch's defaults oversubscribe it: torch's intra-op pool takes a thread per
core, every DataLoader worker is one more process, and OpenCV (the augmentation) starts its
own pool of a thread per core in each of them. On 2 cores a newcomer's training ran 22 steps
in 42 s with the defaults and 49 in 35 s with one torch thread and no workers
(``benchmarks/bench_threads.py`` measures the choices side by side). The plan counts them
together: the loader's workers take cores first (on a GPU they keep it fed), torch gets the
rest, and OpenCV runs one thread per process (each call is a small image; its pool would
only compete with torch's).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["ThreadPlan", "usable_cores", "plan_threads", "apply_threads", "loader_workers"]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under taskset or Slurm)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPlan:
    """torch threads, loader workers and OpenCV threads for one process on `cores` cores."""

    cores: int
    torch_threads: int
    loader_workers: int
    opencv_threads: int = 1

    def describe(self) -> str:
        return (f"{self.cores} core(s): {self.torch_threads} torch thread(s), {self.loader_workers} data-loader "
                f"worker(s), {self.opencv_threads} OpenCV thread(s) (--threads N and --set num_workers=N override)")


def loader_workers(workers: int | str, device_type: str = "cpu", cores: int | None = None) -> int:
    """``num_workers``: an int as given, or for ``"auto"``: on a GPU most cores (up to 8) so
    the loader keeps ahead of it; on a CPU none up to 4 cores (loading a small image costs far
    less than the step it would take a core from), then a quarter of the cores (up to 4)."""
    if workers != "auto":
        return int(workers)
    cores = cores or usable_cores()
    if device_type == "cuda":
        return min(8, max(cores - 1, 0))
    return 0 if cores <= 4 else min(4, cores // 4)


def plan_threads(device_type: str = "cpu", threads: int | None = None, workers: int | str = "auto",
                 cores: int | None = None) -> ThreadPlan:
    """The plan for a training or evaluation process.

    Args:
        device_type: "cpu", "cuda" or "mps".
        threads: torch threads (None: ``OMP_NUM_THREADS`` when set, else the cores the loader's
            workers leave, at least 1; under torchrun the cores are shared by its local processes).
        workers: ``TrainConfig.num_workers`` (an int or "auto").
        cores: the usable cores (default: :func:`usable_cores`).
    """
    cores = cores or usable_cores()
    if not threads and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        threads = int(os.environ["OMP_NUM_THREADS"])  # the user's or the launcher's (torchrun) choice
    cores = max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))  # torchrun: shared by its processes
    n_workers = loader_workers(workers, device_type, cores)
    n_threads = int(threads) if threads else max(1, cores - (n_workers if device_type == "cpu" else 0))
    if n_threads < 1:
        raise ValueError(f"threads={threads} must be a positive number of torch threads")
    return ThreadPlan(cores, n_threads, n_workers)


def apply_threads(plan: ThreadPlan) -> None:
    """Set torch's and OpenCV's thread counts in this process."""
    import torch

    torch.set_num_threads(plan.torch_threads)
    set_opencv_threads(plan.opencv_threads)


def set_opencv_threads(n: int) -> Any:
    """OpenCV's pool size (a loader worker calls it with 1); nothing when OpenCV is missing."""
    try:
        import cv2
    except ImportError:
        return None
    cv2.setNumThreads(int(n))
    return n
