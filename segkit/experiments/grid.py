"""Experiment grids: train (or reuse) every entry of an experiment once per seed, then time them.

``run_experiment`` trains every entry (a registry name or a mapping, see
:mod:`segkit.report.experiments`) into ``<runs_dir>/<experiment>/<name>/seed<k>/`` through an
executor (:mod:`segkit.experiments.executors`: this machine or Slurm), reusing complete runs
unless ``force``, writes ``bench.json`` where it is missing, and returns the runs read back as
:class:`~segkit.report.experiments.ExperimentResults`. ``train_config`` is the notebooks'
recipe: a profile with their common knobs.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from segkit.experiments.executors import RunJob, make_executor
from segkit.report.experiments import ExperimentResults, experiment_results, parse_entries
from segkit.runs import RunDir

if TYPE_CHECKING:
    from segkit.experiments.executors import Executor

__all__ = ["ensure_bench", "run_experiment", "train_config"]


def ensure_bench(run_dir: str | Path, image_size: int, device: str = "cpu", runs: int = 10, warmup: int = 2,
                 force: bool = False, model: Any = None) -> Path:
    """Write ``<run_dir>/bench.json`` (params, FLOPs, FPS at 1x3xSxS) unless it exists.

    The model is loaded from the run directory (``segkit.engine.load_run``) when not given.
    """
    run_dir = Path(run_dir)
    path = RunDir(run_dir).bench_path
    if path.is_file() and not force:
        return path
    from segkit.bench import write_run_bench

    if model is None:
        from segkit.engine import load_run

        model = load_run(run_dir)[0]
    return write_run_bench(run_dir, model, (1, 3, image_size, image_size), device=device, runs=runs, warmup=warmup)


def run_experiment(
    entries: Iterable[str | Mapping[str, Any]],
    experiment: str,
    cfg: Any,
    data_root: str | Path,
    runs_dir: str | Path,
    force: bool = False,
    device: str = "cpu",
    bench_size: int | None = None,
    bench_runs: int = 10,
    log: Callable[[str], Any] | None = print,
    verbose: bool = False,
    workers: int = 1,
    seeds: Sequence[int] | None = None,
    baseline: str | None = None,
    executor: "str | Executor" = "local",
    executor_options: Mapping[str, Any] | None = None,
    metrics: Sequence[str] = (),
) -> ExperimentResults:
    """Train (or reuse) every entry once per seed and return the experiment's results.

    Args:
        entries: model names or mappings (see module docstring).
        experiment: the experiment folder name, e.g. "backbones".
        cfg: a ``TrainConfig``; each run sets ``model``/``model_kwargs``/``seed`` and the entry's
            ``train`` keys on a copy.
        data_root, runs_dir, force: dataset root, the report's runs folder; retrain identical runs too.
        device: training and benchmark device ("cpu", "cuda", "auto").
        bench_size: square input size for ``bench.json`` (default: ``cfg.input_shape[0]``).
        bench_runs: timed passes per model for FPS.
        log: one line per run (trained, reused and why, retrained and why); None is silent.
        verbose: also print the trainer's config table, per-epoch lines and progress bars.
        workers: local executor: up to this many runs at once, one process each (with
            ``torch.get_num_threads() // workers`` threads, one GPU each on a multi-GPU machine;
            a plain script calls this under ``if __name__ == "__main__":``).
        seeds: train every entry with each seed into ``<name>/seed<k>/`` (default ``[cfg.seed]``);
            an entry's own ``seeds`` replace them for that entry.
        baseline: the entry name (or label) that differences are taken against.
        executor: where the runs train: "local" (this machine), "slurm" (one Slurm job per
            run, requeued and resumed after preemption), or a ``segkit.experiments.executors.Executor``.
        executor_options: the executor's settings, e.g. for "slurm" ``{"partition": "gpu",
            "gpus": 1, "time": "12:00:00", "mem": "32G", "cpus": 8}``.
        metrics: the table's columns beyond the confusion matrix (``results_table``'s `metrics`:
            "boundary", "objects", "claims"); none by default.

    Runs are reused only when identical (``segkit.runs.fingerprint``); an identical run of
    another experiment under `runs_dir` is linked instead of trained, so a baseline shared
    by two tables has one number. FPS is measured once per entry (on its first seed's run),
    after all training, with the models taking turns (``segkit.bench.profile_interleaved``).

    Returns:
        :class:`ExperimentResults` for the entries, in entry order.
    """
    if int(workers) < 1:
        raise ValueError(f"workers={workers!r} must be >= 1 (1: train the entries one after another)")
    parsed = parse_entries(entries)
    seeds = [int(s) for s in (seeds if seeds is not None else [cfg.seed])]
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed, e.g. seeds=[0, 1, 2]")
    size = int(bench_size or cfg.input_shape[0])
    bench_device = "cpu" if device == "auto" else device
    common = dict(force=force, device=device, share_root=runs_dir)
    jobs = [RunJob(e.model, cfg.replace(**{**_with_seed(e.train, s), "model": e.model,
                                          "model_kwargs": dict(e.model_kwargs), "seed": s}),
                   Path(data_root),
                   Path(runs_dir) / experiment / e.name / f"seed{s}", dict(common))
            for e in parsed for s in (e.seeds or seeds)]
    make_executor(executor, executor_options, workers=int(workers), device=device, runs_dir=runs_dir,
                  verbose=verbose).run(jobs, log)
    first = [Path(runs_dir) / experiment / e.name / f"seed{(e.seeds or seeds)[0]}" for e in parsed]
    unbenched = [d for d in first if force or not RunDir(d).bench_path.is_file()]
    if len(unbenched) > 1:  # time them taking turns, so the FPS column compares like with like
        from segkit.bench import profile_interleaved
        from segkit.engine import load_run

        nets = {str(d): load_run(d).model for d in unbenched}
        results = profile_interleaved(nets, (1, 3, size, size), bench_device, runs=bench_runs, warmup=2,
                                      rounds=min(5, bench_runs))
        for d in unbenched:
            results[str(d)].save(RunDir(d).bench_path)
    else:
        for d in unbenched:
            ensure_bench(d, size, device=bench_device, runs=bench_runs, force=True)
    return experiment_results(runs_dir, experiment, parsed, baseline=baseline, seeds=seeds, metrics=metrics)


def _with_seed(value: Any, seed: int) -> Any:
    """`value` with ``{seed}`` in its texts (at any depth of dicts and lists) replaced by `seed`."""
    if isinstance(value, str):
        return value.replace("{seed}", str(seed))
    if isinstance(value, Mapping):
        return {k: _with_seed(v, seed) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_with_seed(v, seed) for v in value)
    return value


def train_config(profile: str = "quick", epochs: int | None = None, batch_size: int | None = None,
                 image_size: int | None = None, smoke: bool = False, crop_scale: float | str | None = None,
                 **overrides: Any):
    """``TrainConfig.profile(profile)`` with the notebook's common knobs applied.

    Args:
        profile: "quick", "paper" or a YAML path (its ``train:`` section).
        epochs: ``UnFreeze_Epoch`` (total epochs of the one-stage recipe).
        batch_size: ``Unfreeze_batch_size``.
        image_size: square ``input_shape``.
        smoke: cap every epoch at 2 batches and evaluate on 4 images (tests, CI).
        crop_scale: the scale of the images the training crops are cut from (None: the profile's).
        **overrides: any other ``TrainConfig`` field.
    """
    from segkit.engine import TrainConfig

    kw: dict[str, Any] = {}
    if epochs is not None:
        kw["UnFreeze_Epoch"] = int(epochs)
    if batch_size is not None:
        kw["Unfreeze_batch_size"] = int(batch_size)
    if image_size is not None:
        kw["input_shape"] = [int(image_size), int(image_size)]
    if smoke:
        kw.update(max_train_batches=2, max_val_images=4)
    if crop_scale is not None:
        kw["crop_scale"] = crop_scale
    kw["num_classes"] = None  # from the dataset's classes.txt, so --data with any dataset works
    kw.update(overrides)
    return TrainConfig.profile(profile, **kw)
