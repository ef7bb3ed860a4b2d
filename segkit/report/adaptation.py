"""Report an adaptation experiment: source-only vs adapted on the target, pseudo-labels, prototypes.

Reads only the folders ``segkit.adapt.adapt`` writes (one per seed, see ``segkit.runs``):
the target scores of both models (``source_on_target/`` and ``adapted/``, with per-image
confusion matrices), the pseudo-label PNGs and ``prototypes.npz``. The difference
"adapted - source-only" gets the two 95 % intervals of ``segkit.report.stats``: over the
paired seeds and over the target's test images (paired bootstrap).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from segkit._moved import moved_names
from segkit.report.stats import Difference, compare
from segkit.report.tables import PAPER_HEADERS
from segkit.runs import RunDir

__all__ = ["adaptation_comparison", "plot_pseudo_labels", "plot_prototypes"]

# run_adaptation moved to the write side; found there on first use (the report never trains)
__getattr__ = moved_names(__name__, {"run_adaptation": "segkit.experiments.adaptation"})

SOURCE_ONLY, ADAPTED = "Source-only", "Adapted (MPA)"


def _scores(rd: RunDir) -> tuple[dict[str, Any], np.ndarray, list[str]]:
    cms, ids = rd.read_per_image()
    return rd.read_metrics(), cms, ids


def adaptation_comparison(run_dirs: Sequence[str | Path], labels: tuple[str, str] = (SOURCE_ONLY, ADAPTED),
                          metric: str = "miou") -> tuple[pd.DataFrame, Difference]:
    """Target scores of both models over seeds, and ``adapted - source-only`` with its intervals.

    Args:
        run_dirs: one finished adaptation run per seed (the seeds pair source-only with adapted).
        labels: display names of (source-only, adapted).
        metric: "miou", "f1", "mpa" or "accuracy".

    Returns:
        ``(table, difference)``: the table has one row per model with the metric (mean, its
        ``std`` column), the IoU of every class but the background (mean ± std) with the
        "Not learned" cell, ``n`` seeds and, on the adapted row, Δ and its 95 % intervals over
        seeds and over target test images (no evidence when either model has not learned a class).

    Raises:
        ValueError: no runs, or runs scored on different target images.
    """
    from segkit.report.compare import not_learned_classes, with_differences
    from segkit.report.runs import class_columns, class_iou as read_class_iou

    if not run_dirs:
        raise ValueError("run_dirs is empty; pass the adaptation runs, one per seed")
    rows: dict[str, list[Any]] = {"before": [], "after": []}
    class_iou: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    ids0: list[str] | None = None
    for d in run_dirs:
        rd = RunDir(d)
        for key, sub in (("before", RunDir.SOURCE_ON_TARGET), ("after", RunDir.ADAPTED_RUN)):
            m, cms, ids = _scores(rd.sub(sub))
            if ids0 is not None and ids != ids0:
                raise ValueError(f"{rd.sub(sub).path} was scored on other target images than {run_dirs[0]}; "
                                 "every seed must use the same target test split")
            ids0 = ids
            rows[key].append((100.0 * float(m[metric]), cms))
            class_iou[key].append(read_class_iou(m))
    head = PAPER_HEADERS.get(metric, metric)
    values = {k: [v for v, _ in r] for k, r in rows.items()}
    cms = {k: np.stack([c for _, c in r]) for k, r in rows.items()}
    absent = str((RunDir(run_dirs[0]).sub(RunDir.ADAPTED_RUN).read_config().get("train") or {}).get("absent", "nan"))
    diff = compare(labels[1], labels[0], values["after"], values["before"], cms["after"], cms["before"],
                   metric=metric, absent=absent)  # type: ignore[arg-type]
    diff = replace(diff, variant_not_learned=not_learned_classes(class_iou["after"]),
                   baseline_not_learned=not_learned_classes(class_iou["before"]))
    table = pd.DataFrame([{"Model": label, head: float(np.mean(values[k])),
                           f"{head} std": float(np.std(values[k], ddof=1)) if len(values[k]) > 1 else np.nan,
                           **class_columns(class_iou[k]), "n": len(values[k])}
                          for label, k in zip(labels, ("before", "after"))])
    return with_differences(table, [diff]), diff


def plot_pseudo_labels(run_dir: str | Path, n: int = 4, size: float = 2.0):
    """Target images (top) and their pseudo-labels (bottom; white = unconfident, ignored in training)."""
    from segkit.data import colorize_mask, read_image
    from segkit.report.figures import _plt

    rd = RunDir(run_dir)
    info = rd.read_thresholds()
    if not info:
        raise FileNotFoundError(f"{rd.thresholds_path} is missing; the pseudo-label stage of {rd.path} "
                                "has not finished")
    ids, images = list(info["ids"])[:n], list(info["image_paths"])[:n]
    plt = _plt()
    fig, axes = plt.subplots(2, len(ids), figsize=(size * len(ids), 2 * size), squeeze=False)
    for j, (image_id, path) in enumerate(zip(ids, images)):
        pseudo = _read_png(rd.pseudo_label(image_id))
        kept = 100.0 * float((pseudo != 255).mean())
        axes[0, j].imshow(np.asarray(read_image(path)))
        axes[0, j].set_title(image_id, fontsize=7)
        axes[1, j].imshow(colorize_mask(pseudo))
        axes[1, j].set_title(f"{kept:.0f}% confident", fontsize=7)
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    thr = ", ".join(f"{c} {t:.2f}" for c, t in zip(info["class_names"], info["thresholds"]))
    fig.suptitle(f"Pseudo-labels (per-class thresholds: {thr})", fontsize=8)
    fig.tight_layout()
    return fig


def plot_prototypes(run_dir: str | Path, size: float = 3.0):
    """The MPA prototype memory: initial and final prototypes (classes x feature channels, on one
    colour scale) and the cosine similarity between the final ones."""
    from segkit.report.figures import _plt

    rd = RunDir(run_dir)
    protos = rd.sub(RunDir.ADAPTED_RUN).read_prototypes()
    names = [str(c) for c in protos["class_names"]]
    init, final = protos["initial"].astype(np.float64), protos["final"].astype(np.float64)
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(3.2 * size, size), gridspec_kw={"width_ratios": [2, 2, 1.2]})
    lo, hi = float(min(init.min(), final.min())), float(max(init.max(), final.max()))
    for ax, p, title in ((axes[0], init, "initial"), (axes[1], final, "after adaptation")):
        im = ax.imshow(p, aspect="auto", cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_xlabel("feature channel")
        ax.set_title(f"prototypes, {title}", fontsize=8)
        ax.grid(False)
        fig.colorbar(im, ax=ax, fraction=0.04)
    unit = final / np.maximum(np.linalg.norm(final, axis=1, keepdims=True), 1e-12)
    im = axes[2].imshow(unit @ unit.T, vmin=-1, vmax=1, cmap="coolwarm")
    axes[2].set_xticks(range(len(names)), names, fontsize=7, rotation=90)
    axes[2].set_yticks(range(len(names)), names, fontsize=7)
    axes[2].set_title("cosine similarity", fontsize=8)
    axes[2].grid(False)
    fig.colorbar(im, ax=axes[2], fraction=0.05)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- helpers
def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)
