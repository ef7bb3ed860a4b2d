"""`train`: the reference training recipe (training.md) writing a DESIGN.md run directory.

Run directory (the contract every notebook reads)::

    run_dir/
      config.yaml           resolved config: train (TrainConfig), model, data, versions, device
      history.csv           one row per epoch (lr, losses, f_score, val metrics when evaluated, time)
      checkpoints/          best.pt (best val mIoU), best_loss.pt (best val loss), last.pt,
                            epNNN.pt (every save_period epochs and the last); atomic writes
      metrics.json          final evaluation of best.pt (means, per class, confusion matrix)
      confusion_matrix.csv  rows = ground truth, columns = prediction

Reproducibility: every epoch's randomness is derived from ``(seed, epoch, rank)`` (the
global RNGs are re-seeded at the start of each epoch, the sampler shuffles with
``seed + epoch`` and the dataset's augmentation stream is selected with ``set_epoch``), and
``last.pt`` stores the model, optimiser, scaler, schedule, RNG states and history. A run
resumed from ``last.pt`` therefore reaches the same weights as an uninterrupted one (on CPU).
"""
from __future__ import annotations

import csv
import dataclasses
import inspect
import io
import json
import math
import os
import platform
import random
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn as nn
import yaml
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

import segkit
from segkit.engine.checkpoint import (
    CHECKPOINT_FORMAT,
    atomic_save,
    atomic_write_text,
    get_rng_state,
    load_checkpoint,
    set_rng_state,
)
from segkit.engine.config import TrainConfig
from segkit.engine.distributed import DistInfo, all_reduce_sum, barrier, setup_distributed
from segkit._utils import main_logits
from segkit.engine.evaluate import evaluate_confusion, unwrap_model
from segkit.engine.precision import resolve_precision
from segkit.engine.schedule import EpochLR, fit_lr, set_optimizer_lr, step_sanity_check

__all__ = ["train", "load_run", "Run", "Callback", "TrainState", "NonFiniteLossError", "HISTORY_COLUMNS"]

HISTORY_COLUMNS = [
    "epoch", "stage", "batch_size", "lr", "train_loss", "f_score", "val_loss", "val_f_score",
    "miou", "mpa", "mprecision", "accuracy", "f1", "mean_f1", "time",
]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/inf; the message names epoch, step and what to change."""


@dataclass
class TrainState:
    """What callbacks see. ``epoch`` is 0-based; ``row`` is the epoch's history row."""

    cfg: TrainConfig
    run_dir: Path
    model: nn.Module
    optimizer: torch.optim.Optimizer
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    loss: float = float("nan")
    row: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    rank: int = 0
    stop_training: bool = False  # set by a hook: this epoch is evaluated and the run ends after it


class Callback:
    """Hook points of :func:`train`; override any.

    Raising from a hook aborts the run (``last.pt`` is already written when ``on_epoch_end``
    runs). Setting ``state.stop_training = True`` ends it cleanly: the current epoch is
    finished, evaluated and checkpointed, then the final ``metrics.json`` is written (early
    stopping, wall-time budgets). Under DDP every rank must make the same decision.
    """

    def on_train_start(self, state: TrainState) -> None: ...
    def on_epoch_start(self, state: TrainState) -> None: ...
    def on_step_end(self, state: TrainState) -> None: ...
    def on_epoch_end(self, state: TrainState) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...


def _call(callbacks: Sequence[Any], hook: str, state: TrainState) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(state)


# ----------------------------------------------------------------------------- helpers
def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 1009 + rank) % 2**31


def _worker_init(worker_id: int) -> None:
    # torch seeds each worker from the loader's (epoch-seeded) generator; derive the rest
    s = torch.initial_seed() % 2**32
    random.seed(s)
    np.random.seed(s)


