"""Run a list of model variants into run directories and read them back as one table.

A notebook describes an experiment as a list of entries, each either a registry name
(``"improved-mobilenetv2"``) or a mapping::

    {"name": "resnet18", "label": "ResNet18", "model": "deeplabv3plus",
     "model_kwargs": {"backbone": "timm:resnet18"}}

``run_experiment`` trains every entry into ``<runs_dir>/<experiment>/<name>/`` (reusing
complete runs unless ``force``), writes ``bench.json`` where it is missing, and returns the
runs as a paper-style table. Everything it returns can be rebuilt from the run
directories alone (``collect_runs``), which is what notebook 06 does.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from segkit.report.runs import collect_runs, ensure_run, is_complete, results_table

__all__ = ["ModelEntry", "parse_entries", "ensure_bench", "run_experiment", "experiment_table", "train_config",
           "sff_group_table"]


@dataclass
class ModelEntry:
    """One variant of an experiment: run name, display label, registry model and its arguments."""

    name: str
    model: str
    label: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)


def parse_entries(entries: Iterable[str | Mapping[str, Any]]) -> list[ModelEntry]:
    """Normalise notebook model lists (names or mappings) to ``ModelEntry`` objects.

    Raises:
        ValueError: an entry without a model, an unknown key, or a duplicate run name.
    """
    out: list[ModelEntry] = []
    allowed = {"name", "model", "label", "model_kwargs"}
    for e in entries:
        if isinstance(e, str):
            out.append(ModelEntry(name=e, model=e, label=e))
            continue
        if not isinstance(e, Mapping):
            raise ValueError(f"model entry {e!r} must be a registry name or a mapping with 'model'.")
        extra = set(e) - allowed
        if extra:
            raise ValueError(f"model entry {dict(e)!r} has unknown keys {sorted(extra)}; allowed: {sorted(allowed)}.")
        if "model" not in e and "name" not in e:
            raise ValueError(f"model entry {dict(e)!r} needs 'model' (a registry name).")
        model = str(e.get("model", e.get("name")))
        name = str(e.get("name", model))
        out.append(ModelEntry(name=name, model=model, label=str(e.get("label", name)),
                              model_kwargs=dict(e.get("model_kwargs") or {})))
    names = [x.name for x in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"model entries repeat the run names {dup}; give each a distinct 'name'.")
    return out


def ensure_bench(run_dir: str | Path, image_size: int, device: str = "cpu", runs: int = 10, warmup: int = 2,
                 force: bool = False, model: Any = None) -> Path:
    """Write ``<run_dir>/bench.json`` (params, FLOPs, FPS at 1x3xSxS) unless it exists.

    The model is loaded from the run directory (``segkit.engine.load_run``) when not given.
    """
    run_dir = Path(run_dir)
    path = run_dir / "bench.json"
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
) -> pd.DataFrame:
    """Train (or reuse) every entry and return the experiment's table.

    Args:
        entries: model names or mappings (see module docstring).
        experiment: the experiment folder name, e.g. "backbones".
        cfg: a ``TrainConfig``; each entry's ``model``/``model_kwargs`` are set on a copy.
        data_root, runs_dir: dataset root and ``runs/<profile>``.
        force: retrain complete runs.
        device: training and benchmark device ("cpu", "cuda", "auto").
        bench_size: square input size for ``bench.json`` (default: ``cfg.input_shape[0]``).
        bench_runs: timed passes per model for FPS.
        log: one line per model (trained or reused); None is silent.
        verbose: also print the trainer's config table, per-epoch lines and progress bars.
        workers: train up to this many entries at once, each in its own process with
            ``torch.get_num_threads() // workers`` threads (at least 1). Small models on a
            multi-core CPU train faster side by side than one after another. Results equal
            a sequential run up to float rounding. The processes are spawned, so a plain
            script must call this under ``if __name__ == "__main__":`` (notebooks need nothing).

    The FPS of ``bench.json`` is measured after all training, for every run missing one,
    with the models taking turns (``segkit.bench.profile_interleaved``), so the FPS column
    of one experiment compares models timed under the same machine load.

    Returns:
        ``experiment_table`` of the runs, in entry order (Model, mIoU(%), F1 Score(%),
        FPS(f/s), Parameter(M), GFLOPs).
    """
    if int(workers) < 1:
        raise ValueError(f"workers={workers!r} must be >= 1 (1: train the entries one after another)")
    parsed = parse_entries(entries)
    size = int(bench_size or cfg.input_shape[0])
    bench_device = "cpu" if device == "auto" else device
    jobs = [(e, Path(runs_dir) / experiment / e.name, cfg.replace(model=e.model, model_kwargs=dict(e.model_kwargs)))
            for e in parsed]
    todo = [j for j in jobs if force or not is_complete(j[1])]
    parallel = int(workers) > 1 and len(todo) > 1
    if parallel:
        _train_in_processes(todo, data_root, force, device, min(int(workers), len(todo)), log)
    trained = {run_dir for _, run_dir, _ in todo} if parallel else set()
    for e, run_dir, run_cfg in jobs:  # after the processes: picks up what they trained, silently
        ensure_run(e.model, run_cfg, data_root, run_dir, force=force and not parallel, device=device,
                   log=None if run_dir in trained else log, progress=verbose, verbose=verbose)
    unbenched = [run_dir for _, run_dir, _ in jobs if force or not (run_dir / "bench.json").is_file()]
    if len(unbenched) > 1:  # time them taking turns, so the FPS column compares like with like
        from segkit.bench import profile_interleaved
        from segkit.engine import load_run

        nets = {d.name: load_run(d).model for d in unbenched}
        results = profile_interleaved(nets, (1, 3, size, size), bench_device, runs=bench_runs, warmup=2,
                                      rounds=min(5, bench_runs))
        for d in unbenched:
            results[d.name].save(d / "bench.json")
    else:
        for d in unbenched:
            ensure_bench(d, size, device=bench_device, runs=bench_runs, force=True)
    return experiment_table(runs_dir, experiment, parsed)


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _train_in_processes(jobs: Sequence[tuple[ModelEntry, Path, Any]], data_root: str | Path, force: bool,
                        device: str, workers: int, log: Callable[[str], Any] | None) -> None:
    """Train `jobs` in a pool of `workers` spawned processes; the first failure cancels the rest."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    import torch

    threads = max(1, torch.get_num_threads() // workers)
    if log:
        log(f"training {len(jobs)} runs in {workers} processes ({threads} torch thread(s) each; cpu count "
            f"{os.cpu_count()})")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(ensure_run, e.model, run_cfg, data_root, run_dir, force=force, device=device,
                               log=None, progress=False, verbose=False): (e, run_dir)
                   for e, run_dir, run_cfg in jobs}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for f in done:
                e, run_dir = futures[f]
                if f.exception() is not None:
                    for p in pending:
                        p.cancel()
                    raise RuntimeError(f"training {e.model!r} into {run_dir} failed in a worker process: "
                                       f"{type(f.exception()).__name__}: {f.exception()}") from f.exception()
                if log:
                    log(f"trained {e.model} -> {run_dir} ({time.perf_counter() - t0:.0f} s since start)")


