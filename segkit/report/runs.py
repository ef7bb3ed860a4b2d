"""Read run directories back (see ``segkit.runs``): one run, a folder of runs, their tables.

The report reads only run directories, so every table can be rebuilt without retraining;
:mod:`segkit.experiments.runs` (``ensure_run``) writes them. Metric values are reported in
percent.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from segkit._moved import moved_names
from segkit.data.synthetic import ensure_dataset
from segkit.report.compare import CLAIM_METRICS
from segkit.report.tables import NOT_LEARNED_HEADER
from segkit.runs import RunDir

__all__ = [
    "ensure_dataset",
    "is_complete",
    "read_run",
    "class_columns",
    "class_iou",
    "collect_runs",
    "run_dirs",
    "per_class_frame",
    "METRIC_GROUPS",
]

# ensure_run moved to the write side; found there on first use (the report never trains)
__getattr__ = moved_names(__name__, {"ensure_run": "segkit.experiments.runs"})


def is_complete(run_dir: str | Path) -> bool:
    """True when ``run_dir`` holds a finished training run (see ``RunDir.COMPLETE``)."""
    return RunDir(run_dir).is_complete()


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """Everything a run directory holds, without loading the model.

    Returns:
        {"run_dir", "experiment", "name", "seed", "config" (dict), "history" (DataFrame or
        None), "metrics" (dict), "bench" (dict), "confusion_matrix" (DataFrame or None)}.

    Raises:
        FileNotFoundError: ``run_dir`` is not a run directory (no config.yaml or metrics.json).
    """
    rd = RunDir(run_dir)
    if not rd.is_run():
        raise FileNotFoundError(f"{rd.path} is not a run directory (no config.yaml or metrics.json); train into it first.")
    config = rd.read_config()
    seeded = rd.path.name.startswith("seed")
    name_dir = rd.path.parent if seeded else rd.path
    return {
        "run_dir": rd.path,
        "experiment": name_dir.parent.name,
        "name": name_dir.name,
        "seed": (config.get("train") or {}).get("seed"),
        "config": config,
        "history": rd.read_history() if rd.history_path.is_file() else None,
        "metrics": rd.read_metrics(),
        "bench": rd.read_bench(),
        "confusion_matrix": rd.read_confusion(),
    }


def run_dirs(name_dir: str | Path) -> list[Path]:
    """The complete runs of one entry: ``name_dir/seed*/`` (or `name_dir` itself when it is a run)."""
    d = Path(name_dir)
    if RunDir(d).is_complete():
        return [d]
    seeds = [p for p in d.glob("seed*") if p.is_dir() and RunDir(p).is_complete()] if d.is_dir() else []
    return sorted(seeds, key=lambda p: int(p.name[4:]) if p.name[4:].isdigit() else p.name)


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


def class_iou(metrics: Mapping[str, Any], key: str = "per_class") -> dict[str, float]:
    """``{class: IoU in percent}`` from a ``metrics.json`` dict's per-class block (`key`; the boundary
    IoU's is ``metrics["boundary"]["per_class"]``)."""
    return {c: _pct(v.get("iou")) for c, v in (_get(metrics, key, default={}) or {}).items()}


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
        "seed": run["seed"],
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
        "split": _get(m, "split", default=""),
        "class_iou": class_iou(m),
        **_extra_summary(m),
        "run_dir": str(run["run_dir"]),
    }


def _extra_summary(m: Mapping[str, Any]) -> dict[str, Any]:
    """Boundary IoU and object metrics of a ``metrics.json`` (NaN and {} for runs evaluated without them)."""
    b, o = _get(m, "boundary", default={}) or {}, _get(m, "objects", default={}) or {}
    fp = _get(o, "fp_per_image")
    return {
        "boundary_miou": _pct(_get(b, "miou")),
        "boundary_miou_fg": _pct(_get(b, "miou_fg")),
        **{f"{s}_detection": _pct(_get(o, f"{s}_detection")) for s in ("small", "medium", "large")},
        "fp_per_image": float(fp) if fp is not None else float("nan"),
        "class_biou": class_iou(b),
    }