def _model_spec(model: Any, cfg: TrainConfig, num_classes: int) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model when given by name; return it with what load_run needs to rebuild it."""
    from segkit.models import build_model, model_info

    if model is None or isinstance(model, str):
        name = model or cfg.model
        kwargs = dict(cfg.model_kwargs)
        params = inspect.signature(model_info(name).factory).parameters
        var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        kwargs.setdefault("num_classes", num_classes)
        if cfg.backbone:  # one backbone value for the whole config (training.md §3)
            kwargs.setdefault("backbone", cfg.backbone)
        if "downsample_factor" in params or (var_kw and cfg.downsample_factor != 16):
            kwargs.setdefault("downsample_factor", cfg.downsample_factor)
        net = build_model(name, **kwargs)
        return net, {"name": name, "kwargs": kwargs, "built_by": "segkit.train"}
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, a registered model name or None, got {type(model).__name__}")
    spec = getattr(model, "segkit_spec", None)  # set by builders that want load_run support
    cls = type(model)
    out = {"name": None, "kwargs": {}, "class": f"{cls.__module__}.{cls.__qualname__}"}
    if isinstance(spec, dict) and spec.get("name"):
        out.update(name=spec["name"], kwargs=dict(spec.get("kwargs", {})))
    return model, out


def _set_backbone_trainable(model: nn.Module, trainable: bool) -> None:
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, nn.Module):
        raise ValueError(
            f"Freeze_Train=True needs a model with a .backbone module; {type(model).__name__} has none. "
            "Set Freeze_Train=False"
        )
    for p in backbone.parameters():
        p.requires_grad = trainable


def _build_optimizer(model: nn.Module, cfg: TrainConfig, lr: float) -> torch.optim.Optimizer:
    params = list(model.parameters())  # built once over all parameters, as the reference
    if cfg.optimizer_type == "sgd":
        return torch.optim.SGD(params, lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay)
    if cfg.optimizer_type == "adam":
        return torch.optim.Adam(params, lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _history_csv(history: list[dict[str, Any]]) -> str:
    cols = list(HISTORY_COLUMNS)
    for row in history:
        cols += [k for k in row if k not in cols]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for row in history:
        w.writerow([_fmt(row.get(c)) for c in cols])
    return buf.getvalue()


def _confusion_csv(hist: np.ndarray, names: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([""] + list(names))  # the reference layout: header row, then name + counts
    for name, row in zip(names, hist.tolist()):
        w.writerow([name] + [int(v) for v in row])
    return buf.getvalue()


def _nonfinite_message(epoch: int, total: int, step: int, steps: int, lr: float, cfg: TrainConfig, last: Path) -> str:
    keep = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was written yet"
    fixes = ["lower Init_lr (e.g. by 10x)", "set grad_clip (e.g. 10.0)"]
    if cfg.precision != "fp32":
        fixes.insert(0, "set precision='fp32' (mixed precision can overflow)")
    fixes.append(f"check the masks hold only 0..num_classes-1 and ignore_index={cfg.ignore_index}")
    return (f"loss became NaN/inf at epoch {epoch + 1}/{total}, step {step + 1}/{steps} (lr={lr:.3g}); "
            f"training stopped and {keep} (resume with resume=True after changing the config). "
            f"Fixes: {'; '.join(fixes)}.")


# ----------------------------------------------------------------------------- train
def auto_class_weights(dataset: Any, num_classes: int, ignore_index: int = 255, power: float = 0.25,
                       max_weight: float = 10.0) -> list[float]:
    """Loss weights from the class pixel frequencies of a dataset's masks: ``(f_max / f_c) ** power``.

    The fourth root (``power=0.25``) lifts rare classes without the false-positive flood of
    full inverse-frequency weighting: on the synthetic wire ropes (background ~99 %,
    corrosion ~0.8 %, broken wire ~0.3 %) it gives about ``[1, 3.3, 4.3]``. Weights are capped
    at ``max_weight``; classes with no pixels get 1. Reads every mask once (``mask_paths``
    of a ``VOCSegmentation``, else ``dataset[i][1]``).
    """
    counts = np.zeros(num_classes, dtype=np.int64)
    paths = getattr(dataset, "mask_paths", None)
    if paths is not None:
        from segkit.data import read_mask

        masks = (read_mask(p) for p in paths)
    else:
        masks = (np.asarray(dataset[i][1]) for i in range(len(dataset)))
    for m in masks:
        m = m[(m != ignore_index) & (m < num_classes)]
        counts += np.bincount(m.ravel().astype(np.int64), minlength=num_classes)[:num_classes]
    if counts.sum() == 0:
        raise ValueError("cls_weights='auto': the training masks hold no labelled pixel; check the dataset")
    present = counts > 0
    w = np.ones(num_classes)
    w[present] = np.minimum((counts.max() / counts[present]) ** power, max_weight)
    return [float(v) for v in w]


def train(
    model: nn.Module | str | None = None,
    cfg: TrainConfig | None = None,
    data_root: str | Path | None = None,
    run_dir: str | Path = "runs/exp/run",
    *,
    device: str | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    progress: bool = True,
    verbose: bool = True,
    train_dataset: Any = None,
    val_dataset: Any = None,
) -> Path:
    """Train a segmentation model with the reference recipe and write a run directory.

    Args:
        model: An ``nn.Module``, a registered model name, or None (``cfg.model``). A model
            built by name can be rebuilt by :func:`load_run`. Unless ``cfg.init_type`` is
            ``"none"`` or ``cfg.model_path`` is set, the reference weight init is applied
            (as the reference does with ``pretrained=False``).
        cfg: The recipe (default ``TrainConfig()`` = the reference values).
        data_root: VOC-layout dataset folder (``cfg.train_split`` / ``cfg.val_split``).
        run_dir: Output folder (DESIGN.md run directory).
        device: Overrides ``cfg.device`` (``"auto"``: cuda, mps, cpu).
        resume: Continue from ``run_dir/checkpoints/last.pt`` when it exists (model,
            optimiser, scaler, schedule, RNG states, history). Without it, a run directory
            that already holds ``last.pt`` is an error.
        callbacks: Objects with any of the :class:`Callback` hooks.
        progress: tqdm bars (epochs and steps with loss, lr and ETA).
        verbose: Print the config table and the per-epoch lines.
        train_dataset, val_dataset: Use these datasets instead of building
            ``VOCSegmentation`` from `data_root` (the validation one needs ``load_original``).

    Returns:
        The run directory.

    Raises:
        NonFiniteLossError: The loss became NaN/inf (``last.pt`` keeps the last good epoch).
        KeyboardInterrupt: After Ctrl-C, once ``last.pt`` holds the interrupted state.
    """
    import torch.distributed as dist

    cfg = cfg if cfg is not None else TrainConfig()
    created_group = not (dist.is_available() and dist.is_initialized())
    info = setup_distributed(device or cfg.device)
    created_group = created_group and info.distributed
    try:
        return _train(model, cfg, data_root, Path(run_dir), info, resume, list(callbacks), progress, verbose,
                      train_dataset, val_dataset)
    finally:
        if created_group and dist.is_initialized():
            dist.destroy_process_group()


def _train(model, cfg, data_root, run_dir, info: DistInfo, resume, callbacks, progress, verbose,
           train_ds, val_ds) -> Path:
    from segkit.losses import SegLoss

    dev = info.device
    main = info.is_main
    say = (lambda *a: tqdm.write(" ".join(str(x) for x in a))) if (verbose and main) else (lambda *a: None)
    ckpt_dir = run_dir / "checkpoints"
    last_path = ckpt_dir / "last.pt"
    if last_path.is_file() and not resume:
        raise ValueError(
            f"run_dir {str(run_dir)!r} already holds a run ({last_path}); pass resume=True to continue it "
            "or choose a new run_dir"
        )

    # ---- data
    if train_ds is None or val_ds is None:
        if data_root is None:
            raise ValueError("data_root is None: pass the VOC-layout dataset folder (or train_dataset=/val_dataset=)")
        from segkit.data import VOCSegmentation

        common = dict(input_shape=tuple(cfg.input_shape), num_classes=cfg.num_classes,
                      ignore_index=cfg.ignore_index, seed=cfg.seed)
        train_ds = train_ds or VOCSegmentation(data_root, split=cfg.train_split, augment=cfg.augment, **common)
        val_ds = val_ds or VOCSegmentation(data_root, split=cfg.val_split, augment=False, **common)
    num_classes = int(cfg.num_classes or train_ds.num_classes)
    class_names = list(getattr(train_ds, "class_names", [f"class_{i}" for i in range(num_classes)]))
    if cfg.cls_weights == "auto":
        cfg = dataclasses.replace(cfg, cls_weights=auto_class_weights(train_ds, num_classes, cfg.ignore_index))
        say(f"[segkit] cls_weights='auto' -> {[round(w, 3) for w in cfg.cls_weights]} (from the training masks)")
    if cfg.cls_weights is not None and len(cfg.cls_weights) != num_classes:
        raise ValueError(f"cls_weights={cfg.cls_weights} has {len(cfg.cls_weights)} entries but the data has "
                         f"{num_classes} classes {class_names}; give one weight per class or None")

    # ---- model (built under cfg.seed: the same weights whichever process or notebook trains it)
    _seed_all(cfg.seed)
    net, spec = _model_spec(model, cfg, num_classes)
    if getattr(net, "num_classes", num_classes) != num_classes:
        raise ValueError(f"the model predicts {net.num_classes} classes but the data has {num_classes}; "
                         f"build it with num_classes={num_classes}")
    if not resume or not last_path.is_file():
        if cfg.model_path:
            from segkit.models._weights import load_weights

            load_weights(net, cfg.model_path, verbose=main and verbose)
        elif cfg.init_type != "none":
            from segkit.models._weights import weights_init

            weights_init(net, cfg.init_type, cfg.init_gain, verbose=main and verbose)
    net.to(dev)
    prec = resolve_precision(cfg.precision, cfg.channels_last, dev, net)
    say(f"[segkit] {prec.describe()}")
    if prec.channels_last:
        net.to(memory_format=torch.channels_last)
    if cfg.sync_bn and info.distributed:
        if dev.type == "cuda":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        else:
            say("[segkit] sync_bn needs CUDA (PyTorch's SyncBatchNorm is GPU-only); using per-process BatchNorm")
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [dev.index] if dev.type == "cuda" else None
        model_train: nn.Module = DDP(net, device_ids=ids, find_unused_parameters=cfg.Freeze_Train)
    else:
        model_train = net
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark

    loss_fn = SegLoss(num_classes, focal_loss=cfg.focal_loss, dice_loss=cfg.dice_loss,
                      cls_weights=cfg.cls_weights, ignore_index=cfg.ignore_index)
    loss_fn = loss_fn.to(dev)
    f_score_fn = loss_fn.f_score

    # ---- optimiser, schedule, AMP
    T = cfg.UnFreeze_Epoch

    def stage_of(epoch: int) -> tuple[str, int]:
        if cfg.Freeze_Train and epoch < cfg.Freeze_Epoch:
            return "freeze", cfg.Freeze_batch_size
        return "unfreeze", cfg.Unfreeze_batch_size

    def schedule_for(bs: int) -> EpochLR:
        lr, min_lr = fit_lr(cfg.Init_lr, cfg.Min_lr, bs, cfg.optimizer_type, cfg.nbs, cfg.backbone or spec.get("name") or "")
        return EpochLR(cfg.lr_decay_type, lr, min_lr, T)

    _, bs0 = stage_of(cfg.Init_Epoch)
    optimizer = _build_optimizer(net, cfg, schedule_for(bs0).lr)
    use_scaler = prec.scaler
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    # ---- resume
    start_epoch, start_step = cfg.Init_Epoch, 0
    history: list[dict[str, Any]] = []
    best = {"miou": -math.inf, "val_loss": math.inf, "miou_epoch": None, "loss_epoch": None}
    partial = {"loss": 0.0, "f": 0.0, "n": 0}
    resumed_rng = False
    if resume and last_path.is_file():
        state = load_checkpoint(last_path, map_location=dev)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        history = list(state.get("history", []))
        best.update(state.get("best", {}))
        start_epoch = int(state["epoch"])
        interrupted = state.get("interrupted")
        if interrupted:
            start_step = int(interrupted["step"])
            partial = {"loss": float(interrupted["loss_sum"]), "f": float(interrupted["f_sum"]),
                       "n": int(interrupted["n"])}
        rng = state.get("rng_per_rank", {}).get(str(info.rank))
        if rng is not None:
            set_rng_state(rng)
            resumed_rng = True
        old = state.get("config", {})
        changed = {k: (old.get(k), v) for k, v in cfg.to_dict().items() if k in old and old[k] != v}
        if changed:
            say(f"[resume] config differs from the checkpoint in {sorted(changed)}; using the new values")
        say(f"[resume] continuing {last_path} at epoch {start_epoch + 1}/{T}"
            + (f", step {start_step + 1}" if start_step else ""))
    elif resume:
        say(f"[resume] no {last_path} yet; starting a new run")

    # ---- run directory
    resolved = {
        "segkit_version": segkit.__version__,
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": str(dev),
        "world_size": info.world_size,
        "model": {**spec, "num_classes": num_classes,
                  "num_params": sum(p.numel() for p in net.parameters())},
        "data": {"root": str(Path(data_root).resolve()) if data_root is not None else None, "num_classes": num_classes,
                 "class_names": class_names, "ignore_index": cfg.ignore_index,
                 "train_split": cfg.train_split, "val_split": cfg.val_split,
                 "num_train": len(train_ds), "num_val": len(val_ds)},
        "effective_lr": {"Init_lr_fit": schedule_for(cfg.Unfreeze_batch_size).lr,
                         "Min_lr_fit": schedule_for(cfg.Unfreeze_batch_size).min_lr,
                         "note": "Init_lr/Min_lr scaled by batch_size/nbs within the reference limits"},
        "train": {**cfg.to_dict(), "model": spec.get("name") or spec.get("class")},
        "precision": prec.to_dict(),  # what precision/channels_last "auto" resolved to on this device
    }
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt_dir.mkdir(exist_ok=True)
        if not (resume and (run_dir / "config.yaml").is_file()):
            atomic_write_text(yaml.safe_dump(resolved, sort_keys=False), run_dir / "config.yaml")
        if verbose:
            tqdm.write(cfg.table(num_train=len(train_ds), num_val=len(val_ds), save_dir=str(run_dir),
                                 num_classes=num_classes))
            warn = step_sanity_check(len(train_ds), cfg.Unfreeze_batch_size, T, cfg.optimizer_type)
            if warn:
                tqdm.write(warn)

    ts = TrainState(cfg, run_dir, net, optimizer, history=history, rank=info.rank)
    _call(callbacks, "on_train_start", ts)

    val_n = len(val_ds) if cfg.max_val_images is None else min(len(val_ds), cfg.max_val_images)
    val_idx = list(range(info.rank, val_n, info.world_size))

    def loader(ds, indices, bs, epoch) -> DataLoader:
        g = torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch, info.rank))
        return DataLoader(ds, batch_size=bs, sampler=indices, drop_last=False, num_workers=cfg.num_workers,
                          pin_memory=dev.type == "cuda", worker_init_fn=_worker_init, generator=g)

    def snapshot(epoch_done: int, interrupted: dict | None = None, gather: bool = True) -> dict[str, Any]:
        rng = get_rng_state()
        return {
            "format": CHECKPOINT_FORMAT, "epoch": epoch_done, "model": net.state_dict(),
            "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict() if use_scaler else None,
            "schedule": schedule_for(stage_of(min(epoch_done, T - 1))[1]).state_dict(),
            "rng": rng, "rng_per_rank": _gather_rng(rng, info) if gather else {str(info.rank): rng},
            "history": history, "best": best, "interrupted": interrupted,
            "config": cfg.to_dict(), "model_spec": spec, "class_names": class_names,
            "segkit_version": segkit.__version__, "torch_version": str(torch.__version__),
        }

    ep_bar = tqdm(total=T, initial=start_epoch, desc="Epochs", unit="ep", disable=not (progress and main), dynamic_ncols=True)
    frozen_state: bool | None = None
    step = start_step
    epoch = start_epoch
    epochs_done = start_epoch
    loss_sum, f_sum, n_seen = partial["loss"], partial["f"], partial["n"]
    try:
        for epoch in range(start_epoch, T):
            t0 = time.perf_counter()
            stage, bs = stage_of(epoch)
            if cfg.Freeze_Train and frozen_state != (stage == "freeze"):
                _set_backbone_trainable(net, stage != "freeze")
                frozen_state = stage == "freeze"
            bs_local = bs // info.world_size
            if bs_local < 1:
                raise ValueError(f"batch size {bs} is smaller than the number of processes {info.world_size}; "
                                 "raise the batch size or use fewer processes")
            schedule = schedule_for(bs)
            lr = set_optimizer_lr(optimizer, schedule, epoch)
            if step == 0 and not (resumed_rng and epoch == start_epoch and start_step > 0):
                _seed_all(_epoch_seed(cfg.seed, epoch, info.rank))
            if hasattr(train_ds, "set_epoch"):
                train_ds.set_epoch(epoch)
            sampler = DistributedSampler(train_ds, num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                         seed=cfg.seed, drop_last=True)
            sampler.set_epoch(epoch)
            order = list(sampler)
            steps = len(order) // bs_local  # drop_last=True, as the reference
            if cfg.max_train_batches is not None:
                steps = min(steps, cfg.max_train_batches)
            if steps < 1:
                raise ValueError(f"{len(train_ds)} training images give no full batch of {bs}; lower the batch size")
            ts.epoch, ts.steps_per_epoch = epoch, steps
            _call(callbacks, "on_epoch_start", ts)

            # ---- train one epoch
            model_train.train()
            loss_sum, f_sum, n_seen = (partial["loss"], partial["f"], partial["n"]) if step else (0.0, 0.0, 0)
            indices = order[step * bs_local: steps * bs_local]
            bar = tqdm(loader(train_ds, indices, bs_local, epoch), total=steps, initial=step,
                       desc=f"Epoch {epoch + 1}/{T}", unit="it", leave=False, dynamic_ncols=True,
                       disable=not (progress and main))
            for x, y in bar:
                x = x.to(dev, non_blocking=True)
                y = y.to(dev, non_blocking=True)
                x = prec.input(x)
                optimizer.zero_grad(set_to_none=True)
                with prec.autocast():
                    out = model_train(x)
                # the loss in fp32, outside autocast
                outs = [o.float() for o in out] if isinstance(out, (list, tuple)) else [main_logits(out).float()]
                loss = loss_fn(outs[0], y)
                for aux in outs[1:]:
                    loss = loss + cfg.aux_weight * loss_fn(aux, y)
                finite = bool(torch.isfinite(loss).item())
                if info.distributed:  # every rank stops together
                    finite = all_reduce_sum([0.0 if finite else 1.0], dev)[0] == 0
                if not finite:
                    raise NonFiniteLossError(_nonfinite_message(epoch, T, step, steps, lr, cfg, last_path))
                scaler.scale(loss).backward()
                if cfg.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                with torch.no_grad():
                    f = float(f_score_fn(outs[0], y))
                loss_sum += float(loss.item())
                f_sum += f
                n_seen += 1
                step += 1
                ts.step, ts.loss = step, float(loss.item())
                bar.set_postfix(total_loss=f"{loss_sum / n_seen:.4f}", f_score=f"{f_sum / n_seen:.4f}", lr=f"{lr:.3g}")
                _call(callbacks, "on_step_end", ts)
                if step >= steps:
                    break
            bar.close()
            tr_loss, tr_f, tr_n = all_reduce_sum([loss_sum, f_sum, float(n_seen)], dev)

            # ---- validation loss
            model_train.eval()
            v_sum, vf_sum, v_n = 0.0, 0.0, 0.0
            with torch.no_grad():
                for x, y in loader(val_ds, val_idx, bs_local, epoch) if val_idx else []:
                    x, y = prec.input(x.to(dev)), y.to(dev)
                    with prec.autocast():
                        logits = main_logits(net(x))
                    logits = logits.float()
                    v_sum += float(loss_fn(logits, y)) * len(x)
                    vf_sum += float(f_score_fn(logits, y)) * len(x)
                    v_n += len(x)
            v_sum, vf_sum, v_n = all_reduce_sum([v_sum, vf_sum, v_n], dev)
            val_loss = v_sum / max(v_n, 1)

            # ---- evaluation at the original resolution
            row: dict[str, Any] = {
                "epoch": epoch + 1, "stage": stage, "batch_size": bs, "lr": lr,
                "train_loss": tr_loss / max(tr_n, 1), "f_score": tr_f / max(tr_n, 1),
                "val_loss": val_loss, "val_f_score": vf_sum / max(v_n, 1),
            }
            cm = None
            if (cfg.eval_flag and (epoch + 1) % cfg.eval_period == 0) or epoch + 1 == T or ts.stop_training:
                cm = evaluate_confusion(net, val_ds, device=dev, input_shape=cfg.input_shape,
                                        batch_size=cfg.eval_batch_size, max_images=cfg.max_val_images,
                                        num_classes=num_classes, ignore_index=cfg.ignore_index,
                                        absent=cfg.absent, distributed=info.distributed, progress=progress,
                                        precision=prec)
                m = cm.compute()
                row.update({k: float(v) for k, v in m.summary().items() if k != "mean_f1_fg"})
                row.update({f"iou_{n}": float(v) for n, v in zip(m.class_names, m.iou)})
            row["time"] = time.perf_counter() - t0
            history.append(row)
            ts.row = row

            # ---- checkpoints (rank 0), then the epoch line
            if main:
                light = {"format": CHECKPOINT_FORMAT, "epoch": epoch + 1, "model": net.state_dict(),
                         "config": cfg.to_dict(), "model_spec": spec, "class_names": class_names, "metrics": row,
                         "segkit_version": segkit.__version__}
                if cm is not None and not math.isnan(row["miou"]) and row["miou"] >= best["miou"]:
                    best.update(miou=row["miou"], miou_epoch=epoch + 1)
                    atomic_save({**light, "confusion_matrix": cm.hist.cpu().clone()}, ckpt_dir / "best.pt")
                if val_loss <= best["val_loss"]:
                    best.update(val_loss=val_loss, loss_epoch=epoch + 1)
                    atomic_save(light, ckpt_dir / "best_loss.pt")
                if (epoch + 1) % cfg.save_period == 0 or epoch + 1 == T:
                    atomic_save(light, ckpt_dir / f"ep{epoch + 1:03d}.pt")
                atomic_write_text(_history_csv(history), run_dir / "history.csv")
            snap = snapshot(epoch + 1)
            if main:
                atomic_save(snap, last_path)
            epochs_done = epoch + 1
            step, partial = 0, {"loss": 0.0, "f": 0.0, "n": 0}
            say(f"Epoch:{epoch + 1}/{T}")
            say("Total Loss: %.3f || Val Loss: %.3f " % (row["train_loss"], val_loss)
                + (f"|| mIoU: {row['miou'] * 100:.2f}" if "miou" in row else ""))
            ep_bar.update(1)
            ep_bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_loss=f"{val_loss:.3f}", lr=f"{lr:.3g}")
            _call(callbacks, "on_epoch_end", ts)
            if ts.stop_training:
                say(f"[segkit] stop requested by a callback after epoch {epoch + 1}/{T}")
                break
    except KeyboardInterrupt:
        ep_bar.close()
        if epochs_done < epoch + 1:  # mid-epoch: store the weights and where to continue
            mid = None if step == 0 else {"epoch": epoch, "step": step, "loss_sum": loss_sum, "f_sum": f_sum,
                                          "n": n_seen}
            snap = snapshot(epoch, mid, gather=False)
            snap["history"] = history[: epoch - cfg.Init_Epoch] if epoch >= cfg.Init_Epoch else history
            if main:
                atomic_save(snap, last_path)
        if main:
            tqdm.write(f"\n[segkit] interrupted at epoch {epoch + 1}, step {step}; {last_path} holds the state. "
                       "Continue with resume=True (CLI: --resume).")
        raise
    ep_bar.close()

    # ---- final evaluation of the best-mIoU checkpoint
    barrier()
    if not (ckpt_dir / "best.pt").is_file():  # stopped early before any evaluation: score the last weights
        cm = evaluate_confusion(net, val_ds, device=dev, input_shape=cfg.input_shape, batch_size=cfg.eval_batch_size,
                                max_images=cfg.max_val_images, num_classes=num_classes,
                                ignore_index=cfg.ignore_index, absent=cfg.absent, distributed=info.distributed,
                                progress=progress, precision=prec)
        if main:
            atomic_save({"format": CHECKPOINT_FORMAT, "epoch": epochs_done, "model": net.state_dict(),
                         "config": cfg.to_dict(), "model_spec": spec, "class_names": class_names,
                         "metrics": history[-1] if history else {}, "segkit_version": segkit.__version__,
                         "confusion_matrix": cm.hist.cpu().clone()}, ckpt_dir / "best.pt")
        barrier()
    best_ckpt = load_checkpoint(ckpt_dir / "best.pt", map_location="cpu")
    from segkit.metrics import ConfusionMatrix

    cm = ConfusionMatrix(num_classes, ignore_index=cfg.ignore_index, class_names=class_names, absent=cfg.absent,
                         strict=False)
    cm.load_state_dict({"hist": best_ckpt["confusion_matrix"]})
    m = cm.compute()
    if main:
        payload = {**m.as_dict(), "checkpoint": "checkpoints/best.pt", "epoch": int(best_ckpt["epoch"]),
                   "split": cfg.val_split, "num_images": val_n, "input_shape": list(cfg.input_shape),
                   "best_val_loss": {"epoch": best["loss_epoch"], "val_loss": best["val_loss"]}}
        atomic_write_text(json.dumps(payload, indent=2), run_dir / "metrics.json")
        atomic_write_text(_confusion_csv(m.hist, list(m.class_names)), run_dir / "confusion_matrix.csv")
        if verbose:
            tqdm.write(f"best val mIoU at epoch {best_ckpt['epoch']}:")
            for line in m.report_lines():
                tqdm.write(line)
    _call(callbacks, "on_train_end", ts)
    barrier()
    return run_dir


def _gather_rng(rng: dict[str, Any], info: DistInfo) -> dict[str, Any]:
    """Every rank's RNG state (rank 0 stores them all in last.pt)."""
    if not info.distributed:
        return {"0": rng}
    import torch.distributed as dist

    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, rng)
    return {str(i): r for i, r in enumerate(gathered)}