def experiment_table(runs_dir: str | Path, experiment: str,
                     entries: Sequence[ModelEntry] | Iterable[str | Mapping[str, Any]] | None = None,
                     columns: Sequence[str] = ("miou", "f1", "fps", "params_m", "gflops"),
                     name_header: str = "Model") -> pd.DataFrame:
    """The table of one experiment, read from its run directories only.

    ``entries`` (optional) fix the row order and the display labels; runs not listed follow.
    """
    runs = collect_runs(runs_dir, [experiment])
    if runs.empty:
        raise FileNotFoundError(f"no complete runs in {Path(runs_dir) / experiment}; run the training notebook first.")
    parsed = parse_entries(entries) if entries is not None and not (
        isinstance(entries, Sequence) and entries and isinstance(entries[0], ModelEntry)) else list(entries or [])
    if parsed:
        runs = runs[runs["name"].isin([e.name for e in parsed])]
    labels = {e.name: e.label for e in parsed}
    return results_table(runs, labels=labels, columns=columns, name_header=name_header,
                         order=[e.name for e in parsed] or None)


def train_config(profile: str = "quick", epochs: int | None = None, batch_size: int | None = None,
                 image_size: int | None = None, smoke: bool = False, **overrides: Any):
    """``TrainConfig.profile(profile)`` with the notebook's common knobs applied.

    Args:
        profile: "quick", "paper" or a YAML path (its ``train:`` section).
        epochs: ``UnFreeze_Epoch`` (total epochs of the one-stage recipe).
        batch_size: ``Unfreeze_batch_size``.
        image_size: square ``input_shape``.
        smoke: cap every epoch at 2 batches and evaluate on 4 images (tests, CI).
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
    kw["num_classes"] = None  # from the dataset's classes.txt, so --data with any dataset works
    kw.update(overrides)
    return TrainConfig.profile(profile, **kw)


def sff_group_table(runs_dir: str | Path, experiment: str, entries: Iterable[str | Mapping[str, Any]],
                    group_col: str = "Groups") -> pd.DataFrame:
    """The SFF channel-selection table (paper Table 2 layout) from run directories.

    Channel counts are read from each run's model (``model.fusion.in_channels`` and
    ``out_channels``), accuracy and speed from its ``metrics.json`` / ``bench.json``.
    """
    from segkit.models import build_model

    parsed = parse_entries(entries)
    base = experiment_table(runs_dir, experiment, parsed, columns=("miou", "f1", "fps", "params_m"))
    rows = []
    for i, e in enumerate(parsed):
        model = build_model(e.model, num_classes=2, **e.model_kwargs)
        fusion = getattr(model, "fusion", None)
        if fusion is None:
            raise ValueError(f"{e.model!r} has no shallow-fusion module (model.fusion); use an '-sffN' preset.")
        in1, in2 = fusion.in_channels
        rows.append({group_col: e.label, "F1 channels": int(in1), "F2 channels": int(in2),
                     "Out channels": int(fusion.out_channels)})
    chan = pd.DataFrame(rows)
    return pd.concat([chan, base.drop(columns=["Model"])], axis=1)
