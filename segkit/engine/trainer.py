"""`train`: the reference training recipe writing a run directory (:mod:`segkit.rundir`).

Reproducibility: every epoch's randomness is derived from ``(seed, epoch, rank)`` (the
global RNGs are re-seeded at the start of each epoch, the sampler shuffles with
``seed + epoch`` and the dataset's augmentation stream is selected with ``set_epoch``), and
``last.pt`` stores the model, optimiser, scaler, schedule, RNG states and history. Ctrl-C
takes effect at a step boundary. A run resumed from ``last.pt`` therefore reaches the same
weights as an uninterrupted one (on CPU), after a crash, SIGKILL or Ctrl-C.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
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
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

import segkit
from segkit.engine.budget import TimeBudget
from segkit.engine.checkpoint import CHECKPOINT_FORMAT, get_rng_state, load_checkpoint, set_rng_state
from segkit.engine.config import TrainConfig
from segkit.engine.distributed import DistInfo, all_reduce_sum, barrier, setup_distributed
from segkit._utils import count_params, main_logits
from segkit.engine.evaluate import evaluate_confusion
from segkit.engine.fingerprint import data_fingerprint, fingerprint_changes, run_fingerprint
from segkit.rundir import HISTORY_COLUMNS, RunDir
from segkit.engine.precision import resolve_precision
from segkit.engine.schedule import EpochLR, fit_lr, set_optimizer_lr, step_sanity_check

__all__ = ["train", "plan_run", "load_run", "Run", "Callback", "TrainState", "NonFiniteLossError", "HISTORY_COLUMNS"]

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
    """Build the model when given by name; return it with its spec (``model.segkit_spec``: name,
    kwargs, pretrained source, stitches), which load_run rebuilds from."""
    from segkit.models import build_model, model_info
    from segkit.models._spec import spec_as_data, spec_problem

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
        if cfg.pretrained:
            kwargs.setdefault("pretrained", cfg.pretrained)
        net = build_model(name, **kwargs)
        return net, {**spec_as_data(net.segkit_spec), "built_by": "segkit.train"}
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, a registered model name or None, got {type(model).__name__}")
    if cfg.pretrained:
        raise ValueError(f"TrainConfig.pretrained={cfg.pretrained!r} applies when train() builds the model by name; "
                         "for a model you pass, build it with segkit.build_model(..., pretrained=...) instead")
    spec = getattr(model, "segkit_spec", None)  # set by build_model, extended by stitch.insert
    cls = type(model)
    out: dict[str, Any] = {"name": None, "kwargs": {}, "class": f"{cls.__module__}.{cls.__qualname__}"}
    problem = spec_problem(spec)
    if problem is None:
        out.update(spec_as_data(spec))
    elif isinstance(spec, dict) and spec.get("name"):
        out.update(pretrained=spec.get("pretrained"), not_rebuildable=problem)
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
    test_dataset: Any = None,
) -> Path:
    """Train a segmentation model with the reference recipe and write a run directory.

    The best checkpoint is chosen on the validation split (``cfg.val_split``); the final
    ``metrics.json`` and ``per_image_cm.npz`` evaluate it on ``cfg.test_split`` when the
    dataset has that split, otherwise on the validation split (``metrics.json`` says which).

    Args:
        model: An ``nn.Module``, a registered model name, or None (``cfg.model``). A model
            built by name (here or by ``segkit.build_model``, stitched or not) can be rebuilt
            by :func:`load_run`. Unless ``cfg.init_type`` is ``"none"``, ``cfg.model_path`` is
            set or the model was built with pretrained weights, the reference weight init is
            applied (as the reference does with ``pretrained=False``).
        cfg: The recipe (default ``TrainConfig()`` = the reference values).
        data_root: VOC-layout dataset folder (``cfg.train_split`` / ``val_split`` / ``test_split``).
        run_dir: Output folder (see :mod:`segkit.rundir`). It is locked while training:
            a second process training into it fails at once, naming the holder.
        device: Overrides ``cfg.device`` (``"auto"``: cuda, mps, cpu).
        resume: Continue from ``run_dir/checkpoints/last.pt`` when it exists (model,
            optimiser, scaler, schedule, RNG states, history). A changed config is used,
            written to ``config.yaml`` and listed under its ``changes:``; another model or
            class count is an error. Without `resume`, a run directory that already holds
            ``last.pt`` is an error.
        callbacks: Objects with any of the :class:`Callback` hooks.
        progress: tqdm bars (epochs and steps with loss, lr and ETA).
        verbose: Print the config table and the per-epoch lines.
        train_dataset, val_dataset, test_dataset: Use these datasets instead of building
            ``VOCSegmentation`` from `data_root` (evaluation ones need ``load_original``).

    Returns:
        The run directory.

    Raises:
        NonFiniteLossError: The loss became NaN/inf (``last.pt`` keeps the last good epoch).
        RunLockedError: Another live process trains into `run_dir`.
        KeyboardInterrupt: After Ctrl-C (taken at the next step boundary), once ``last.pt``
            holds the interrupted state; resuming from it reaches the uninterrupted weights.
    """
    import torch.distributed as dist

    cfg = cfg if cfg is not None else TrainConfig()
    created_group = not (dist.is_available() and dist.is_initialized())
    info = setup_distributed(device or cfg.device)
    created_group = created_group and info.distributed
    rd = RunDir(run_dir)
    lock = None
    try:
        if info.is_main:
            removed = rd.prepare()
            lock = rd.lock().acquire()
            if lock.stale and verbose:
                tqdm.write(f"[segkit] took over the lock of {rd.path} left by PID {lock.stale.get('pid')} "
                           "(that process is gone)")
            if removed and verbose:
                tqdm.write(f"[segkit] removed {len(removed)} temp file(s) left by a killed save: "
                           f"{', '.join(p.name for p in removed)}")
        return _train(model, cfg, data_root, rd, info, resume, list(callbacks), progress, verbose,
                      (train_dataset, val_dataset, test_dataset))
    finally:
        if lock is not None:
            lock.release()
        if created_group and dist.is_initialized():
            dist.destroy_process_group()


def _datasets(cfg: TrainConfig, data_root: Any, given: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """(train, val, test-or-None): the given datasets, else VOC splits of `data_root`."""
    train_ds, val_ds, test_ds = given
    if train_ds is not None and val_ds is not None:
        return train_ds, val_ds, test_ds
    if data_root is None:
        raise ValueError("data_root is None: pass the VOC-layout dataset folder (or train_dataset=/val_dataset=)")
    from segkit.data import VOCSegmentation
    from segkit.data.voc import resolve_voc_root

    common = dict(input_shape=tuple(cfg.input_shape), num_classes=cfg.num_classes, ignore_index=cfg.ignore_index,
                  seed=cfg.seed, pad_label=cfg.pad_label, check_binary=cfg.check_binary)
    train_ds = train_ds or VOCSegmentation(data_root, split=cfg.train_split, augment=cfg.augment, **common)
    val_ds = val_ds or VOCSegmentation(data_root, split=cfg.val_split, augment=False, **common)
    lists = resolve_voc_root(data_root) / "ImageSets" / "Segmentation"
    if test_ds is None and cfg.test_split and (lists / f"{cfg.test_split}.txt").is_file():
        test_ds = VOCSegmentation(data_root, split=cfg.test_split, augment=False, **common)
    return train_ds, val_ds, test_ds


def plan_run(model: nn.Module | str | None, cfg: TrainConfig, data_root: str | Path | None = None,
             datasets: tuple[Any, Any, Any] = (None, None, None)) -> dict[str, Any]:
    """The fingerprint (:mod:`segkit.engine.fingerprint`) that :func:`train` would record.

    Builds the datasets and the model (under ``cfg.seed``), trains nothing. A complete run
    directory whose ``fingerprint.json`` equals this can be reused instead of training.
    """
    train_ds, val_ds, test_ds = _datasets(cfg, data_root, datasets)
    num_classes = int(cfg.num_classes or train_ds.num_classes)
    _seed_all(cfg.seed)
    _, spec = _model_spec(model, cfg, num_classes)
    return _fingerprint(cfg.to_dict(), spec, num_classes, train_ds, val_ds, test_ds)


def _fingerprint(given: dict[str, Any], spec: dict[str, Any], num_classes: int, train_ds: Any, val_ds: Any,
                 test_ds: Any) -> dict[str, Any]:
    data = data_fingerprint({"train": train_ds, "val": val_ds, "test": test_ds})
    return run_fingerprint(given, {**spec, "num_classes": num_classes}, data)


def _checkpoint(net: nn.Module, cfg: TrainConfig, spec: dict[str, Any], class_names: list[str], epoch: int,
                **extra: Any) -> dict[str, Any]:
    """The checkpoint payload, built in this one place (best, best_loss, epNNN and last.pt)."""
    return {"format": CHECKPOINT_FORMAT, "epoch": epoch, "model": net.state_dict(), "config": cfg.to_dict(),
            "model_spec": spec, "class_names": class_names, "segkit_version": segkit.__version__,
            "torch_version": str(torch.__version__), **extra}


class _DeferredInterrupt:
    """Ctrl-C during a training step takes effect at the next step boundary.

    The saved state is then a whole number of steps (no half-applied optimiser step, no
    BatchNorm statistics one batch ahead), so a resumed run equals an uninterrupted one.
    A second Ctrl-C stops at once; ``last.pt`` then keeps the last finished epoch.
    """

    def __init__(self) -> None:
        self.requested = False
        self.forced = False
        self._old: Any = None

    def __enter__(self) -> "_DeferredInterrupt":
        import threading

        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            self.forced = True
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("[segkit] Ctrl-C: stopping after this step (press Ctrl-C again to stop at once)")

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _resume_changes(rd: RunDir, state: dict[str, Any], spec: dict[str, Any], class_names: list[str],
                    fingerprint: dict[str, Any]) -> list[str]:
    """What differs from the run being resumed; another model or class count is an error."""
    old_spec = state.get("model_spec") or {}
    old_names = list(state.get("class_names") or [])
    same_model = (old_spec.get("name"), old_spec.get("class")) == (spec.get("name"), spec.get("class"))
    if not same_model or len(old_names) != len(class_names):
        was = old_spec.get("name") or old_spec.get("class")
        now = spec.get("name") or spec.get("class")
        raise ValueError(f"{rd.checkpoint('last')} was trained with model {was!r} for {len(old_names)} classes; "
                         f"this run asks for {now!r} with {len(class_names)} classes: resume with the same model "
                         "and data, or train into another run_dir")
    return [c for c in fingerprint_changes(rd.read_fingerprint(), fingerprint) if not c.startswith("segkit code")]


def _train(model, cfg, data_root, rd: RunDir, info: DistInfo, resume, callbacks, progress, verbose,
           datasets: tuple[Any, Any, Any]) -> Path:
    from segkit.losses import SegLoss

    dev = info.device
    main = info.is_main
    say = (lambda *a: tqdm.write(" ".join(str(x) for x in a))) if (verbose and main) else (lambda *a: None)
    run_dir, last_path = rd.path, rd.checkpoint("last")
    if last_path.is_file() and not resume:
        raise ValueError(
            f"run_dir {str(run_dir)!r} already holds a run ({last_path}); pass resume=True to continue it "
            "or choose a new run_dir"
        )

    # ---- data
    train_ds, val_ds, test_ds = _datasets(cfg, data_root, datasets)
    num_classes = int(cfg.num_classes or train_ds.num_classes)
    class_names = list(getattr(train_ds, "class_names", [f"class_{i}" for i in range(num_classes)]))
    given = cfg.to_dict()  # the fingerprint records what was asked for ("auto" weights, not their values)
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
    fingerprint = _fingerprint(given, spec, num_classes, train_ds, val_ds, test_ds)
    if not resume or not last_path.is_file():
        if cfg.model_path:
            from segkit.models._weights import load_weights

            load_weights(net, cfg.model_path, verbose=main and verbose)
        elif cfg.init_type != "none" and not spec.get("pretrained"):  # init must not overwrite pretrained weights
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
    changes: list[str] = []
    if resume and last_path.is_file():
        state = load_checkpoint(last_path, map_location=dev)
        changes = _resume_changes(rd, state, spec, class_names, fingerprint)
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
        if changes:
            say(f"[resume] the config changed: {'; '.join(changes)}; training on with the new values "
                "(recorded in config.yaml under 'changes')")
        say(f"[resume] continuing {last_path} at epoch {start_epoch + 1}/{T}"
            + (f", step {start_step + 1}" if start_step else ""))
    elif resume:
        say(f"[resume] no {last_path} yet; starting a new run")

    # ---- run directory
    report_ds = test_ds if test_ds is not None else val_ds
    report_split = getattr(report_ds, "split", cfg.test_split if test_ds is not None else cfg.val_split)
    earlier = rd.read_config().get("changes", []) if resume else []
    resolved = {
        "segkit_version": segkit.__version__,
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": str(dev),
        "world_size": info.world_size,
        "model": {**spec, "num_classes": num_classes,
                  "num_params": count_params(net, trainable_only=False)},
        "data": {"root": str(Path(data_root).resolve()) if data_root is not None else None, "num_classes": num_classes,
                 "class_names": class_names, "ignore_index": cfg.ignore_index,
                 "train_split": cfg.train_split, "val_split": cfg.val_split, "report_split": report_split,
                 "num_train": len(train_ds), "num_val": len(val_ds),
                 "num_test": len(test_ds) if test_ds is not None else 0},
        "effective_lr": {"Init_lr_fit": schedule_for(cfg.Unfreeze_batch_size).lr,
                         "Min_lr_fit": schedule_for(cfg.Unfreeze_batch_size).min_lr,
                         "note": "Init_lr/Min_lr scaled by batch_size/nbs within the reference limits"},
        "train": {**cfg.to_dict(), "model": spec.get("name") or spec.get("class")},
        "changes": earlier + ([{"resumed_at_epoch": start_epoch, "changed": changes}] if changes else []),
        "precision": prec.to_dict(),  # what precision/channels_last "auto" resolved to on this device
    }
    if resolved["changes"]:  # never equal to a fresh run's: its first epochs trained under another config
        fingerprint["resumed_with_changes"] = resolved["changes"]
    if main:
        rd.write_config(resolved)
        rd.write_fingerprint(fingerprint)
        if verbose:
            tqdm.write(cfg.table(num_train=len(train_ds), num_val=len(val_ds), save_dir=str(run_dir),
                                 num_classes=num_classes))
            warn = step_sanity_check(len(train_ds), cfg.Unfreeze_batch_size, T, cfg.optimizer_type)
            if warn:
                tqdm.write(warn)

    if cfg.time_limit is not None:
        fitted = schedule_for(cfg.Unfreeze_batch_size)
        callbacks = [*callbacks, TimeBudget(cfg.time_limit, fitted.lr, fitted.min_lr, T, dev)]
    ts = TrainState(cfg, run_dir, net, optimizer, history=history, rank=info.rank)
    _call(callbacks, "on_train_start", ts)

    val_n = len(val_ds) if cfg.max_val_images is None else min(len(val_ds), cfg.max_val_images)
    val_idx = list(range(info.rank, val_n, info.world_size))
    eval_kw = dict(device=dev, input_shape=cfg.input_shape, batch_size=cfg.eval_batch_size,
                   max_images=cfg.max_val_images, num_classes=num_classes, ignore_index=cfg.ignore_index,
                   absent=cfg.absent, progress=progress, precision=prec)

    def loader(ds, indices, bs, epoch) -> DataLoader:
        g = torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch, info.rank))
        return DataLoader(ds, batch_size=bs, sampler=indices, drop_last=False, num_workers=cfg.num_workers,
                          pin_memory=dev.type == "cuda", worker_init_fn=_worker_init, generator=g)

    def snapshot(epoch_done: int, interrupted: dict | None = None, gather: bool = True) -> dict[str, Any]:
        rng = get_rng_state()
        return _checkpoint(
            net, cfg, spec, class_names, epoch_done,
            optimizer=optimizer.state_dict(), scaler=scaler.state_dict() if use_scaler else None,
            schedule=schedule_for(stage_of(min(epoch_done, T - 1))[1]).state_dict(),
            rng=rng, rng_per_rank=_gather_rng(rng, info) if gather else {str(info.rank): rng},
            history=history, best=best, interrupted=interrupted)

    ep_bar = tqdm(total=T, initial=start_epoch, desc="Epochs", unit="ep", disable=not (progress and main), dynamic_ncols=True)
    frozen_state: bool | None = None
    step = start_step
    epoch = start_epoch
    epochs_done = start_epoch
    loss_sum, f_sum, n_seen = partial["loss"], partial["f"], partial["n"]
    ctrl_c = _DeferredInterrupt()
    try:
        with ctrl_c:
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
                    outs = list(out) if isinstance(out, (list, tuple)) else [main_logits(out)]
                    outs = [o.float() for o in outs]  # losses in fp32
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
                    if step >= steps or ts.stop_training:
                        break
                    ctrl_c.check()
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

                # ---- evaluation at the original resolution (selection split)
                row: dict[str, Any] = {
                    "epoch": epoch + 1, "stage": stage, "batch_size": bs, "lr": optimizer.param_groups[0]["lr"],
                    "train_loss": tr_loss / max(tr_n, 1), "f_score": tr_f / max(tr_n, 1),
                    "val_loss": val_loss, "val_f_score": vf_sum / max(v_n, 1),
                }
                if changes and epoch == start_epoch:
                    row["changes"] = "; ".join(changes)
                cm = None
                if (cfg.eval_flag and (epoch + 1) % cfg.eval_period == 0) or epoch + 1 == T or ts.stop_training:
                    cm = evaluate_confusion(net, val_ds, distributed=info.distributed, **eval_kw)
                    m = cm.compute()
                    row.update({k: float(v) for k, v in m.summary().items() if k != "mean_f1_fg"})
                    row.update({f"iou_{n}": float(v) for n, v in zip(m.class_names, m.iou)})
                row["time"] = time.perf_counter() - t0
                history.append(row)
                ts.row = row

                # ---- checkpoints (rank 0), then the epoch line
                if main:
                    if cm is not None and not math.isnan(row["miou"]) and row["miou"] >= best["miou"]:
                        best.update(miou=row["miou"], miou_epoch=epoch + 1)
                        rd.save_checkpoint("best", _checkpoint(net, cfg, spec, class_names, epoch + 1, metrics=row,
                                                               confusion_matrix=cm.hist.cpu().clone()))
                    if val_loss <= best["val_loss"]:
                        best.update(val_loss=val_loss, loss_epoch=epoch + 1)
                        rd.save_checkpoint("best_loss", _checkpoint(net, cfg, spec, class_names, epoch + 1, metrics=row))
                    if (epoch + 1) % cfg.save_period == 0 or epoch + 1 == T:
                        rd.save_checkpoint(f"ep{epoch + 1:03d}", _checkpoint(net, cfg, spec, class_names, epoch + 1,
                                                                             metrics=row))
                    rd.write_history(history)
                snap = snapshot(epoch + 1)
                if main:
                    rd.save_checkpoint("last", snap)
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
                ctrl_c.check()
    except KeyboardInterrupt:
        ep_bar.close()
        exact = not ctrl_c.forced
        if exact and epochs_done < epoch + 1:  # mid-epoch: store the weights and where to continue
            mid = None if step == 0 else {"epoch": epoch, "step": step, "loss_sum": loss_sum, "f_sum": f_sum,
                                          "n": n_seen}
            snap = snapshot(epoch, mid, gather=False)
            snap["history"] = history[: epoch - cfg.Init_Epoch] if epoch >= cfg.Init_Epoch else history
            if main:
                rd.save_checkpoint("last", snap)
        if main:
            where = f"epoch {epoch + 1}, step {step}" if exact else f"the end of epoch {epochs_done}"
            tqdm.write(f"\n[segkit] interrupted; {last_path} holds the state at {where}. "
                       "Continue with resume=True (CLI: --resume).")
        raise
    ep_bar.close()

    # ---- final evaluation of the best-mIoU checkpoint on the report split
    barrier()
    if main:
        if not rd.checkpoint("best").is_file():  # stopped early before any evaluation: keep the last weights
            rd.save_checkpoint("best", _checkpoint(net, cfg, spec, class_names, epochs_done,
                                                   metrics=history[-1] if history else {}))
        payload = _final_evaluation(rd, net, report_ds, report_split, cfg, eval_kw, best)
        if verbose:
            tqdm.write(f"best val mIoU at epoch {payload['epoch']}; scored on the {report_split} split "
                       f"({payload['num_images']} images):")
            for line in payload.pop("_lines"):
                tqdm.write(line)
    _call(callbacks, "on_train_end", ts)
    barrier()
    return run_dir


def _final_evaluation(rd: RunDir, net: nn.Module, report_ds: Any, report_split: str, cfg: TrainConfig,
                      eval_kw: dict[str, Any], best: dict[str, Any]) -> dict[str, Any]:
    """Score best.pt on the report split; write metrics.json, per_image_cm.npz, confusion_matrix.csv."""
    state = rd.load_checkpoint("best")
    net.load_state_dict(state["model"])
    per_image: list[np.ndarray] = []
    cm = evaluate_confusion(net, report_ds, distributed=False, per_image=per_image, **eval_kw)
    m = cm.compute()
    n = len(per_image)
    ids = list(getattr(report_ds, "ids", range(len(report_ds))))[:n]
    payload = {**m.as_dict(), "checkpoint": f"{RunDir.CHECKPOINTS}/best.pt", "epoch": int(state["epoch"]),
               "split": report_split, "selection_split": cfg.val_split,
               "on_selection_split": report_split == cfg.val_split, "num_images": n,
               "input_shape": list(cfg.input_shape),
               "best_val_loss": {"epoch": best["loss_epoch"], "val_loss": best["val_loss"]}}
    rd.write_per_image(np.stack(per_image) if per_image else np.zeros((0, m.num_classes, m.num_classes)),
                       [str(i) for i in ids], report_split)
    rd.write_confusion(m.hist, list(m.class_names))
    rd.write_metrics(payload)
    return {**payload, "_lines": m.report_lines()}


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
        model: A module to load the weights into; default: rebuilt from ``config.yaml``'s
            model spec (a registered model, with its stitched modules).
        checkpoint: ``"best"``, ``"best_loss"``, ``"last"``, ``"epNNN"`` or a path.
        device: Where to put the model.

    Returns:
        ``Run(model (eval mode), config dict, history DataFrame, metrics dict)``.
    """
    rd = RunDir(run_dir)
    if not rd.config_path.is_file():
        raise FileNotFoundError(f"{rd.config_path} not found; is {str(run_dir)!r} a segkit run directory?")
    config = rd.read_config()
    state = load_checkpoint(rd.checkpoint(checkpoint), map_location="cpu")
    if model is None:
        from segkit.models._spec import build_from_spec, spec_problem

        spec = config.get("model", {})
        problem = spec.get("not_rebuildable") or spec_problem(spec)
        if problem:
            raise ValueError(f"run {str(run_dir)!r} cannot rebuild its model ({spec.get('class')}): {problem}; "
                             "or pass model=<an instance of it> to load_run")
        model = build_from_spec(spec, load_pretrained=False)  # the checkpoint replaces every weight
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return Run(model, config, rd.read_history(), rd.read_metrics())
