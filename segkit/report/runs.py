"""Read run directories (the DESIGN.md contract) into tables, and reuse complete runs.

A run directory ``runs/<profile>/<experiment>/<name>/`` holds ``config.yaml``,
``history.csv``, ``metrics.json``, ``confusion_matrix.csv``, ``bench.json`` and
``checkpoints/``. The report reads only these files, so a table can be rebuilt at any time
from stored runs without retraining. Metric values are reported in percent.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
import yaml

__all__ = [
    "RUN_FILES",
    "ensure_dataset",
    "is_complete",
    "ensure_run",
    "read_run",
    "collect_runs",
    "results_table",
    "per_class_frame",
]

# Files that make a run "complete" (reused by reruns unless force=True).
RUN_FILES = ("config.yaml", "history.csv", "metrics.json")


def ensure_dataset(root: str | Path, n_images: int = 60, size: int = 96, seed: int = 0,
                   log: Callable[[str], Any] | None = None) -> Path:
    """Return ``root``; generate the synthetic wire-rope dataset there first if it has no split lists."""
    root = Path(root)
    if (root / "ImageSets" / "Segmentation" / "train.txt").is_file():
        return root
    from segkit.data import make_synthetic_wirerope

    if log:
        log(f"generating synthetic wire-rope data: {n_images} images at {size}x{size} -> {root}")
    return Path(make_synthetic_wirerope(root, n_images=n_images, size=size, seed=seed))


def is_complete(run_dir: str | Path) -> bool:
    """True when ``run_dir`` holds every file of ``RUN_FILES`` (a finished training run)."""
    d = Path(run_dir)
    return all((d / f).is_file() and (d / f).stat().st_size > 0 for f in RUN_FILES)


def ensure_run(
    model_name: str,
    cfg: Any,
    data_root: str | Path,
    run_dir: str | Path,
    force: bool = False,
    device: str = "auto",
    model_kwargs: Mapping[str, Any] | None = None,
    model: Any = None,
    log: Callable[[str], Any] | None = print,
    **train_kwargs: Any,
) -> Path:
    """Train ``model_name`` into ``run_dir`` unless a complete run is already there.

    An interrupted run (``checkpoints/last.pt`` without ``metrics.json``) is resumed; with
    ``force`` the run directory is deleted and trained again from scratch.

    Args:
        model_name: a registry name (``segkit.models.list_models()``); the run records it so
            ``segkit.engine.load_run`` can rebuild the model.
        cfg: a ``segkit.engine.TrainConfig``.
        data_root: dataset root (VOC layout).
        run_dir: ``runs/<profile>/<experiment>/<name>``.
        force: retrain even when the run is complete.
        device: "cpu", "cuda", "auto" ...
        model_kwargs: extra ``build_model`` arguments (``num_classes`` comes from the data).
        model: a ready ``nn.Module`` (e.g. with stitched modules) instead of building by name.
        **train_kwargs: passed on to ``segkit.engine.train``.

    Returns:
        The run directory.
    """
    import shutil

    run_dir = Path(run_dir)
    if is_complete(run_dir) and not force:
        if log:
            log(f"reusing complete run {run_dir} (force=True / --force retrains)")
        return run_dir
    from segkit.engine import train

    if force and run_dir.exists():
        shutil.rmtree(run_dir)
    resume = (run_dir / "checkpoints" / "last.pt").is_file()
    if model is None:
        cfg = cfg.replace(model=model_name, model_kwargs={**dict(cfg.model_kwargs), **dict(model_kwargs or {})})
    if log:
        log(f"{'resuming' if resume else 'training'} {model_name} -> {run_dir}")
    return Path(train(model if model is not None else model_name, cfg, data_root=data_root, run_dir=run_dir,
                      device=device, resume=resume, **train_kwargs))


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """Everything a run directory holds, without loading the model.

    Returns:
        {"run_dir", "experiment", "name", "config" (dict), "history" (DataFrame or None),
        "metrics" (dict), "bench" (dict), "confusion_matrix" (DataFrame or None)}.

    Raises:
        FileNotFoundError: ``run_dir`` is not a run directory (no config.yaml or metrics.json).
    """
    d = Path(run_dir)
    if not (d / "config.yaml").is_file() and not (d / "metrics.json").is_file():
        raise FileNotFoundError(f"{d} is not a run directory (no config.yaml or metrics.json); train into it first.")
    config = yaml.safe_load((d / "config.yaml").read_text(encoding="utf-8")) if (d / "config.yaml").is_file() else {}
    history = pd.read_csv(d / "history.csv") if (d / "history.csv").is_file() else None
    cm = pd.read_csv(d / "confusion_matrix.csv", index_col=0) if (d / "confusion_matrix.csv").is_file() else None
    return {
        "run_dir": d,
        "experiment": d.parent.name,
        "name": d.name,
        "config": config or {},
        "history": history,
        "metrics": _read_json(d / "metrics.json"),
        "bench": _read_json(d / "bench.json"),
        "confusion_matrix": cm,
    }


def _pct(value: Any) -> float:
    """A stored metric (a fraction in [0, 1], as ``SegMetrics.as_dict`` writes it) in percent."""
    if value is None:
        return float("nan")
    return float(value) * 100.0


def _get(d: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if isinstance(d, Mapping) and k in d and d[k] is not None:
            return d[k]
    return default


def _summary(run: Mapping[str, Any]) -> dict[str, Any]:
    m, b = run["metrics"], run["bench"]
    # bench.json is segkit.bench.BenchResult.to_dict(): params_trainable, gflops, latency{fps, median_ms}
    params = _get(b, "params_trainable", "params")
    latency = _get(b, "latency", default={}) or {}
    fps = _get(latency, "fps")
    lat_ms = _get(latency, "median_ms")
    gflops = _get(b, "gflops")
    nan = float("nan")
    return {
        "experiment": run["experiment"],
        "name": run["name"],
        "miou": _pct(_get(m, "miou")),
        "f1": _pct(_get(m, "f1")),
        "mean_f1": _pct(_get(m, "mean_f1")),
        "mpa": _pct(_get(m, "mpa")),
        "accuracy": _pct(_get(m, "accuracy")),
        "fps": float(fps) if fps is not None else nan,
        "latency_ms": float(lat_ms) if lat_ms is not None else nan,
        "params_m": float(params) / 1e6 if params is not None else nan,
        "gflops": float(gflops) if gflops is not None else nan,
        "epochs": len(run["history"]) if run["history"] is not None else 0,
        "run_dir": str(run["run_dir"]),
    }


def collect_runs(runs_dir: str | Path, experiments: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per run directory under ``runs_dir/<experiment>/<name>/``.

    Columns: experiment, name, miou, f1, mean_f1, mpa, accuracy (percent), fps, latency_ms,
    params_m, gflops, epochs, run_dir. Incomplete runs are skipped.

    Raises:
        FileNotFoundError: ``runs_dir`` does not exist.
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"runs directory {root} does not exist; run the training notebooks (02-04) first.")
    wanted = set(experiments) if experiments is not None else None
    rows = []
    for exp in sorted(p for p in root.iterdir() if p.is_dir()):
        if wanted is not None and exp.name not in wanted:
            continue
        for run in sorted(p for p in exp.iterdir() if p.is_dir()):
            if is_complete(run):
                rows.append(_summary(read_run(run)))
    cols = ["experiment", "name", "miou", "f1", "mean_f1", "mpa", "accuracy", "fps", "latency_ms", "params_m",
            "gflops", "epochs", "run_dir"]
    return pd.DataFrame(rows, columns=cols)


def results_table(
    runs: pd.DataFrame,
    labels: Mapping[str, str] | None = None,
    columns: Sequence[str] = ("miou", "f1", "fps", "params_m"),
    name_header: str = "Model",
    order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Turn ``collect_runs`` rows into a paper-style table (``mIoU(%)``, ``F1 Score(%)`` ...).

    Args:
        runs: output of :func:`collect_runs` (optionally filtered to one experiment).
        labels: run name -> display name (e.g. "improved-mobilenetv2" -> "Improved MobileNetV2").
        columns: internal keys to keep, in order (see ``tables.PAPER_HEADERS``).
        name_header: header of the name column.
        order: run names in the wanted row order (others follow alphabetically).
    """
    from segkit.report.tables import PAPER_HEADERS

    unknown = [c for c in columns if c not in PAPER_HEADERS]
    if unknown:
        raise ValueError(f"columns {unknown} are unknown; choose from {list(PAPER_HEADERS)}.")
    df = runs.copy()
    if order is not None:
        rank = {n: i for i, n in enumerate(order)}
        df = df.assign(_r=df["name"].map(lambda n: rank.get(n, len(rank)))).sort_values(["_r", "name"])
    labels = labels or {}
    out = pd.DataFrame({name_header: [labels.get(n, n) for n in df["name"]]})
    for c in columns:
        out[PAPER_HEADERS[c]] = df[c].to_numpy(dtype=float)
    return out.reset_index(drop=True)


def per_class_frame(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Per-class IoU / Recall(PA) / Precision / F1 in percent from a ``metrics.json`` dict.

    ``metrics["per_class"]`` is ``{class name: {"iou", "recall", "precision", "f1", ...}}``
    with fractions (``SegMetrics.as_dict``).

    Raises:
        ValueError: the dict has no ``per_class`` section.
    """
    pc = metrics.get("per_class")
    if not isinstance(pc, Mapping) or not pc:
        raise ValueError(f"metrics has no 'per_class' section (keys: {sorted(metrics)}); pass a metrics.json dict.")
    rows = []
    for name, vals in pc.items():
        rows.append({"class": name, "IoU": _pct(vals.get("iou")), "Recall(PA)": _pct(vals.get("recall")),
                     "Precision": _pct(vals.get("precision")), "F1": _pct(vals.get("f1"))})
    return pd.DataFrame(rows)
