"""What every executor runs: a list of training runs, each written into its own run directory.

An executor only decides *where* a run trains (this process, a pool of local processes, a
Slurm job). *What* happens is the same everywhere: :func:`train_run` calls
``segkit.experiments.runs.ensure_run``, which reuses an identical complete run, resumes an
interrupted one from its ``last.pt`` and otherwise trains. The run directories, their
fingerprints and therefore the report's tables do not depend on the executor.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from segkit.experiments.runs import ensure_run

__all__ = ["RunJob", "Executor", "train_run", "to_train", "log_finished", "Log"]

Log = Callable[[str], Any] | None


@dataclass(frozen=True)
class RunJob:
    """One training run of an experiment grid.

    Attributes:
        model: registry name of the model (``segkit.models.list_models()``).
        cfg: the ``TrainConfig`` of this run (model, seed and recipe already set).
        data_root: dataset root (VOC layout), absolute when the run trains elsewhere.
        run_dir: the run directory, ``<runs_dir>/<experiment>/<name>/seed<k>``.
        options: further ``ensure_run`` arguments (``force``, ``device``, ``share_root``).
    """

    model: str
    cfg: Any
    data_root: Path
    run_dir: Path
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``<experiment>/<name>/seed<k>``: the run's last three path parts, for logs and job names."""
        return "/".join(self.run_dir.parts[-3:])


def train_run(job: RunJob, echo: bool = False) -> tuple[list[str], float]:
    """Reuse, resume or train one run (``ensure_run``) quietly.

    Args:
        job: the run.
        echo: also print each log line as it happens (a cluster job's log file).

    Returns:
        (the ``ensure_run`` log lines, seconds it took).
    """
    lines: list[str] = []

    def log(msg: str) -> None:
        lines.append(msg)
        if echo:
            print(f"[segkit] {msg}", flush=True)

    t0 = time.perf_counter()
    ensure_run(job.model, job.cfg, job.data_root, job.run_dir, log=log, progress=False, verbose=False,
               **job.options)
    return lines, time.perf_counter() - t0


class Executor:
    """Trains a list of :class:`RunJob` and returns when every run directory is complete.

    Subclasses implement :meth:`run`; a failed run raises ``RuntimeError`` naming its run
    directory (and, for cluster jobs, its log file). Reruns resume: every finished epoch
    is kept in the run directory's ``last.pt``.
    """

    name = "executor"

    def run(self, jobs: Sequence[RunJob], log: Log = print) -> None:
        """Train `jobs`; `log` gets one line per run (trained, reused, resumed, how long)."""
        raise NotImplementedError


def log_finished(lines: list[str], seconds: float, log: Log, where: str = "") -> None:
    """Print a finished run's log lines with its own duration (and where it ran)."""
    for msg in lines if log else ():
        log(f"{msg}: done in {seconds:.1f} s{where}")


def to_train(jobs: Sequence[RunJob], log: Log = print) -> list[RunJob]:
    """The jobs that need training: complete and twin runs are reused or linked here, in this
    process, so no worker process or cluster job is started just to find them done."""
    return [j for j in jobs if ensure_run(j.model, j.cfg, j.data_root, j.run_dir, log=log, only_reuse=True,
                                          **j.options) is None]
