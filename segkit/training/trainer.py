"""`train`: the reference training recipe writing a run directory (:mod:`segkit.runs`).

Reproducibility: every epoch's randomness is derived from ``(seed, epoch, rank)`` (the
global RNGs are re-seeded at the start of each epoch, the sampler shuffles with
``seed + epoch`` and the dataset's augmentation stream is selected with ``set_epoch``), and
``last.pt`` stores the model, optimiser, scaler, schedule, RNG states and history. Ctrl-C
takes effect at a step boundary. A run resumed from ``last.pt`` therefore reaches the same
weights as an uninterrupted one (on CPU), after a crash, SIGKILL or Ctrl-C.

The parts: :mod:`segkit.training.build` (datasets, model, placement), :mod:`segkit.training.loop`
(the `Trainer`: train_one_epoch, validate, save, resume), :mod:`segkit.training.hooks`
(callbacks, Ctrl-C) and :mod:`segkit.training.optim` (optimiser step, seeding).
"""
from __future__ import annotations

import os
import platform
import shutil
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

import segkit
from segkit._utils import count_params
from segkit.training.build import (auto_class_weights, build_run_model, fingerprint_of, init_weights, named_config,
                                   place_model, resolve_class_weights, run_datasets)
from segkit.training.config import TrainConfig
from segkit.runtime.distributed import DistInfo, barrier, setup_distributed
from segkit.inference.evaluate import crop_eval_scale, evaluate_confusion, extra_metrics_for
from segkit.training.from_runs import Run, load_run, load_teacher, warm_start
from segkit.training.hooks import Callback, TrainState, call_hooks
from segkit.training.loop import Trainer, TrainParts
from segkit.training.optim import NonFiniteLossError, seed_all
from segkit.training.rare_setup import setup_rare
from segkit.training.schedule import step_sanity_check
from segkit.training.tensorboard import tensorboard_writer
from segkit.runtime.threads import loader_workers
from segkit.metrics import images_per_class, learning_lines
from segkit.runs import HISTORY_COLUMNS, RunDir

__all__ = ["train", "plan_run", "load_run", "Run", "Callback", "TrainState", "NonFiniteLossError", "HISTORY_COLUMNS",
           "auto_class_weights"]


def _claim(rd: RunDir, verbose: bool):
    """Clean temp files a killed save left and take the run directory's lock (rank 0 only)."""
    removed = rd.prepare()
    lock = rd.lock().acquire()
    if lock.stale and verbose:
        tqdm.write(f"[segkit] took over the lock of {rd.path} left by PID {lock.stale.get('pid')} "
                   "(that process is gone)")
    if removed and verbose:
        tqdm.write(f"[segkit] removed {len(removed)} temp file(s) left by a killed save: "
                   f"{', '.join(p.name for p in removed)}")
    return lock


