"""Train-or-reuse run directories: one run per model, seed and setup, never trained twice.

A run is reused only when its ``fingerprint.json`` equals what a new training would record
(config, model spec, data files, code); otherwise the old run is moved to ``.superseded/``
and retrained, and the log names the fields that changed. An identical complete run
elsewhere under ``share_root`` (another notebook's baseline with the same setup) is copied
instead of trained, so one setup has one baseline number in every table of a report.
Reading the runs back is :mod:`segkit.report.runs`.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping

from segkit.runs import RunDir

__all__ = ["ensure_run"]


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
    share_root: str | Path | None = None,
    only_reuse: bool = False,
    **train_kwargs: Any,
) -> Path | None:
    """Train ``model_name`` into ``run_dir`` unless an identical complete run is already there.

    Identical means the stored ``fingerprint.json`` equals the new one. A different run
    (or ``force``) is moved to ``<parent>/.superseded/`` (never deleted) and trained again,
    and `log` names what changed. An interrupted identical run is resumed.

    Args:
        model_name: a registry name (``segkit.models.list_models()``).
        cfg: a ``segkit.engine.TrainConfig``.
        data_root: dataset root (VOC layout).
        run_dir: ``runs/<profile>/<dataset>/<experiment>/<name>/seed<k>``.
        force: retrain even when an identical run exists.
        device: "cpu", "cuda", "auto" ...
        model_kwargs: extra ``build_model`` arguments (``num_classes`` comes from the data).
        model: a ready ``nn.Module`` (e.g. with stitched modules) instead of building by name.
        log: one line saying what happened (reused, copied, retrained and why, trained).
        share_root: also reuse an identical complete run found anywhere under this folder
            (its files are hard-linked or copied here; ``bench.json`` is not, FPS is measured
            with the experiment it belongs to).
        only_reuse: reuse or link an identical run (moving a different one aside), but
            return None instead of training, so that the caller trains it elsewhere (a
            Slurm job, ``segkit.experiments.executors``).
        **train_kwargs: passed on to ``segkit.engine.train``.

    Returns:
        The run directory (None: `only_reuse` and the run needs training).
    """
    from segkit.engine import train

    rd = RunDir(run_dir)
    say = log or (lambda _msg: None)
    if rd.lock_path.is_file():
        with rd.lock():  # raises at once, naming the holder, while another process trains here
            pass
    cfg, target = _target(model_name, cfg, model, model_kwargs)
    action, detail = _decide(rd, _planned(target, cfg, data_root), force, share_root)
    if action == "reuse":
        say(f"reusing {rd.path} (same config, model, data and code)")
        return rd.path
    if action == "link":
        _link_run(detail, rd.path)
        say(f"reusing {detail} for {rd.path} (identical setup)")
        return rd.path
    if action == "retrain":
        dest = rd.supersede()
        say(f"retraining {rd.path}: {'; '.join(detail)} (the previous run is kept in {dest})")
    if only_reuse:
        return None
    if action == "resume":
        say(f"resuming {model_name} -> {rd.path} from its last.pt ({_epochs_done(rd)} of {cfg.UnFreeze_Epoch} "
            "epochs done)")
    else:
        say(f"training {model_name} -> {rd.path}")
    return Path(train(target, cfg, data_root=data_root, run_dir=rd.path, device=device, resume=action == "resume",
                      **train_kwargs))


def _target(model_name: str, cfg: Any, model: Any, model_kwargs: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """(the run's config, what to train: the given module or the registry name)."""
    if model is not None:
        return cfg, model
    kwargs = {**dict(cfg.model_kwargs), **dict(model_kwargs or {})}
    return cfg.replace(model=model_name, model_kwargs=kwargs), model_name


def _planned(target: Any, cfg: Any, data_root: str | Path) -> dict[str, Any]:
    """The fingerprint a training would record, as it reads back from ``fingerprint.json``."""
    from segkit.training.trainer import plan_run

    return json.loads(json.dumps(plan_run(target, cfg, data_root)))


def _decide(rd: RunDir, want: dict[str, Any], force: bool, share_root: str | Path | None) -> tuple[str, Any]:
    """What ``ensure_run`` does with `rd`: ("reuse" | "link" (twin dir) | "retrain" (why) | "resume" | "train", detail)."""
    from segkit.runs.fingerprint import fingerprint_changes

    if rd.path.exists() and (rd.is_run() or rd.has_last()):
        have = rd.read_fingerprint()
        if have == want and not force:
            if rd.is_complete():
                return "reuse", None
            return ("resume" if rd.has_last() else "train"), None
        return "retrain", ["force=True"] if have == want else fingerprint_changes(have, want)
    if not force and share_root is not None:
        twin = _find_twin(Path(share_root), want, rd.path)
        if twin is not None:
            return "link", twin
    return "train", None


def _epochs_done(rd: RunDir) -> int:
    """The epochs an interrupted run's ``last.pt`` holds."""
    return int(rd.load_checkpoint("last").get("epoch", 0))


def _find_twin(root: Path, fingerprint: dict[str, Any], exclude: Path) -> Path | None:
    """A complete run under `root` with this fingerprint (not `exclude`, not superseded)."""
    if not root.is_dir():
        return None
    for fp in sorted(root.rglob(RunDir.FINGERPRINT)):
        d = fp.parent
        if RunDir.SUPERSEDED in d.parts or d.resolve() == exclude.resolve():
            continue
        try:
            same = json.loads(fp.read_text(encoding="utf-8")) == fingerprint
        except (OSError, ValueError):
            continue
        if same and RunDir(d).is_complete():
            return d
    return None


def _link_run(src: Path, dst: Path) -> None:
    """Copy a run directory by hard links (copies where links fail), without its lock and bench."""
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(RunDir.LOCK, RunDir.BENCH, ".*.tmp-*"))