_EXTRA_COLUMNS = ["boundary_miou", "boundary_miou_fg", "small_detection", "medium_detection", "large_detection",
                  "fp_per_image", "class_biou"]
_SUMMARY_COLUMNS = ["experiment", "name", "seed", "miou", "f1", "mean_f1", "mpa", "accuracy", "fps", "latency_ms",
                    "params_m", "gflops", "epochs", "split", "class_iou", *_EXTRA_COLUMNS, "run_dir"]

# results_table(metrics=...): the columns each choice adds (keys of tables.PAPER_HEADERS); spread: all of them.
# "claims" is the compact pair the paper's two claims are tested on (compare.CLAIM_METRICS), for wide tables.
METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "boundary": ("boundary_miou", "boundary_miou_fg"),
    "objects": ("small_detection", "medium_detection", "large_detection", "fp_per_image"),
    "claims": tuple(CLAIM_METRICS.values()),
}


def collect_runs(runs_dir: str | Path, experiments: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per complete run under ``runs_dir/<experiment>/<name>/[seed<k>/]``.

    Columns: experiment, name, seed, miou, f1, mean_f1, mpa, accuracy (percent), fps,
    latency_ms, params_m, gflops, epochs, split, class_iou (class -> IoU in percent),
    boundary_miou, boundary_miou_fg, small/medium/large_detection (percent), fp_per_image,
    class_biou (class -> boundary IoU in percent; NaN and {} for runs evaluated without them),
    run_dir. Incomplete and superseded runs are skipped.

    Raises:
        FileNotFoundError: ``runs_dir`` does not exist.
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"runs directory {root} does not exist; run the training notebooks (02-04) first.")
    wanted = set(experiments) if experiments is not None else None
    rows = []
    for exp in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if wanted is not None and exp.name not in wanted:
            continue
        for name_dir in sorted(p for p in exp.iterdir() if p.is_dir() and not p.name.startswith(".")):
            rows += [_summary(read_run(d)) for d in run_dirs(name_dir)]
    return pd.DataFrame(rows, columns=_SUMMARY_COLUMNS)


def results_table(
    runs: pd.DataFrame,
    labels: Mapping[str, str] | None = None,
    columns: Sequence[str] = ("miou", "f1", "fps", "params_m"),
    name_header: str = "Model",
    order: Sequence[str] | None = None,
    spread: Sequence[str] = ("miou", "f1"),
    per_class: bool = True,
    metrics: Sequence[str] = (),
) -> pd.DataFrame:
    """Aggregate ``collect_runs`` rows (one per seed) into a paper-style table, one row per name.

    Each column is the mean over seeds; the columns in `spread` also get a ``"<header> std"``
    column (sample std over seeds), which the table writers print as ``mean ± std``; ``n``
    is the number of seeds.

    Args:
        runs: output of :func:`collect_runs` (optionally filtered to one experiment).
        labels: run name -> display name (e.g. "improved-mobilenetv2" -> "Improved MobileNetV2").
        columns: internal keys to keep, in order (see ``tables.PAPER_HEADERS``).
        name_header: header of the name column.
        order: run names in the wanted row order (others follow alphabetically).
        spread: columns that also get their std over seeds.
        per_class: add ``"IoU <class>(%)"`` (mean ± std over seeds) for every class but the
            background, and ``"Not learned"``: the classes whose mean IoU is under 5 %
            (:func:`segkit.metrics.not_learned`), "–" when the model learned every class.
        metrics: more metrics after `columns` (none by default, so a table shows them only when
            asked): ``"boundary"`` adds the boundary mIoU over all classes and over the classes
            but the background (mean ± std) and, with `per_class`, ``"BIoU <class>(%)"`` for every
            class but the background; ``"objects"`` adds the share of small, medium and large
            objects found and the false-positive components per image (mean ± std); ``"claims"``
            adds only the two the paper's claims are tested on (``compare.CLAIM_METRICS``: small
            objects found, boundary mIoU fg), for tables already wide with per-class IoU.
            (``docs/metrics.md``; runs evaluated without them show "–").
    """
    from segkit.report.stats import mean_std
    from segkit.report.tables import PAPER_HEADERS

    unknown = [c for c in columns if c not in PAPER_HEADERS]
    if unknown:
        raise ValueError(f"columns {unknown} are unknown; choose from {list(PAPER_HEADERS)}.")
    bad = [m for m in metrics if m not in METRIC_GROUPS]
    if bad or isinstance(metrics, str):
        raise ValueError(f"metrics={metrics!r}: choose from {list(METRIC_GROUPS)} (a list, e.g. ['boundary']).")
    more = [c for m in metrics for c in METRIC_GROUPS[m] if c not in columns]
    rank = {n: i for i, n in enumerate(order or [])}
    names = sorted(runs["name"].unique(), key=lambda n: (rank.get(n, len(rank)), n))
    labels = labels or {}
    rows = []
    for name in names:
        g = runs[runs["name"] == name]
        row: dict[str, Any] = {name_header: labels.get(name, name)}
        for c in columns:
            mean, std, _ = mean_std(g[c].astype(float).tolist())
            row[PAPER_HEADERS[c]] = mean
            if c in spread:
                row[f"{PAPER_HEADERS[c]} std"] = std
        for c in more:
            values = g[c].astype(float).tolist() if c in g else [float("nan")]
            row[PAPER_HEADERS[c]], row[f"{PAPER_HEADERS[c]} std"], _ = mean_std(values)
        if per_class and "boundary" in metrics:
            row.update(class_columns(g["class_biou"].tolist() if "class_biou" in g else [], "BIoU", flag=False))
        if per_class and "class_iou" in g:
            row.update(class_columns(g["class_iou"].tolist()))
        row["n"] = int(len(g))
        rows.append(row)
    return pd.DataFrame(rows)