def train(
    model: nn.Module | str | None = None,
    cfg: TrainConfig | None = None,
    data_root: str | Path | None = None,
    run_dir: str | Path = "runs/exp/run",
    *,
    device: str | None = None,
    resume: bool = False,
    resume_from: str | Path | None = None,
    callbacks: Sequence[Any] = (),
    progress: bool = True,
    verbose: bool = True,
    train_dataset: Any = None,
    val_dataset: Any = None,
    test_dataset: Any = None,
    started: float | None = None,
) -> Path:
    """Train a segmentation model with the reference recipe and write a run directory.

    The best checkpoint is chosen on the validation split (``cfg.val_split``); the final
    ``metrics.json`` and ``per_image_cm.npz`` evaluate it on ``cfg.test_split`` when the
    dataset has that split, otherwise on the validation split (``metrics.json`` says which).
    With ``cfg.ema_decay`` the weight average is what is validated, chosen and saved as
    best.pt; ``cfg.early_stop_patience`` and ``cfg.time_limit`` can end the run before
    ``UnFreeze_Epoch`` (see :mod:`segkit.training.loop`).

    Args:
        model: An ``nn.Module``, a registered model name, or None (``cfg.model``). A model
            built by name (here or by ``segkit.build_model``, stitched or not) can be rebuilt
            by :func:`load_run`. Unless ``cfg.init_type`` is ``"none"``, ``cfg.model_path`` is
            set or the model was built with pretrained weights, the reference weight init is
            applied (as the reference does with ``pretrained=False``).
        cfg: The recipe (default ``TrainConfig()`` = the reference values).
        data_root: VOC-layout dataset folder (``cfg.train_split`` / ``val_split`` / ``test_split``).
        run_dir: Output folder (see :mod:`segkit.runs`). It is locked while training:
            a second process training into it fails at once, naming the holder.
        device: Overrides ``cfg.device`` (``"auto"``: cuda, mps, cpu).
        resume: Continue from ``run_dir/checkpoints/last.pt`` when it exists (model,
            optimiser, scaler, schedule, RNG states, history). A changed config is used,
            written to ``config.yaml`` and listed under its ``changes:``; another model or
            class count is an error. Without `resume`, a run directory that already holds
            ``last.pt`` is an error. An unreadable ``last.pt`` falls back to the newest
            readable ``checkpoints/epNNN.pt`` (weights and epoch; the optimiser restarts).
        resume_from: Continue from this checkpoint file instead of ``last.pt`` (implies
            `resume`).
        callbacks: Objects with any of the :class:`Callback` hooks.
        progress: tqdm bars (epochs and steps with loss, lr and ETA).
        verbose: Print the config table and the per-epoch lines.
        train_dataset, val_dataset, test_dataset: Use these datasets instead of building
            ``VOCSegmentation`` from `data_root` (evaluation ones need ``load_original``).
        started: ``time.perf_counter()`` when the command started (default: when this call
            starts): ``cfg.time_limit`` counts from then, and covers the final evaluation.

    Returns:
        The run directory.

    Raises:
        NonFiniteLossError: The loss became NaN/inf (``last.pt`` keeps the last good epoch).
        RunLockedError: Another live process trains into `run_dir`.
        KeyboardInterrupt: After Ctrl-C (taken at the next step boundary), once ``last.pt``
            holds the interrupted state; resuming from it reaches the uninterrupted weights.
    """
    import torch.distributed as dist

    started = time.perf_counter() if started is None else started  # a time_limit counts the whole call
    cfg = cfg if cfg is not None else TrainConfig()
    created_group = not (dist.is_available() and dist.is_initialized())
    info = setup_distributed(device or cfg.device)
    created_group = created_group and info.distributed
    rd = RunDir(run_dir)
    made = _what_would_be_made(rd.path)
    lock, held, failed = None, False, False
    try:
        if info.is_main:
            lock = _claim(rd, verbose)
            held = True  # only a call that held the lock removes anything (never another run's files)
        _train(model, cfg, data_root, rd, info, resume or resume_from is not None, list(callbacks), progress,
               verbose, (train_dataset, val_dataset, test_dataset), started, resume_from)
        return rd.path
    except BaseException:
        failed = True
        raise
    finally:
        if lock is not None:
            lock.release()
        if failed and held:
            _remove_unstarted(rd, made)
        if created_group and dist.is_initialized():
            dist.destroy_process_group()


def _what_would_be_made(path: Path) -> tuple[Path | None, set[str]]:
    """(the highest folder of `path` that does not exist yet, the names already in `path`)."""
    top, p = None, path.absolute()
    while not p.exists():
        top, p = p, p.parent
    return top, set(os.listdir(path)) if top is None and path.is_dir() else set()


def _remove_unstarted(rd: RunDir, made: tuple[Path | None, set[str]]) -> None:
    """After a failure before any checkpoint was saved, remove what this call created (the folder, or
    its lock, marker, empty checkpoints/ and config files), so a failed start leaves nothing behind."""
    if any(rd.checkpoint_dir.glob("*.pt")):  # training began: last.pt is what --resume continues from
        return
    top, before = made
    if top is not None:
        shutil.rmtree(top, ignore_errors=True)
        return
    for name in set(os.listdir(rd.path)) - before if rd.path.is_dir() else ():
        p = rd.path / name
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def plan_run(model: nn.Module | str | None, cfg: TrainConfig, data_root: str | Path | None = None,
             datasets: tuple[Any, Any, Any] = (None, None, None)) -> dict[str, Any]:
    """The fingerprint (:mod:`segkit.runs.fingerprint`) that :func:`train` would record.

    Builds the datasets and the model (under ``cfg.seed``), trains nothing. A complete run
    directory whose ``fingerprint.json`` equals this can be reused instead of training.
    """
    cfg = named_config(model, cfg)
    train_ds, val_ds, test_ds = run_datasets(cfg, data_root, datasets)
    num_classes = int(cfg.num_classes or train_ds.num_classes)
    seed_all(cfg.seed)
    _, spec = build_run_model(model, cfg, num_classes)
    return fingerprint_of(cfg.to_dict(), spec, num_classes, train_ds, val_ds, test_ds)


