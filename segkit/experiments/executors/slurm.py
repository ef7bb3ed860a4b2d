"""The Slurm executor: one cluster job per training run, submitted with submitit.

Each run becomes one job (one GPU, ``cpus`` cores, ``mem`` and ``time`` per job) that calls
``ensure_run`` on the cluster, writing the same run directory a local run would. Runs that
are already complete (or have an identical twin under the runs folder) are reused here
without submitting anything. When Slurm preempts a job or its time runs out, submitit sends
the job a signal, calls :meth:`TrainTask.checkpoint` and requeues it; the requeued job finds
the run's ``last.pt`` and resumes from the last finished epoch. While the jobs run, a
progress bar shows how many are pending, running and done; the caller then reads the run
directories exactly as after a local run.

``cluster="local"`` runs the same submission code with submitit's local executor (one
process per job on this machine): what the tests use.
"""
from __future__ import annotations

import dataclasses
import math
import re
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

from segkit.experiments.executors.base import Executor, Log, RunJob, log_finished, to_train, train_run

__all__ = ["SlurmExecutor", "TrainTask", "parse_time", "parse_mem", "import_submitit"]

INSTALL_HINT = "pip install 'segkit[slurm]' (or pip install submitit)"


def import_submitit() -> Any:
    """The ``submitit`` module, or ImportError with the install command."""
    try:
        import submitit
    except ImportError:
        raise ImportError(f"the slurm executor needs submitit, which is not installed: {INSTALL_HINT}") from None
    return submitit


def parse_time(value: Any, name: str = "time") -> int:
    """Minutes of a Slurm time limit: minutes (720) or ``"MM"``, ``"HH:MM:SS"``, ``"D-HH[:MM[:SS]]"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        minutes = math.ceil(value)
    else:
        m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", str(value).strip())
        if m is None:
            raise ValueError(f"{name}={value!r} is not a time limit; give minutes (720), 'HH:MM:SS' ('12:00:00') "
                             "or 'D-HH:MM' ('1-00:00')")
        days, a, b, c = (int(g) if g else 0 for g in m.groups())
        if m.group(1):  # after "D-" the first number is hours: D-HH, D-HH:MM, D-HH:MM:SS
            minutes = a * 60 + b + (c > 0)
        elif m.group(4) is not None:  # HH:MM:SS
            minutes = a * 60 + b + (c > 0)
        else:  # MM or MM:SS
            minutes = a + (b > 0)
        minutes += days * 24 * 60
    if minutes < 1:
        raise ValueError(f"{name}={value!r} is shorter than a minute; give the time one run needs, e.g. '12:00:00'")
    return int(minutes)


def parse_mem(value: Any, name: str = "mem") -> float:
    """Gigabytes of a memory request: a number (GB) or ``"32G"``, ``"32GB"``, ``"500M"``, ``"1T"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([MGT]?)B?", str(value).strip(), flags=re.IGNORECASE)
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(f"{name}={value!r} is not a memory size; give gigabytes (32) or '32G' / '500M'")
    scale = {"M": 1 / 1024, "G": 1.0, "T": 1024.0, "": 1.0}[m.group(2).upper()]
    return float(m.group(1)) * scale


class TrainTask:
    """What one Slurm job runs: :func:`train_run` for one run, resumable after preemption.

    Args:
        threads: torch CPU threads in the job (its ``cpus``).
    """

    def __init__(self, threads: int = 1) -> None:
        self.threads = int(threads)

    def __call__(self, job: RunJob) -> tuple[list[str], float]:
        import torch

        torch.set_num_threads(self.threads)
        return train_run(job, echo=True)

    def checkpoint(self, job: RunJob) -> Any:
        """Called by submitit on preemption or timeout: requeue the same run.

        Every finished epoch is already in the run's ``last.pt``; the requeued job's
        ``ensure_run`` finds it (same fingerprint, incomplete run) and resumes there.
        """
        submitit = import_submitit()
        print(f"[segkit] {job.run_dir}: preempted or out of time; requeued, the new job resumes from its last.pt",
              flush=True)
        return submitit.helpers.DelayedSubmission(self, job)


