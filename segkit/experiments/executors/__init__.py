"""Executors: where the runs of an experiment grid train, with one API and the same results.

``run_experiment(..., executor="local" | "slurm")`` builds one :class:`RunJob` per entry and
seed and hands the list to an executor:

- ``local`` (:class:`LocalExecutor`): this process, or ``workers`` processes, one
  per GPU on a multi-GPU machine;
- ``slurm`` (:class:`SlurmExecutor`): one Slurm job per run through submitit, requeued and
  resumed from ``last.pt`` after preemption or timeout.

Both write the same run directories (``segkit.runs``) through ``ensure_run``, so the
tables read from them do not depend on the executor.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from segkit.experiments.executors.base import Executor, RunJob, train_run
from segkit.experiments.executors.local import LocalExecutor, gpu_slots, visible_gpus
from segkit.experiments.executors.slurm import SlurmExecutor, TrainTask, parse_mem, parse_time

__all__ = ["Executor", "RunJob", "train_run", "LocalExecutor", "SlurmExecutor", "TrainTask", "make_executor",
           "visible_gpus", "gpu_slots", "parse_time", "parse_mem", "EXECUTORS"]

EXECUTORS = ("local", "slurm")


def make_executor(executor: str | Executor | None = "local", options: Mapping[str, Any] | None = None,
                  workers: int = 1, device: str = "auto", runs_dir: str | Path = "runs",
                  verbose: bool = False) -> Executor:
    """The executor `executor` names, configured.

    Args:
        executor: "local", "slurm", or a ready :class:`Executor` (returned as it is).
        options: "slurm": :class:`SlurmExecutor` fields (partition, gpus, time, mem, cpus, ...);
            "local": ``gpus`` (ids to pin the processes to).
        workers: local: runs at once (one per GPU on a multi-GPU machine).
        device: the runs' device (local: decides which GPUs are used).
        runs_dir: the report's runs folder; Slurm logs go to ``<runs_dir>/.slurm/<job id>/``.
        verbose: local, one run at a time: the trainer's epoch lines and progress bars.

    Raises:
        ValueError: an unknown executor name or option.
    """
    if isinstance(executor, Executor):
        return executor
    name = "local" if executor in (None, "") else str(executor)
    opts = dict(options or {})
    if name == "local":
        unknown = sorted(set(opts) - {"gpus"})
        if unknown:
            raise ValueError(f"executor_options {unknown} do not apply to the local executor (it takes: gpus)")
        return LocalExecutor(workers=workers, gpus=opts.get("gpus"), device=device, verbose=verbose)
    if name == "slurm":
        return SlurmExecutor.from_options(opts, folder=Path(runs_dir) / ".slurm")
    raise ValueError(f"executor={executor!r} is unknown; choose one of {list(EXECUTORS)}")