def _train(model: Any, cfg: TrainConfig, data_root: Any, rd: RunDir, info: DistInfo, resume: bool,
           callbacks: list[Any], progress: bool, verbose: bool, datasets: tuple[Any, Any, Any],
           started: float | None = None, resume_from: str | Path | None = None) -> None:
    """Prepare the run, train it with a :class:`Trainer`, then score best.pt on the report split."""
    loud = verbose and info.is_main
    say = (lambda *a: tqdm.write(" ".join(str(x) for x in a))) if loud else (lambda *a: None)
    last_path = rd.checkpoint("last")
    if last_path.is_file() and not resume:
        raise ValueError(f"run_dir {str(rd.path)!r} already holds a run ({last_path}); pass resume=True to "
                         "continue it or choose a new run_dir")
    if resume_from is not None and not Path(resume_from).is_file():
        raise FileNotFoundError(f"--resume-from {resume_from}: no such checkpoint file")
    resuming = resume and (last_path.is_file() or resume_from is not None)
    parts, fingerprint, given_sets = _prepare(model, cfg, data_root, rd, info, resuming, progress, loud, say, datasets)
    if info.is_main and parts.cfg.tensorboard:
        writer = tensorboard_writer(rd.tensorboard_dir, parts.val_ds, say=say)
        callbacks = callbacks + ([writer] if writer else [])
    trainer = Trainer(parts, callbacks, progress, say, started=started)
    if resuming:
        trainer.resume(fingerprint, resume_from)
    elif resume:
        say(f"[resume] no {last_path} yet; starting a new run")
    report_ds, report_split = _report_split(parts.cfg, *given_sets[1:])
    if trainer.budget is not None:
        _time_the_evaluation(trainer, report_ds)
        _warn_when_evaluation_is_over_budget(trainer, report_split, say)
    resolved = _resolved_config(trainer, data_root, given_sets, report_split, resume)
    if resolved["changes"]:  # never equal to a fresh run's: its first epochs trained under another config
        fingerprint["resumed_with_changes"] = resolved["changes"]
    if info.is_main:
        rd.write_config(resolved)
        rd.write_fingerprint(fingerprint)
        if parts.rare:
            parts.rare.write(rd.path / "rare_sampling.json")
        if loud:
            _print_plan(trainer, len(given_sets[0]), len(given_sets[1]))
    trainer.run()

    barrier()
    if info.is_main:
        if not rd.checkpoint("best").is_file():  # stopped early before any evaluation: keep the last weights
            history = trainer.loop.history
            rd.save_checkpoint("best", trainer.payload(trainer.loop.epochs_done, metrics=history[-1] if history else {}))
        if trainer.budget is not None:
            say(f"scoring best.pt on the {report_split} split ({trainer.report_images} images, about "
                f"{trainer.budget.reserve:.0f} s)")
        payload = _final_evaluation(rd, parts.net, report_ds, report_split, parts.cfg, parts.eval_kw, trainer.loop.best)
        chosen = (f"best val mIoU at epoch {payload['epoch']}" if trainer.loop.best["miou_epoch"] is not None else
                  f"no validation before the time budget ran out: the weights after epoch {payload['epoch']}")
        say(f"{chosen}; scored on the {report_split} split ({payload['num_images']} images):")
        for line in payload.pop("_lines"):
            say(line)
    call_hooks(callbacks, "on_train_end", trainer.state)
    barrier()