@dataclasses.dataclass
class SlurmExecutor(Executor):
    """Submit each run as one Slurm job and wait for all of them.

    Args:
        folder: where submitit keeps the jobs' scripts, pickles and logs (``%j`` = job id).
        partition: Slurm partition (None: the cluster's default).
        gpus: GPUs per job: 1 (a run on one GPU) or 0 (CPU jobs). A run over several GPUs
            is a ``torchrun`` launch, not a grid job (docs/scaling.md).
        time: time limit per job: minutes or ``"HH:MM:SS"``; a job that runs out is requeued and resumes.
        mem: memory per job: GB or ``"32G"``.
        cpus: CPU cores per job (torch threads and data-loader workers).
        account, qos, constraint: passed to Slurm when set.
        max_requeues: how often one run may be requeued after running out of time.
        poll_s: seconds between two looks at the job states.
        cluster: None: Slurm (``sbatch`` must be on PATH); "local": submitit's local executor
            (one process per job on this machine, for tests and trying it out).
        job_name: the jobs' name in ``squeue``.
    """

    folder: str | Path = "runs/.slurm"
    partition: str | None = None
    gpus: int = 1
    time: Any = "12:00:00"
    mem: Any = "32G"
    cpus: int = 8
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    max_requeues: int = 3
    poll_s: float = 15.0
    cluster: str | None = None
    job_name: str = "segkit"

    name = "slurm"  # the executor's kind (a class attribute, not a field)

    def __post_init__(self) -> None:
        if int(self.gpus) not in (0, 1):
            raise ValueError(f"gpus={self.gpus!r}: a grid job trains one run on one GPU (1) or on CPUs (0); for one "
                             "run over several GPUs launch segkit train with torchrun (docs/scaling.md)")
        if int(self.cpus) < 1:
            raise ValueError(f"cpus={self.cpus!r} must be >= 1 (CPU cores per job)")
        if int(self.max_requeues) < 0:
            raise ValueError(f"max_requeues={self.max_requeues!r} must be >= 0")
        self.timeout_min = parse_time(self.time)
        self.mem_gb = parse_mem(self.mem) if self.mem is not None else None

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None, folder: str | Path) -> "SlurmExecutor":
        """An executor from a profile's ``report: slurm:`` section or CLI flags (unknown keys are an error)."""
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options or {}) - set(fields))
        if unknown:
            raise ValueError(f"slurm options {unknown} are unknown; allowed: {fields}")
        return cls(**{"folder": folder, **dict(options or {})})

    # ------------------------------------------------------------------ running
    def run(self, jobs: Sequence[RunJob], log: Log = print) -> None:
        jobs = [_absolute(j) for j in jobs]
        todo = to_train(jobs, log)  # complete (or twin) runs are reused here, without a job; the others are submitted
        if not todo:
            return
        submitted = self._submit(todo)
        if log:
            ids = [s.job_id for _, s in submitted]
            log(f"submitted {len(todo)} run(s) as {self._cluster_name()} job(s) {', '.join(ids)}; logs in {self.folder}")
        failures = self._wait(submitted, log)
        if failures:
            raise RuntimeError(f"{len(failures)} of {len(todo)} job(s) failed:\n  " + "\n  ".join(failures)
                               + "\nfix the cause and run again: complete runs are reused, the others resume")

    def check(self) -> None:
        """Fail now, in one line, when jobs cannot be submitted: no submitit, or no Slurm on this machine."""
        import_submitit()
        if self._cluster_name() == "slurm" and shutil.which("sbatch") is None:
            raise RuntimeError("the slurm executor found no Slurm here (sbatch is not on PATH); run this on the "
                               "cluster's login node, or set cluster: local to run the jobs on this machine")

    def _executor(self) -> Any:
        self.check()
        submitit = import_submitit()
        ex = submitit.AutoExecutor(folder=Path(self.folder) / "%j", cluster=self._cluster_name(),
                                   slurm_max_num_timeout=int(self.max_requeues),
                                   local_max_num_timeout=int(self.max_requeues))
        params: dict[str, Any] = dict(name=self.job_name, timeout_min=self.timeout_min, cpus_per_task=int(self.cpus),
                                      gpus_per_node=int(self.gpus), tasks_per_node=1, nodes=1)
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        slurm = {"partition": self.partition, "account": self.account, "qos": self.qos,
                 "constraint": self.constraint}
        params.update({f"slurm_{k}": v for k, v in slurm.items() if v})
        ex.update_parameters(**params)
        return ex

    def _cluster_name(self) -> str:
        return self.cluster or "slurm"

    def _submit(self, jobs: Sequence[RunJob]) -> list[tuple[RunJob, Any]]:
        ex = self._executor()
        task = TrainTask(threads=int(self.cpus))
        with ex.batch():  # one job array on Slurm
            handles = [ex.submit(task, j) for j in jobs]
        return list(zip(jobs, handles))

    def _wait(self, submitted: Sequence[tuple[RunJob, Any]], log: Log) -> list[str]:
        """Wait for every job with a progress bar of their states; log each as it ends; return the failures."""
        from tqdm.auto import tqdm

        failures: list[str] = []
        pending = list(submitted)
        bar = tqdm(total=len(pending), desc=f"{self._cluster_name()} jobs", unit="run", dynamic_ncols=True)
        try:
            while pending:
                states: Counter[str] = Counter()
                still = []
                for job, handle in pending:
                    if handle.done():
                        bar.update(1)
                        failures += _collect(job, handle, log)
                    else:
                        states[str(handle.state).lower()] += 1
                        still.append((job, handle))
                pending = still
                bar.set_postfix_str(", ".join(f"{k} {n}" for k, n in sorted(states.items())) or "done")
                if pending:
                    time.sleep(self.poll_s)
        finally:
            bar.close()
        return failures


def _absolute(job: RunJob) -> RunJob:
    """The job with absolute paths: a cluster job may start in another working directory."""
    opts = dict(job.options)
    if opts.get("share_root") is not None:
        opts["share_root"] = Path(opts["share_root"]).resolve()
    return dataclasses.replace(job, data_root=Path(job.data_root).resolve(), run_dir=Path(job.run_dir).resolve(),
                               options=opts)


def _collect(job: RunJob, handle: Any, log: Log) -> list[str]:
    """Log a finished job's lines; a failed one becomes one line naming the run, the error and its log."""
    try:
        lines, seconds = handle.result()
    except Exception as exc:  # noqa: BLE001 - any job failure is reported, the others are still collected
        return [f"{job.run_dir}: {_error_line(str(exc))} (job {handle.job_id}, log {handle.paths.stderr})"]
    log_finished(lines, seconds, log, f" (job {handle.job_id})")
    return []


def _error_line(text: str) -> str:
    """The exception line of a job's traceback (``ValueError: ...``), else its first line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", ln)]
    return errors[-1] if errors else (lines[0] if lines else "failed")
