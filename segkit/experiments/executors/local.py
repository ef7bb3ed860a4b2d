"""The local executor: runs one after another in this process, or in a pool of processes.

With ``workers > 1`` each run trains in its own process, started from a fork server that imported
torch once (spawned processes where there is no fork server: Windows). On a machine with several
GPUs every process is pinned to one of them (``CUDA_VISIBLE_DEVICES`` is set before the
process touches CUDA), so ``workers = number of GPUs`` trains one run per GPU and a queued
run starts as soon as a GPU is free. The torch CPU threads are split between the processes.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

from segkit.experiments.executors.base import Executor, Log, RunJob, log_finished, to_train, train_run
from segkit.experiments.runs import ensure_run

__all__ = ["LocalExecutor", "visible_gpus", "gpu_slots"]

_PINNED: str | None = None  # the GPU a worker process was pinned to


def visible_gpus(device: str = "auto") -> list[str]:
    """The GPUs a run on `device` may use: ids for ``CUDA_VISIBLE_DEVICES`` (empty: no pinning).

    ``"auto"`` and ``"cuda"`` use every visible GPU (the entries of this process's
    ``CUDA_VISIBLE_DEVICES`` when set); ``"cpu"``, ``"mps"`` or one chosen GPU (``"cuda:1"``)
    are not pinned.
    """
    if str(device) not in ("auto", "cuda"):
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def gpu_slots(workers: int, gpus: Sequence[str]) -> list[str]:
    """The GPU of each worker process: round robin over `gpus` (none with fewer than 2 GPUs)."""
    if len(gpus) < 2:
        return []
    return [str(gpus[i % len(gpus)]) for i in range(workers)]


class LocalExecutor(Executor):
    """Train runs on this machine.

    Args:
        workers: runs trained at once (1: one after another in this process, with the
            trainer's progress bars when `verbose`). The processes start like spawned ones, so a plain
            script must call this under ``if __name__ == "__main__":`` (notebooks need nothing).
        gpus: GPU ids to pin the processes to (default: :func:`visible_gpus` of `device`).
        device: the runs' device; decides the default `gpus`.
        verbose: print the trainer's config table, epoch lines and progress bars (sequential runs).

    Results equal a sequential run up to float rounding (the same when the thread count is the same).
    """

    name = "local"

    def __init__(self, workers: int = 1, gpus: Sequence[str] | None = None, device: str = "auto",
                 verbose: bool = False) -> None:
        if int(workers) < 1:
            raise ValueError(f"workers={workers!r} must be >= 1 (1: train the runs one after another)")
        self.workers = int(workers)
        self.gpus = [str(g) for g in gpus] if gpus is not None else None
        self.device = str(device)
        self.verbose = verbose

    def run(self, jobs: Sequence[RunJob], log: Log = print) -> None:
        if self.workers > 1 and len(jobs) > 1:
            jobs = to_train(jobs, log)  # processes only for the runs that train: one left trains here on every core
            if len(jobs) > 1:
                self._run_in_processes(jobs, min(self.workers, len(jobs)), log)
                return
        for job in jobs:
            ensure_run(job.model, job.cfg, job.data_root, job.run_dir, log=log, progress=self.verbose,
                       verbose=self.verbose, **job.options)

    def _run_in_processes(self, jobs: Sequence[RunJob], workers: int, log: Log) -> None:
        """Train `jobs` in a pool of `workers` processes; the first failure cancels the rest.

        Each run's log lines are printed when it ends, with that run's own duration.
        """
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        import torch

        threads = max(1, torch.get_num_threads() // workers)
        slots = gpu_slots(workers, self.gpus if self.gpus is not None else visible_gpus(self.device))
        ctx = _context(mp)
        queue = ctx.Queue()
        for gpu in slots:
            queue.put(gpu)
        if log:
            pinned = f"; one GPU each, CUDA_VISIBLE_DEVICES {', '.join(slots)}" if slots else ""
            log(f"{len(jobs)} runs, up to {workers} at once in processes ({threads} torch thread(s) each; cpu count "
                f"{os.cpu_count()}{pinned})")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_pool_process,
                                 initargs=(threads, queue if slots else None)) as pool:
            futures = {pool.submit(_train_in_worker, job): job for job in jobs}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)  # report each run as it ends
                for f in done:
                    job, exc = futures[f], f.exception()
                    if exc is not None:
                        for p in pending:
                            p.cancel()
                        raise RuntimeError(f"training {job.model!r} into {job.run_dir} failed in a worker process: "
                                           f"{type(exc).__name__}: {exc}") from exc
                    lines, seconds, gpu = f.result()
                    log_finished(lines, seconds, log, f" (CUDA_VISIBLE_DEVICES={gpu})" if gpu is not None else "")


_PRELOAD = ["torch", "torch._dynamo", "segkit.engine"]  # 5 s of imports on a 2-core CPU (dynamo: the optimizers')


def _context(mp: Any) -> Any:
    """A fork server that imports torch, dynamo and the engine once, then forks a process per worker.

    Each spawned worker imported them itself: 5 s of CPU per process, paid again for each of a
    notebook's runs. The server is forked before any torch thread pool exists, so its children are
    as clean as spawned ones (`__main__` is prepared the same way). Spawn where there is no fork
    server (Windows).
    """
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def _init_pool_process(threads: int, gpus: Any) -> None:
    """Pin this worker to one GPU (before anything touches CUDA), then import the engine once."""
    if gpus is not None:
        global _PINNED
        _PINNED = os.environ["CUDA_VISIBLE_DEVICES"] = gpus.get(timeout=60)
    import torch

    import segkit.engine  # noqa: F401  (imported once per process, so each run's logged time is its own)

    torch.set_num_threads(threads)


def _train_in_worker(job: RunJob) -> tuple[list[str], float, str | None]:
    """:func:`train_run` in a worker process, plus the GPU it was pinned to (None: not pinned)."""
    lines, seconds = train_run(job)
    return lines, seconds, _PINNED