def _prepare(model: Any, cfg: TrainConfig, data_root: Any, rd: RunDir, info: DistInfo, resuming: bool,
             progress: bool, loud: bool, say: Callable[..., None],
             datasets: tuple[Any, Any, Any]) -> tuple[TrainParts, dict[str, Any], tuple[Any, Any, Any]]:
    """Datasets, class weights, the model (seeded, initialised unless resuming, placed), the loss.

    Returns:
        ``(parts, fingerprint, (train, val, test-or-None))``.
    """
    from segkit.losses import SegLoss

    cfg = named_config(model, cfg)
    train_ds, val_ds, test_ds = run_datasets(cfg, data_root, datasets)
    num_classes = int(cfg.num_classes or train_ds.num_classes)
    class_names = list(getattr(train_ds, "class_names", [f"class_{i}" for i in range(num_classes)]))
    given = cfg.to_dict()  # the fingerprint records what was asked for ("auto" weights, not their values)
    cfg = resolve_class_weights(cfg, train_ds, class_names, say)
    rare = setup_rare(cfg, train_ds, num_classes, class_names)  # sampling probabilities; crops on train_ds
    # the model is built under cfg.seed: the same weights whichever process or notebook trains it
    seed_all(cfg.seed)
    net, spec = build_run_model(model, cfg, num_classes)
    if getattr(net, "num_classes", num_classes) != num_classes:
        raise ValueError(f"the model predicts {net.num_classes} classes but the data has {num_classes}; "
                         f"build it with num_classes={num_classes}")
    fingerprint = fingerprint_of(given, spec, num_classes, train_ds, val_ds, test_ds)
    if not resuming:  # a resumed run's checkpoint already holds the (warm-started) weights
        init_weights(net, cfg, spec, verbose=loud)
        if cfg.warm_start:
            warm_start(net, cfg.warm_start, rd.path if info.is_main else None, say)
    net, model_train, prec = place_model(net, cfg, info, say)
    teacher = load_teacher(cfg.distill_from, num_classes, info.device) if cfg.distill_from else None
    loss_fn = SegLoss(num_classes, focal_loss=cfg.focal_loss, dice_loss=cfg.dice_loss,
                      cls_weights=cfg.cls_weights, ignore_index=cfg.ignore_index, ohem=cfg.ohem_thresh,
                      lovasz_loss=cfg.lovasz_loss).to(info.device)
    eval_kw = dict(device=info.device, input_shape=cfg.input_shape, batch_size=cfg.eval_batch_size,
                   max_images=cfg.max_val_images, num_classes=num_classes, ignore_index=cfg.ignore_index,
                   absent=cfg.absent, progress=progress, precision=prec,
                   native=crop_eval_scale(cfg.to_dict()))  # crop-trained: whole images at crop_scale
    parts = TrainParts(cfg, rd, info, net, model_train, prec, loss_fn, spec, class_names, train_ds, val_ds, eval_kw,
                       rare, teacher)
    return parts, fingerprint, (train_ds, val_ds, test_ds)


def _time_the_evaluation(trainer: Trainer, report_ds: Any) -> None:
    """Time the scoring of one image, so the time budget keeps what the final evaluation and the
    first epoch's end will take (each later evaluation measures it again)."""
    p = trainer.parts
    n = len(report_ds) if p.cfg.max_val_images is None else min(len(report_ds), p.cfg.max_val_images)
    trainer.report_images = n
    one = {**p.eval_kw, "max_images": 1, "progress": False}
    evaluate_confusion(trainer.eval_net, report_ds, distributed=False, **one)  # the first call sets kernels up
    t0 = time.perf_counter()
    evaluate_confusion(trainer.eval_net, report_ds, distributed=False, **one)
    per_image = time.perf_counter() - t0
    trainer.keep_for_final_evaluation(per_image)
    due = p.cfg.eval_flag and p.cfg.eval_period == 1  # the first epoch's end scores val for mIoU ...
    passes = int(due) + int(due or p.cfg.val_loss_every_epoch)  # ... and for the loss, unless only then
    trainer.budget.estimate_epoch_end(per_image * trainer.n_val * passes)


def _warn_when_evaluation_is_over_budget(trainer: Trainer, split: str, say: Any) -> None:
    """Say before training when scoring the report split alone takes longer than the whole time budget:
    the run will take one step and then run past its budget for the evaluation."""
    budget, n = trainer.budget, trainer.report_images
    if budget.reserve > budget.seconds:
        say(f"time_limit={budget.seconds:g} s is shorter than scoring the {split} split alone (about "
            f"{budget.reserve:.0f} s for {n} images at this size): training takes one step and the command about "
            f"{budget.reserve:.0f} s more; raise time_limit, or score fewer images (--set max_val_images=N)")


def _report_split(cfg: TrainConfig, val_ds: Any, test_ds: Any) -> tuple[Any, str]:
    """(dataset, split name) that metrics.json scores: the test split when there is one, else val."""
    report_ds = test_ds if test_ds is not None else val_ds
    return report_ds, getattr(report_ds, "split", cfg.test_split if test_ds is not None else cfg.val_split)


