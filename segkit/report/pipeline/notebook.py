"""The first code cell every report notebook runs: one call instead of a copied setup block."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

__all__ = ["NotebookPaths", "setup_notebook", "output_paths"]


class NotebookPaths(NamedTuple):
    """Where a notebook reads data and writes runs, figures and tables (None when not asked for)."""

    data_root: Path | None
    runs_dir: Path | None
    figures_dir: Path | None
    tables_dir: Path | None


def output_paths(profile: str | Path, data_root: str | Path, base: str | Path = ".") -> dict[str, Path]:
    """Where a report of `data_root` under `profile` writes, below `base`: ``runs/<profile>/<dataset>``
    and ``reports/<profile>/<dataset>`` with ``figures/`` and ``tables/`` in it; ``<dataset>`` is
    the dataset folder's name, so reports of different data never mix."""
    name, dataset = Path(str(profile)).stem, Path(data_root).resolve().name
    out = Path(base) / "reports" / name / dataset
    return {"runs_dir": Path(base) / "runs" / name / dataset, "out_dir": out, "figures_dir": out / "figures",
            "tables_dir": out / "tables"}


def setup_notebook(*, seed: int = 0, threads: int = 0, lang: str = "en", data_root: str | Path | None = None,
                   runs_dir: str | Path | None = None, figures_dir: str | Path | None = None,
                   tables_dir: str | Path | None = None, n_images: int = 80, image_size: int = 64,
                   test_fraction: float = 0.0, device: str = "cpu", profile: str = "quick",
                   synthetic: dict | None = None) -> NotebookPaths:
    """Seed torch, set threads and the figure style, and make sure the dataset exists.

    Relative paths are read from the working directory: the notebook's folder in JupyterLab
    (the printed line shows them resolved).

    Args:
        seed: torch's global seed (and the synthetic data's, when it is generated).
        threads: torch CPU threads; 0: segkit's plan for this machine (``segkit.runtime.threads``: every core
            the process may use, OpenCV on one thread). Parallel runs split them (``run_experiment``'s `workers`).
        lang: figure labels, "en" or "zh".
        data_root: a VOC-layout dataset; synthetic wire-rope data is generated there when it is
            missing or was generated with other arguments (see ``ensure_dataset``).
        runs_dir, figures_dir, tables_dir: output folders, returned as paths. With a
            `data_root`, None means `output_paths` below ``..`` (the folder above the notebook's),
            named after `profile` and the dataset.
        n_images, image_size, test_fraction: the synthetic data to generate.
        synthetic: more arguments of ``make_synthetic_wirerope`` (``val_fraction``,
            ``damage_scale`` ...): the profile's embedded data (``report: synthetic:``).
        device: only printed, so the reader sees where the notebook trains.
        profile: the profile the outputs are filed under.

    Returns:
        The four folders as paths (None where not given and no `data_root`), in the order of the arguments.
    """
    import torch

    from segkit.data.synthetic import ensure_dataset
    from segkit.runtime.threads import apply_threads, plan_threads
    from segkit.report.style import use_style

    # UserWarnings from third-party plotting and torch internals would bury the notebook's output.
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.manual_seed(seed)
    apply_threads(plan_threads("cpu", threads or None, workers=0))  # a kernel trains in-process, without loader workers
    use_style(lang)
    if data_root is not None:
        data_root = ensure_dataset(data_root, n_images=n_images, size=image_size, seed=seed,
                                   test_fraction=test_fraction, log=print, **(synthetic or {}))
    if data_root is not None:
        default = output_paths(profile, data_root, "..")
        runs_dir = runs_dir if runs_dir is not None else default["runs_dir"]
        figures_dir = figures_dir if figures_dir is not None else default["figures_dir"]
        tables_dir = tables_dir if tables_dir is not None else default["tables_dir"]
    paths = NotebookPaths(*(None if p is None else Path(p) for p in (data_root, runs_dir, figures_dir, tables_dir)))
    if data_root is not None:
        print("data:", paths.data_root.resolve(), "| runs:", paths.runs_dir.resolve(), "| device:", device)
        if not all(p.is_absolute() for p in paths if p is not None):
            print(f"(relative paths are read from {Path.cwd()}, the notebook's folder)")
    return paths
