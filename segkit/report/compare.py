"""Differences from a baseline with 95 % intervals, and the setup line every caption carries.

Works on the rows of ``collect_runs`` (one per seed run). Seeds are paired by value (seed
11 of the variant with seed 11 of the baseline); per-image confusion matrices come from
each run's ``per_image_cm.npz``. See :mod:`segkit.report.stats` for the intervals.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from segkit._utils import counted
from segkit.runs import RunDir
from segkit.report.stats import EXTRA_METRICS, Difference, compare, mean_std

__all__ = ["baseline_differences", "class_differences", "class_of", "claim_differences", "with_differences", "not_learned_classes",
           "run_setup", "setup_caption", "CLAIM_METRICS"]

_METRIC_HEADERS = {"miou": "mIoU", "f1": "F1", "mpa": "mPA", "accuracy": "Accuracy", "boundary_miou": "Boundary mIoU",
                   "boundary_miou_fg": "Boundary mIoU fg", "small_detection": "Det. small"}

# the paper's two claims beyond mIoU and the metric that tests each (segkit.report.text.claims_paragraph)
CLAIM_METRICS = {"small_target": "small_detection", "edge": "boundary_miou_fg"}


def baseline_differences(runs: pd.DataFrame, baseline: str, labels: Mapping[str, str] | None = None,
                         metric: str = "miou") -> list[Difference]:
    """``variant - baseline`` of `metric` for every other name in `runs`, paired over shared seeds.

    `metric` is a column of `runs` (``collect_runs``): a confusion-matrix metric, or one of
    ``segkit.report.stats.EXTRA_METRICS`` (boundary IoU, small-object detection), whose image
    interval needs the per-image counts that runs evaluated with them store.

    Raises:
        ValueError: the baseline is not among the runs, or two runs were scored on different images.
    """
    labels = labels or {}
    names = list(dict.fromkeys(runs["name"]))
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} is not among the runs {names}; name one of them")
    base = runs[runs["name"] == baseline].set_index("seed")
    out = []
    for name in names:
        if name == baseline:
            continue
        var = runs[runs["name"] == name].set_index("seed")
        seeds = [s for s in var.index if s in base.index]
        cms = _paired_matrices(var.loc[seeds, "run_dir"], base.loc[seeds, "run_dir"], EXTRA_METRICS.get(metric)) \
            if seeds else None
        absent = _absent_policy(var["run_dir"].iloc[0])
        values = [g.loc[seeds, metric].astype(float).tolist() if metric in g.columns else [float("nan")] * len(seeds)
                  for g in (var, base)]
        d = compare(labels.get(name, name), labels.get(baseline, baseline), *values,
                    *(cms or (None, None)), metric=metric.split(":")[0], absent=absent)
        out.append(replace(d, variant_not_learned=_not_learned(var), baseline_not_learned=_not_learned(base)))
    return out


def class_differences(runs: pd.DataFrame, baseline: str, labels: Mapping[str, str] | None = None) -> list[Difference]:
    """`baseline_differences` of each non-background class's IoU, one per model and class
    (``Difference.metric`` is ``"iou@<k>:<class name>"``: see `class_of`)."""
    from segkit.metrics import is_background

    names = _class_names(runs)
    out: list[Difference] = []
    for k, cls in enumerate(names):
        if is_background(cls) or (k == 0 and not any(is_background(n) for n in names)):
            continue
        col = f"iou@{k}"
        values = runs.assign(**{col: [(d or {}).get(cls, np.nan) if isinstance(d, dict) else np.nan
                                      for d in runs.get("class_iou", [None] * len(runs))]})
        out += [replace(d, metric=f"iou@{k}:{cls}") for d in baseline_differences(values, baseline, labels, col)]
    return out


def class_of(difference: Difference) -> str | None:
    """The class name of a per-class difference (metric ``"iou@<k>:<name>"``), else None."""
    return difference.metric.split(":", 1)[1] if difference.metric.startswith("iou@") else None


def _class_names(runs: pd.DataFrame) -> list[str]:
    """The class names in the order the per-image matrices hold them (from a run's config)."""
    if runs.empty:
        return []
    cfg = RunDir(runs["run_dir"].iloc[0]).read_config()
    return list((cfg.get("data") or {}).get("class_names") or [])


def claim_differences(runs: pd.DataFrame, model: str, baseline: str, labels: Mapping[str, str] | None = None,
                      claims: Sequence[str] = tuple(CLAIM_METRICS)) -> list[Difference]:
    """`model` - `baseline` of each claim's metric (:data:`CLAIM_METRICS`: the small-object detection
    rate, the boundary IoU of the classes but the background), for ``text.claims_paragraph``.

    Args:
        claims: the claims to test, keys of :data:`CLAIM_METRICS` (``"small_target"``: a comparison
            of ASPP heads; ``"edge"``: of shallow feature fusion), in the order given.

    Raises:
        ValueError: `model` or `baseline` is not among the runs, they are the same, or an unknown claim.
    """
    names = list(dict.fromkeys(runs["name"]))
    missing = [n for n in (model, baseline) if n not in names]
    if missing or model == baseline:
        raise ValueError(f"model={model!r} and baseline={baseline!r} must be two of the runs {names}")
    bad = [c for c in claims if c not in CLAIM_METRICS]
    if bad or isinstance(claims, str) or not claims:
        raise ValueError(f"claims={claims!r}: choose one or more of {list(CLAIM_METRICS)} (a list, e.g. ['edge']).")
    pair = runs[runs["name"].isin([model, baseline])]
    return [baseline_differences(pair, baseline, labels, CLAIM_METRICS[c])[0] for c in claims]


def _not_learned(runs: pd.DataFrame) -> tuple[str, ...]:
    """The classes whose IoU, averaged over the model's seeds, is under the not-learned threshold."""
    return not_learned_classes(runs.get("class_iou", pd.Series(dtype=object)))


def not_learned_classes(per_seed_iou: Iterable[Any]) -> tuple[str, ...]:
    """The classes whose IoU (percent; one ``{class: IoU}`` per seed), averaged over the seeds, is
    under the not-learned threshold (:func:`segkit.metrics.not_learned`)."""
    from segkit.metrics import not_learned

    per_seed = [d for d in per_seed_iou if isinstance(d, dict) and d]
    classes = list(dict.fromkeys(c for d in per_seed for c in d))
    means = {c: mean_std([d.get(c, np.nan) for d in per_seed])[0] / 100 for c in classes}  # NaN: no value
    return tuple(not_learned(means))


def with_differences(table: pd.DataFrame, differences: list[Difference], name_header: str = "Model",
                     suffix: str = "") -> pd.DataFrame:
    """`table` plus ``Δ<metric>`` and its two 95 % intervals as ``[lo, hi]`` (the baseline row: dashes);
    `suffix` is appended to the three headers (e.g. " vs best single", for a second reference)."""
    if not differences:
        return table
    head = _METRIC_HEADERS.get(differences[0].metric, differences[0].metric)
    by_name = {d.name: d for d in differences}
    out = table.copy()
    out[f"Δ{head}{suffix}"] = [by_name[n].delta if n in by_name else math.nan for n in out[name_header]]
    out[f"95% CI (seeds){suffix}"] = [_ci(by_name.get(n), "seeds") for n in out[name_header]]
    out[f"95% CI (images){suffix}"] = [_ci(by_name.get(n), "images") for n in out[name_header]]
    return out


def _ci(d: Difference | None, which: str) -> str:
    """An interval cell: "–" for the baseline, "not learned" where a model has not learned a class."""
    if d is None:
        return "–"
    if not d.comparable:
        return "n/a (not learned)"
    return _fmt(getattr(d, which))


def run_setup(runs: pd.DataFrame) -> dict[str, Any]:
    """What the runs were trained and scored on, read from their ``config.yaml`` / ``metrics.json``.

    Returns a dict of value lists (one entry per distinct value): dataset, image_size,
    epochs, seeds, num_train, num_val, num_test, split.
    """
    fields: dict[str, list[Any]] = {k: [] for k in ("dataset", "image_size", "epochs", "seeds", "num_train", "num_val",
                                                   "num_test", "split")}
    for run_dir in runs["run_dir"]:
        rd = RunDir(run_dir)
        cfg, met = rd.read_config(), rd.read_metrics()
        data, train = cfg.get("data") or {}, cfg.get("train") or {}
        shape = train.get("input_shape") or [None, None]
        values = {"dataset": Path(str(data.get("root") or "?")).name, "image_size": "×".join(map(str, shape)),
                  "epochs": train.get("UnFreeze_Epoch"), "seeds": train.get("seed"), "num_train": data.get("num_train"),
                  "num_val": data.get("num_val"), "num_test": met.get("num_images"), "split": met.get("split")}
        for k, v in values.items():
            if v not in fields[k]:
                fields[k].append(v)
    return fields


def setup_caption(title: str, runs: pd.DataFrame, baseline: str | None = None) -> str:
    """``title`` + the setup: dataset, size, epochs, seeds, image counts, which split is scored."""
    s = run_setup(runs)
    one = lambda k: "/".join(str(v) for v in s[k]) if s[k] else "?"  # noqa: E731
    seeds = sorted(v for v in s["seeds"] if v is not None)
    split = one("split")
    scored = (f"scored on the {split} split ({one('num_test')} images), checkpoint chosen on val"
              if "val" not in s["split"] else "scored on the val split that also chose the checkpoint (no test split)")
    runs_of = (f"seeds {', '.join(map(str, seeds))} (n = {len(seeds)}; mean ± std)" if len(seeds) > 1 else
               f"seed {', '.join(map(str, seeds)) or '?'} (one run each: no std, no interval over seeds)")
    parts = [f"{one('dataset')}, {one('image_size')} px, {counted(one('epochs'), 'epoch')}", runs_of,
             f"{one('num_train')} train / {one('num_val')} val images, {scored}"]
    if baseline:
        parts.append(f"Δ vs {baseline} with 95 % CIs paired over seeds (t) and over test images (bootstrap)")
    return f"{title}. " + "; ".join(parts) + "."


# ----------------------------------------------------------------------------- helpers
def _fmt(interval: Any) -> str:
    return interval.format() if interval is not None else "–"


def _absent_policy(run_dir: str) -> str:
    return str((RunDir(run_dir).read_config().get("train") or {}).get("absent", "nan"))


def _paired_matrices(var_dirs: pd.Series, base_dirs: pd.Series,
                     key: str | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(S, N, K, K) stacks of both models (with `key`: (S, N, ...) stacks of that per-image array,
    e.g. "boundary"), or None when a run has no per-image matrices (or not that array)."""
    stacks: list[list[np.ndarray]] = [[], []]
    ids = None
    for side, dirs in enumerate((var_dirs, base_dirs)):
        for d in dirs:
            try:
                cms, names = RunDir(d).read_per_image()
            except FileNotFoundError:
                return None
            if key is not None:
                cms = RunDir(d).read_per_image_extra().get(key)
                if cms is None:  # evaluated before the per-image counts existed
                    return None
            if ids is None:
                ids = names
            elif names != ids:
                raise ValueError(f"{d} was scored on other images than the baseline; both must use the same test split")
            stacks[side].append(cms)
    return np.stack(stacks[0]), np.stack(stacks[1])