def _resolved_config(trainer: Trainer, data_root: Any, datasets: tuple[Any, Any, Any], report_split: str,
                     resume: bool) -> dict[str, Any]:
    """``config.yaml``: versions, device, model spec, data, effective learning rates, the resolved recipe."""
    p, cfg = trainer.parts, trainer.cfg
    train_ds, val_ds, test_ds = datasets
    num_classes = len(p.class_names)
    earlier = p.rd.read_config().get("changes", []) if resume else []
    changes = trainer.loop.changes
    fitted = trainer.schedule_for(cfg.Unfreeze_batch_size)
    return {
        "segkit_version": segkit.__version__,
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": str(p.info.device),
        "world_size": p.info.world_size,
        "backend": p.info.backend,  # nccl / gloo under torchrun, None in one plain process
        "model": {**p.spec, "num_classes": num_classes, "num_params": count_params(p.net, trainable_only=False)},
        "data": {"root": str(Path(data_root).resolve()) if data_root is not None else None, "num_classes": num_classes,
                 "class_names": p.class_names, "ignore_index": cfg.ignore_index,
                 "train_split": cfg.train_split, "val_split": cfg.val_split, "report_split": report_split,
                 "num_train": len(train_ds), "num_val": len(val_ds),
                 "num_test": len(test_ds) if test_ds is not None else 0},
        "effective_lr": {"Init_lr_fit": fitted.lr, "Min_lr_fit": fitted.min_lr,
                         "note": ("Init_lr/Min_lr scaled by batch_size/nbs within the reference limits" if cfg.lr_scaling
                                  else "Init_lr/Min_lr used as given (lr_scaling: false)")},
        "train": {**cfg.to_dict(), "model": p.spec.get("name") or p.spec.get("class")},
        "changes": earlier + ([{"resumed_at_epoch": trainer.start_epoch, "changed": changes}] if changes else []),
        "precision": p.prec.to_dict(),  # what precision/channels_last "auto" resolved to on this device
        "threads": {"torch": torch.get_num_threads(),
                    "loader_workers": loader_workers(cfg.num_workers, p.info.device.type)},
        "rare_classes": p.rare.record() if p.rare else None,
    }


def _print_plan(trainer: Trainer, num_train: int, num_val: int) -> None:
    """The reference's configuration table and its too-few-steps warning."""
    cfg = trainer.cfg
    tqdm.write(cfg.table(num_train=num_train, num_val=num_val, save_dir=str(trainer.parts.rd.path),
                         num_classes=len(trainer.parts.class_names)))
    warn = step_sanity_check(num_train, cfg.Unfreeze_batch_size, trainer.total, cfg.optimizer_type)
    if warn:
        tqdm.write(warn)


def _final_evaluation(rd: RunDir, net: nn.Module, report_ds: Any, report_split: str, cfg: TrainConfig,
                      eval_kw: dict[str, Any], best: dict[str, Any]) -> dict[str, Any]:
    """Score best.pt on the report split; write metrics.json, per_image_cm.npz, confusion_matrix.csv."""
    state = rd.load_checkpoint("best")
    net.load_state_dict(state["model"])
    per_image: list[np.ndarray] = []
    extra = extra_metrics_for(net, report_ds, eval_kw.get("num_classes"), eval_kw.get("ignore_index", 255),
                              per_image=True)
    cm = evaluate_confusion(net, report_ds, distributed=False, per_image=per_image, extra=extra, **eval_kw)
    m = replace(cm.compute(), **extra.compute())
    n = len(per_image)
    ids = list(getattr(report_ds, "ids", range(len(report_ds))))[:n]
    payload = {**m.as_dict(), "checkpoint": f"{RunDir.CHECKPOINTS}/best.pt", "epoch": int(state["epoch"]),
               "split": report_split, "selection_split": cfg.val_split,
               "on_selection_split": report_split == cfg.val_split, "num_images": n,
               "input_shape": list(cfg.input_shape),
               "best_val_loss": {"epoch": best["loss_epoch"], "val_loss": best["val_loss"]}}
    rd.write_per_image(np.stack(per_image) if per_image else np.zeros((0, m.num_classes, m.num_classes)),
                       [str(i) for i in ids], report_split, extra=extra.per_image_arrays())
    rd.write_confusion(m.hist, list(m.class_names))
    rd.write_metrics(payload)
    return {**payload, "_lines": m.report_lines() + learning_lines(m, images_per_class(per_image))}