def class_columns(per_seed: Sequence[Mapping[str, float]], head: str = "IoU", flag: bool = True) -> dict[str, Any]:
    """Per-class `head` columns (mean, std over seeds) and (`flag`) the "Not learned" cell of one model."""
    from segkit.metrics import is_background, not_learned
    from segkit.report.stats import mean_std

    classes = list(dict.fromkeys(c for d in per_seed if isinstance(d, Mapping) for c in d))
    out: dict[str, Any] = {}
    means = {}
    for c in classes:
        means[c], std, _ = mean_std([d.get(c, float("nan")) for d in per_seed if isinstance(d, Mapping)])
        if not is_background(c):
            out[f"{head} {c}(%)"], out[f"{head} {c}(%) std"] = means[c], std
    if classes and flag:
        out[NOT_LEARNED_HEADER] = ", ".join(not_learned({c: v / 100 for c, v in means.items()})) or "–"
    return out


def per_class_frame(metrics: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Per-class IoU / Recall(PA) / Precision / F1 in percent from ``metrics.json`` dicts.

    ``metrics["per_class"]`` is ``{class name: {"iou", "recall", "precision", "f1", ...}}``
    with fractions (``SegMetrics.as_dict``). Given several dicts (one per seed), each value
    is the mean over them, with a ``"<col> std"`` column (printed as ``mean ± std``).

    Raises:
        ValueError: a dict has no ``per_class`` section.
    """
    from segkit.report.stats import mean_std

    many = [metrics] if isinstance(metrics, Mapping) else list(metrics)
    for m in many:
        if not isinstance(m.get("per_class"), Mapping) or not m["per_class"]:
            raise ValueError(f"metrics has no 'per_class' section (keys: {sorted(m)}); pass a metrics.json dict.")
    rows = []
    for name in many[0]["per_class"]:
        row: dict[str, Any] = {"class": name}
        for col, key in (("IoU", "iou"), ("Recall(PA)", "recall"), ("Precision", "precision"), ("F1", "f1")):
            mean, std, _ = mean_std([_pct(m["per_class"].get(name, {}).get(key)) for m in many])
            row[col] = mean
            if len(many) > 1:
                row[f"{col} std"] = std
        rows.append(row)
    return pd.DataFrame(rows)
