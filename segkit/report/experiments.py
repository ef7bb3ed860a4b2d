"""Run a list of model variants into run directories and read them back as one table.

A notebook describes an experiment as a list of entries, each either a registry name
(``"improved-mobilenetv2"``) or a mapping::

    {"name": "resnet18", "label": "ResNet18", "model": "deeplabv3plus",
     "model_kwargs": {"backbone": "timm:resnet18"}}

An entry may also change the recipe for its own runs, e.g. ``"train": {"ema_decay": 0.9}``
(``TrainConfig`` keys; the experiment's config is the base). ``{seed}`` in a text value of it is
the run's seed, so a run can name the same seed's run of another entry, e.g. a warm start
``{"warm_start": {"sff": "runs/.../sff2/seed{seed}"}}``.

``run_experiment`` trains every entry into ``<runs_dir>/<experiment>/<name>/`` (reusing
complete runs unless ``force``), writes ``bench.json`` where it is missing, and returns the
runs as a paper-style table. Everything it returns can be rebuilt from the run
directories alone (``collect_runs``), which is what notebook 06 does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from segkit.rundir import RunDir
from segkit.report.compare import CLAIM_METRICS
from segkit.report.runs import collect_runs, results_table

if TYPE_CHECKING:
    from segkit.executors import Executor

__all__ = ["ModelEntry", "parse_entries", "ensure_bench", "run_experiment", "ExperimentResults",
           "experiment_results", "experiment_table", "train_config", "sff_group_table"]


@dataclass
class ModelEntry:
    """One variant of an experiment: run name, display label, registry model and its arguments, and
    the ``TrainConfig`` keys it changes (``train``)."""

    name: str
    model: str
    label: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)


def parse_entries(entries: Iterable[str | Mapping[str, Any]]) -> list[ModelEntry]:
    """Normalise notebook model lists (names or mappings) to ``ModelEntry`` objects.

    Raises:
        ValueError: an entry without a model, an unknown key, or a duplicate run name.
    """
    out: list[ModelEntry] = []
    allowed = {"name", "model", "label", "model_kwargs", "train"}
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
                              model_kwargs=dict(e.get("model_kwargs") or {}), train=dict(e.get("train") or {})))
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
) -> "ExperimentResults":
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
        workers: local executor: up to this many runs at once, one spawned process each (with
            ``torch.get_num_threads() // workers`` threads, one GPU each on a multi-GPU machine;
            a plain script calls this under ``if __name__ == "__main__":``).
        seeds: train every entry with each seed into ``<name>/seed<k>/`` (default ``[cfg.seed]``).
        baseline: the entry name (or label) that differences are taken against.
        executor: where the runs train: "local" (this machine), "slurm" (one Slurm job per
            run, requeued and resumed after preemption), or a ``segkit.executors.Executor``.
        executor_options: the executor's settings, e.g. for "slurm" ``{"partition": "gpu",
            "gpus": 1, "time": "12:00:00", "mem": "32G", "cpus": 8}``.
        metrics: the table's columns beyond the confusion matrix (``results_table``'s `metrics`:
            "boundary", "objects", "claims"); none by default.

    Runs are reused only when identical (``segkit.engine.fingerprint``); an identical run of
    another experiment under `runs_dir` is linked instead of trained, so a baseline shared
    by two tables has one number. FPS is measured once per entry (on its first seed's run),
    after all training, with the models taking turns (``segkit.bench.profile_interleaved``).

    Returns:
        :class:`ExperimentResults` for the entries, in entry order.
    """
    from segkit.executors import RunJob, make_executor

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
                   Path(runs_dir) / experiment / e.name / f"seed{s}", dict(common)) for e in parsed for s in seeds]
    make_executor(executor, executor_options, workers=int(workers), device=device, runs_dir=runs_dir,
                  verbose=verbose).run(jobs, log)
    first = [Path(runs_dir) / experiment / e.name / f"seed{seeds[0]}" for e in parsed]
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


@dataclass
class ExperimentResults:
    """An experiment's runs, its table (mean ± std over seeds) and differences from the baseline.

    Attributes:
        runs: one row per seed run (``collect_runs`` columns).
        table: one row per entry: metrics (mean, ``"<col> std"``), FPS, size, ``n`` and, with a
            baseline, ``ΔmIoU`` and its 95 % intervals over seeds and over test images.
        differences: ``segkit.report.stats.Difference`` per non-baseline entry.
        baseline: the baseline's display label (None: no differences).
        class_differences: per non-background class IoU, one per model and class.
        labels: run name -> display label, in entry order.
        baseline_name: the baseline's run name.
    """

    runs: pd.DataFrame
    table: pd.DataFrame
    differences: list[Any]
    baseline: str | None
    class_differences: list[Any] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    baseline_name: str | None = None

    def caption(self, title: str) -> str:
        """`title` plus the setup (data, size, epochs, seeds, image counts, scored split)."""
        from segkit.report.compare import setup_caption

        return setup_caption(title, self.runs, self.baseline)

    def paragraphs(self, what: str, speed: bool = True, claims: Sequence[str] = (),
                   about_claim: bool = True) -> dict[str, str]:
        """English and Chinese paragraphs that claim only the supported differences.

        `claims` (keys of ``compare.CLAIM_METRICS``: "small_target", "edge") adds whether each of
        the paper's claims holds for every entry against the baseline (:meth:`claims_paragraphs`;
        `about_claim` False: the entries differ in something the claims are not about).
        """
        from segkit.report.text import class_paragraph, comparison_paragraph, join_paragraphs

        cols = {} if speed else {"fps_col": None, "params_col": None}
        langs = ("en", "zh")
        return join_paragraphs(
            {k: comparison_paragraph(self.table, self.differences, self.baseline, lang=k, what=what, **cols)
             for k in langs},
            {k: class_paragraph(self.class_differences, lang=k) for k in langs},
            self.claims_paragraphs(claims, about_claim) if claims else {})

    def claim_differences(self, claims: Sequence[str] = tuple(CLAIM_METRICS)) -> list[Any]:
        """``compare.claim_differences`` of every entry but the baseline against it, in entry order.

        Raises:
            ValueError: no baseline, or an unknown claim.
        """
        from segkit.report.compare import claim_differences

        if self.baseline_name is None:
            raise ValueError("these results have no baseline; give experiment_results a baseline to test claims")
        names = [n for n in dict.fromkeys(self.runs["name"]) if n != self.baseline_name]
        names.sort(key=lambda n: list(self.labels).index(n) if n in self.labels else len(self.labels))
        return [d for n in names for d in claim_differences(self.runs, n, self.baseline_name, self.labels, claims)]

    def claims_paragraphs(self, claims: Sequence[str] = tuple(CLAIM_METRICS),
                          about_claim: bool = True) -> dict[str, str]:
        """English and Chinese sentences (``text.claims_paragraph``): whether each claim in `claims`
        holds for every entry against the baseline, judged by both 95 % intervals (`about_claim`
        False: only how each claim's metric differs, for entries the claims are not about)."""
        from segkit.report.text import claims_paragraph

        diffs = self.claim_differences(claims)
        return {k: claims_paragraph(diffs, lang=k, about_claim=about_claim) for k in ("en", "zh")}


