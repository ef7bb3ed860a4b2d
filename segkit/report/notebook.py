"""The first code cell every report notebook runs: one call instead of a copied setup block."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

__all__ = ["NotebookPaths", "setup_notebook"]


class NotebookPaths(NamedTuple):
    """Where a notebook reads data and writes runs, figures and tables (None when not asked for)."""

    data_root: Path | None
    runs_dir: Path | None
    figures_dir: Path | None
    tables_dir: Path | None


def setup_notebook(*, seed: int = 0, threads: int = 0, lang: str = "en", data_root: str | Path | None = None,
                   runs_dir: str | Path | None = None, figures_dir: str | Path | None = None,
                   tables_dir: str | Path | None = None, n_images: int = 80, image_size: int = 64,
                   test_fraction: float = 0.0, device: str = "cpu",
                   synthetic: dict | None = None) -> NotebookPaths:
    """Seed torch, set threads and the figure style, and make sure the dataset exists.

    Args:
        seed: torch's global seed (and the synthetic data's, when it is generated).
        threads: torch CPU threads; 0 leaves torch's default.
        lang: figure labels, "en" or "zh".
        data_root: a VOC-layout dataset; synthetic wire-rope data is generated there when it is
            missing or was generated with other arguments (see ``ensure_dataset``).
        runs_dir, figures_dir, tables_dir: output folders, returned as paths.
        n_images, image_size, test_fraction: the synthetic data to generate.
        synthetic: more arguments of ``make_synthetic_wirerope`` (``val_fraction``,
            ``damage_scale`` ...): the profile's embedded data (``report: synthetic:``).
        device: only printed, so the reader sees where the notebook trains.

    Returns:
        The four folders as paths (None where not given), in the order of the arguments.
    """
    import torch

    from segkit.report.runs import ensure_dataset
    from segkit.report.style import use_style

    # UserWarnings from third-party plotting and torch internals would bury the notebook's output.
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    use_style(lang)
    if data_root is not None:
        data_root = ensure_dataset(data_root, n_images=n_images, size=image_size, seed=seed,
                                   test_fraction=test_fraction, log=print, **(synthetic or {}))
    paths = NotebookPaths(*(None if p is None else Path(p) for p in (data_root, runs_dir, figures_dir, tables_dir)))
    if data_root is not None:
        print("data:", paths.data_root, "| runs:", paths.runs_dir, "| device:", device)
    return paths
