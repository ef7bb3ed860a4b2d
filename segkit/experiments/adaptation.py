"""Run an adaptation experiment: one Trans4PASS adaptation folder per seed, the source-only stage shared.

:mod:`segkit.report.adaptation` reads the folders back (source-only vs adapted on the target,
pseudo-labels, prototypes).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from segkit.adapt import adapt
from segkit.adapt.stages import source_config
from segkit.experiments.runs import ensure_run
from segkit.runs import RunDir

__all__ = ["run_adaptation"]


def run_adaptation(model_name: str, cfg: Any, acfg: Any, data_root: str | Path, target_root: str | Path,
                   runs_dir: str | Path, seeds: Sequence[int], experiment: str = "adaptation", force: bool = False,
                   device: str = "cpu", log: Any = print, verbose: bool = False) -> list[Path]:
    """Adapt `model_name` once per seed into ``<runs_dir>/<experiment>/<model_name>/seed<k>/``.

    Each seed's source-only stage goes through ``ensure_run`` with ``share_root=runs_dir``: an
    identical complete run elsewhere in the report (the same recipe on letterboxed images, as
    the source stage trains, seed and data) is linked instead of trained, and the source is
    never trained twice. Finished stages are skipped, interrupted ones resumed.

    Returns:
        The adaptation run directories, in seed order.
    """
    out = []
    for s in seeds:
        rd = RunDir(Path(runs_dir) / experiment / model_name / f"seed{int(s)}")
        if force and rd.path.exists():
            rd.supersede()
        seed_cfg = source_config(cfg.replace(model=model_name, seed=int(s)))  # what adapt trains: no source run twice
        if not rd.stages_path.is_file():
            ensure_run(model_name, seed_cfg, data_root, rd.sub(RunDir.SOURCE_RUN).path, force=force, device=device,
                       log=log, share_root=runs_dir, progress=verbose, verbose=verbose)
        adapt(model_name, seed_cfg, acfg, data_root, target_root, rd.path, device=device, progress=verbose,
              verbose=verbose, log=log)
        out.append(rd.path)
    return out