def experiment_results(runs_dir: str | Path, experiment: str,
                       entries: Sequence[ModelEntry] | Iterable[str | Mapping[str, Any]],
                       baseline: str | None = None, seeds: Sequence[int] | None = None,
                       columns: Sequence[str] = ("miou", "f1", "fps", "params_m", "gflops"),
                       name_header: str = "Model", metrics: Sequence[str] = ()) -> ExperimentResults:
    """:class:`ExperimentResults` of `entries`, read from their run directories only.

    `baseline` is an entry name or label; `seeds` (default: all found) restricts the runs;
    `metrics` adds columns beyond the confusion matrix (``results_table``: "boundary", "objects",
    "claims").
    """
    from segkit.report.compare import baseline_differences, class_differences, with_differences

    parsed = _as_entries(entries)
    runs = collect_runs(runs_dir, [experiment])
    runs = runs[runs["name"].isin([e.name for e in parsed])]
    if seeds is not None:
        runs = runs[runs["seed"].isin(list(seeds))]
    if runs.empty:
        raise FileNotFoundError(f"no complete runs of {[e.name for e in parsed]} in {Path(runs_dir) / experiment}; "
                                "run the training notebook first.")
    labels = {e.name: e.label for e in parsed}
    table = results_table(runs, labels=labels, columns=columns, name_header=name_header,
                          order=[e.name for e in parsed], metrics=metrics)
    base = next((e for e in parsed if baseline in (e.name, e.label)), None) if baseline else None
    if baseline and base is None:
        raise ValueError(f"baseline {baseline!r} is not an entry; entries are {[e.label for e in parsed]}")
    diffs = baseline_differences(runs, base.name, labels) if base is not None else []
    per_class = class_differences(runs, base.name, labels) if base is not None else []
    return ExperimentResults(runs, with_differences(table, diffs, name_header), diffs,
                             base.label if base is not None else None, per_class, labels,
                             base.name if base is not None else None)


def _as_entries(entries: Sequence[ModelEntry] | Iterable[str | Mapping[str, Any]] | None) -> list[ModelEntry]:
    items = list(entries or [])
    return items if items and isinstance(items[0], ModelEntry) else parse_entries(items)


def experiment_table(runs_dir: str | Path, experiment: str,
                     entries: Sequence[ModelEntry] | Iterable[str | Mapping[str, Any]] | None = None,
                     columns: Sequence[str] = ("miou", "f1", "fps", "params_m", "gflops"),
                     name_header: str = "Model", metrics: Sequence[str] = ()) -> pd.DataFrame:
    """The table of one experiment (mean ± std over seeds, ``n``), read from its run directories only.

    ``entries`` (optional) fix the row order and the display labels; runs not listed follow;
    ``metrics`` adds columns beyond the confusion matrix (see ``results_table``).
    """
    runs = collect_runs(runs_dir, [experiment])
    if runs.empty:
        raise FileNotFoundError(f"no complete runs in {Path(runs_dir) / experiment}; run the training notebook first.")
    parsed = _as_entries(entries)
    if parsed:
        runs = runs[runs["name"].isin([e.name for e in parsed])]
    labels = {e.name: e.label for e in parsed}
    return results_table(runs, labels=labels, columns=columns, name_header=name_header,
                         order=[e.name for e in parsed] or None, metrics=metrics)


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


def sff_group_table(runs_dir: str | Path, experiment: str, entries: Iterable[str | Mapping[str, Any]],
                    group_col: str = "Groups", metrics: Sequence[str] = ()) -> pd.DataFrame:
    """The SFF channel-selection table (paper Table 2 layout) from run directories.

    Channel counts are read from each run's model (``model.fusion.in_channels`` and
    ``out_channels``), accuracy and speed from its ``metrics.json`` / ``bench.json``; `metrics`
    adds columns beyond the confusion matrix (``results_table``; "boundary" for the edge claim).
    """
    from segkit.models import build_model

    parsed = parse_entries(entries)
    base = experiment_table(runs_dir, experiment, parsed, columns=("miou", "f1", "fps", "params_m"), metrics=metrics)
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