# ----------------------------------------------------------------------------- load_run
class Run(NamedTuple):
    """What :func:`load_run` returns (unpacks as ``model, config, history, metrics``)."""

    model: nn.Module
    config: dict[str, Any]
    history: "Any"  # pandas.DataFrame
    metrics: dict[str, Any]

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.config["train"])


def load_run(
    run_dir: str | Path, model: nn.Module | None = None, checkpoint: str = "best", device: str = "cpu"
) -> Run:
    """Load a finished (or running) run directory.

    Args:
        run_dir: The folder :func:`train` wrote.
        model: A module to load the weights into; default: rebuilt from ``config.yaml``
            (possible when the run trained a registered model).
        checkpoint: ``"best"``, ``"best_loss"``, ``"last"``, ``"epNNN"`` or a path.
        device: Where to put the model.

    Returns:
        ``Run(model (eval mode), config dict, history DataFrame, metrics dict)``.
    """
    import pandas as pd

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path} not found; is {str(run_dir)!r} a segkit run directory?")
    config = yaml.safe_load(cfg_path.read_text())
    path = Path(checkpoint)
    if not path.is_file():
        path = run_dir / "checkpoints" / f"{checkpoint}.pt"
    state = load_checkpoint(path, map_location="cpu")
    if model is None:
        spec = config.get("model", {})
        if not spec.get("name"):
            raise ValueError(f"run {str(run_dir)!r} trained a custom module ({spec.get('class')}); "
                             "pass model=<an instance of it> to load_run")
        from segkit.models import build_model

        model = build_model(spec["name"], **spec.get("kwargs", {}))
    model.load_state_dict(state["model"])
    model.to(device).eval()
    hist_path = run_dir / "history.csv"
    history = pd.read_csv(hist_path, float_precision="round_trip") if hist_path.is_file() else pd.DataFrame(columns=HISTORY_COLUMNS)
    met_path = run_dir / "metrics.json"
    metrics = json.loads(met_path.read_text()) if met_path.is_file() else {}
    return Run(model, config, history, metrics)
