"""The adaptation training stage: source CE + pseudo-label CE + MPA feature losses.

One step (Trans4PASS, https://github.com/jamycheung/Trans4PASS ``adaptations/train_mpa.py``;
Zhang et al., CVPR 2022, https://arxiv.org/abs/2203.01452) takes a labelled source batch
``(xs, ys)`` and a target batch ``(xt, pseudo)``::

    loss = seg_loss(model(xs), ys)                       # the source recipe's loss
         + lambda_ssl  * CE(model(xt), pseudo)           # unconfident pixels ignored
         + lambda_kl_s * mpa_feature_loss(f_s, ys, memory)
         + lambda_kl_t * mpa_feature_loss(f_t, pseudo, memory)

and then moves the shared prototype memory by EMA towards the batch prototypes of both
domains (``segkit.adapt.mpa``). The memory starts from the source-only model: per domain,
the class means of the features of correctly predicted pixels (source: ground truth;
target: pseudo-labels), averaged over the two domains, as the official initialisation.

The stage writes a run directory (``segkit.runs``): ``config.yaml``, ``fingerprint.json``,
``history.csv`` (one row per epoch with each loss), ``checkpoints/last.pt`` after every
epoch (model, optimiser, memory, RNG states, history: a killed run resumes from the last
finished epoch), ``checkpoints/best.pt`` (the final weights: no target label chooses a
checkpoint) and ``prototypes.npz`` (initial and final prototypes). Its ``metrics.json`` is
written by the evaluation stage.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

import segkit
from segkit.adapt.config import AdaptConfig
from segkit.adapt.features import FeatureTap
from segkit.adapt.mpa import PrototypeMemory, mpa_feature_loss
from segkit.training.build import auto_class_weights
from segkit.training.checkpoint import checkpoint_payload, get_rng_state, load_checkpoint, set_rng_state
from segkit.training.config import TrainConfig
from segkit.training.optim import (NonFiniteLossError, build_optimizer, epoch_seed, optimizer_step, seed_all,
                                 seed_loader_worker)
from segkit.runtime.precision import Precision, resolve_precision
from segkit.training.schedule import config_lr
from segkit.runtime.threads import loader_workers
from segkit.runs import RunDir

__all__ = ["train_adaptation", "adaptation_lr", "poly_lr"]

LOSS_COLUMNS = ("loss_source", "loss_target", "loss_mpa_source", "loss_mpa_target")


def adaptation_lr(cfg: TrainConfig, acfg: AdaptConfig, spec_name: str = "") -> float:
    """The initial learning rate: ``acfg.lr`` as given, else the recipe's ``Init_lr`` (batch-scaled unless
    ``lr_scaling`` is off)."""
    bs = acfg.batch_size or cfg.Unfreeze_batch_size
    if acfg.lr is not None:
        return float(acfg.lr)
    return config_lr(cfg, bs, cfg.backbone or spec_name)[0]


def poly_lr(lr: float, step: int, total: int, power: float) -> float:
    """The official schedule: ``lr * (1 - step / total) ** power``."""
    return lr * (1.0 - min(step, total) / max(total, 1)) ** power


def _steps_per_epoch(n_target: int, bs: int, acfg: AdaptConfig) -> int:
    steps = n_target // bs
    return min(steps, acfg.max_train_batches) if acfg.max_train_batches is not None else steps


def _ce_or_zero(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Cross-entropy over the labelled pixels; 0 (with a graph) when every pixel is ignored."""
    if not bool((target != ignore_index).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, ignore_index=ignore_index)


def _correct_only(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """`labels` with the pixels the model gets wrong set to `ignore_index` (memory initialisation)."""
    pred = logits.argmax(1)
    return torch.where(pred == labels, labels, torch.full_like(labels, ignore_index))


def _feature_batches(tap: FeatureTap, dataset: Any, bs: int, device: torch.device,
                     ignore_index: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for x, y in DataLoader(dataset, batch_size=bs, shuffle=False):
        logits, feats = tap(x.to(device))
        y = y.to(device)
        yield feats.float(), _correct_only(logits, y, ignore_index)


@torch.no_grad()
def _initial_memory(tap: FeatureTap, plain_source: Any, plain_target: Any, num_classes: int, acfg: AdaptConfig,
                    ignore_index: int, bs: int, device: torch.device) -> PrototypeMemory:
    tap.model.eval()
    x, _ = plain_source[0]
    channels = tap(x[None].to(device))[1].shape[1]
    memory = PrototypeMemory(num_classes, channels, acfg.memory_momentum, ignore_index, acfg.memory_update_every)
    memory.to(device)
    memory.initialise_mutual([_feature_batches(tap, ds, bs, device, ignore_index)
                              for ds in (plain_source, plain_target)])
    return memory


def _order(n: int, count: int, generator: torch.Generator) -> list[int]:
    """`count` indices from shuffled passes over ``range(n)`` (the source is cycled to match the target)."""
    out: list[int] = []
    while len(out) < count:
        out += torch.randperm(n, generator=generator).tolist()
    return out[:count]


def train_adaptation(
    net: nn.Module,
    spec: dict[str, Any],
    cfg: TrainConfig,
    acfg: AdaptConfig,
    source_train: Any,
    target_train: Any,
    plain_source: Any,
    plain_target: Any,
    rd: RunDir,
    fingerprint: dict[str, Any],
    data_info: dict[str, Any],
    device: torch.device,
    progress: bool = True,
    verbose: bool = True,
) -> RunDir:
    """Train `net` (the source-only model) on both domains into the run directory `rd`.

    Args:
        net: the model, with the source-only weights (replaced by ``last.pt`` on resume).
        spec: its model spec (``config.yaml`` ``model:``), so ``load_run`` can rebuild it.
        cfg: the source recipe (loss, optimiser type, seed, workers, grad clipping).
        acfg: the adaptation settings.
        source_train: augmented labelled source dataset.
        target_train: augmented ``PseudoLabelled`` target dataset.
        plain_source, plain_target: the same without augmentation (memory initialisation).
        rd: the stage's run directory; resumed from ``checkpoints/last.pt`` when present.
        fingerprint: written to ``fingerprint.json``.
        data_info: the ``data:`` section of ``config.yaml``.
        device: where to train.

    Returns:
        `rd`, holding ``last.pt``, ``best.pt`` (final weights), ``history.csv`` and ``prototypes.npz``.
    """
    say = (lambda msg: tqdm.write(msg)) if verbose else (lambda msg: None)
    rd.prepare()
    with rd.lock():
        return _train(net, spec, cfg, acfg, source_train, target_train, plain_source, plain_target, rd, fingerprint,
                      data_info, device, progress, say)


def _train(net, spec, cfg, acfg, source_train, target_train, plain_source, plain_target, rd: RunDir, fingerprint,
           data_info, device, progress, say) -> RunDir:
    from segkit.losses import SegLoss

    k = int(data_info["num_classes"])
    class_names = list(data_info["class_names"])
    bs = acfg.batch_size or cfg.Unfreeze_batch_size
    if len(target_train) < bs:
        raise ValueError(f"the target has {len(target_train)} training images, fewer than one batch of {bs}; "
                         "lower AdaptConfig.batch_size")
    weights = cfg.cls_weights
    if weights == "auto":
        weights = auto_class_weights(source_train, k, cfg.ignore_index)
    seg_loss = SegLoss(k, focal_loss=cfg.focal_loss, dice_loss=cfg.dice_loss, cls_weights=weights,
                       ignore_index=cfg.ignore_index).to(device)
    net.to(device)
    prec = resolve_precision(cfg.precision, cfg.channels_last, device, net)
    if prec.channels_last:
        net.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler("cuda", enabled=prec.scaler)
    lr = adaptation_lr(cfg, acfg, spec.get("name") or "")
    optimizer = build_optimizer(net, cfg, lr)
    tap = FeatureTap(net, acfg.feature_layer)
    last = rd.checkpoint("last")
    history: list[dict[str, Any]] = []
    start = 0
    try:
        if last.is_file():
            state = load_checkpoint(last, map_location=device)
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            memory = PrototypeMemory(k, state["memory"]["prototypes"].shape[1], acfg.memory_momentum,
                                     cfg.ignore_index, acfg.memory_update_every).to(device)
            memory.load_state_dict(state["memory"])
            initial = state["initial_prototypes"].to(device)
            history, start = list(state.get("history", [])), int(state["epoch"])
            set_rng_state(state["rng"])
            say(f"[adapt] resuming {last} at epoch {start + 1}/{acfg.epochs}")
        else:
            seed_all(cfg.seed)
            memory = _initial_memory(tap, plain_source, plain_target, k, acfg, cfg.ignore_index, bs, device)
            initial = memory.prototypes.clone()
        rd.write_config({
            "segkit_version": segkit.__version__, "torch_version": str(torch.__version__),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": str(device),
            "stage": "adaptation", "model": {**spec, "num_classes": k}, "data": data_info,
            "train": {**cfg.to_dict(), "model": spec.get("name") or spec.get("class")},
            "precision": prec.to_dict(),
            "adapt": {**acfg.to_dict(), "feature_source": tap.source, "lr_used": lr,
                      "steps_per_epoch": _steps_per_epoch(len(target_train), bs, acfg)},
        })
        rd.write_fingerprint(fingerprint)
        run = _Run(net, tap, memory, seg_loss, optimizer, scaler, prec, lr, cfg, acfg, source_train, target_train, bs,
                   device, progress)
        for epoch in range(start, acfg.epochs):
            row = _epoch(run, epoch)
            history.append(row)
            rd.write_history(history)
            rd.save_checkpoint("last", checkpoint_payload(
                net, cfg.to_dict(), spec, class_names, epoch + 1, optimizer=optimizer.state_dict(), memory=memory.state_dict(),
                scaler=scaler.state_dict() if prec.scaler else None,
                initial_prototypes=initial.cpu(), rng=get_rng_state(), history=history, adapt=acfg.to_dict()))
            say(f"[adapt] epoch {epoch + 1}/{acfg.epochs}: loss {row['train_loss']:.4f} (source CE "
                f"{row['loss_source']:.4f}, pseudo CE {row['loss_target']:.4f}, MPA {row['loss_mpa_source']:.4f} / "
                f"{row['loss_mpa_target']:.4f})")
    finally:
        tap.close()
    rd.save_checkpoint("best", checkpoint_payload(net, cfg.to_dict(), spec, class_names, acfg.epochs,
                                           selection="final epoch (no target label chooses the checkpoint)"))
    rd.write_prototypes(initial=initial.cpu().numpy(), final=memory.prototypes.cpu().numpy(),
                        initialised=memory.initialised.cpu().numpy(), class_names=class_names)
    return rd


@dataclass
class _Run:
    """What every adaptation step of one stage uses (built once, after resume)."""

    net: nn.Module
    tap: FeatureTap
    memory: PrototypeMemory
    seg_loss: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    prec: Precision
    lr0: float
    cfg: TrainConfig
    acfg: AdaptConfig
    source_train: Any
    target_train: Any
    bs: int
    device: torch.device
    progress: bool


def _epoch(run: _Run, epoch: int) -> dict[str, Any]:
    cfg, acfg, bs = run.cfg, run.acfg, run.bs
    t0 = time.perf_counter()
    seed_all(epoch_seed(cfg.seed, epoch, 0))
    g = torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch, 0))
    for ds in (run.source_train, run.target_train):
        if hasattr(ds, "set_epoch"):
            ds.set_epoch(epoch)
    steps = _steps_per_epoch(len(run.target_train), bs, acfg)
    tgt_idx = _order(len(run.target_train), steps * bs, g)
    src_idx = _order(len(run.source_train), steps * bs, g)
    first_lr = poly_lr(run.lr0, epoch * steps, acfg.epochs * steps, acfg.lr_power)

    def loader(ds, idx):
        return DataLoader(ds, batch_size=bs, sampler=idx, num_workers=loader_workers(cfg.num_workers),
                          worker_init_fn=seed_loader_worker,
                          generator=torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch, 1)))

    run.net.train()
    sums = dict.fromkeys(("train_loss",) + LOSS_COLUMNS, 0.0)
    bar = tqdm(zip(loader(run.source_train, src_idx), loader(run.target_train, tgt_idx)), total=steps, leave=False,
               desc=f"Adapt {epoch + 1}/{acfg.epochs}", unit="it", disable=not run.progress)
    for step, (source, target) in enumerate(bar):
        lr = poly_lr(run.lr0, epoch * steps + step, acfg.epochs * steps, acfg.lr_power)
        loss, parts = _step(run, source, target, lr, f"epoch {epoch + 1}, step {step + 1}")
        sums["train_loss"] += float(loss.detach())
        for key, v in parts.items():
            sums[key] += float(v.detach())
        bar.set_postfix(loss=f"{sums['train_loss'] / (step + 1):.4f}", lr=f"{lr:.3g}")
    bar.close()
    return {"epoch": epoch + 1, "stage": "adapt", "batch_size": bs, "lr": first_lr,
            **{key: v / max(steps, 1) for key, v in sums.items()}, "time": time.perf_counter() - t0}


def _step(run: _Run, source: tuple[torch.Tensor, torch.Tensor], target: tuple[torch.Tensor, torch.Tensor],
          lr: float, where: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimiser step on a source and a target batch at `lr`, then the memory's EMA update."""
    cfg, acfg, prec, memory = run.cfg, run.acfg, run.prec, run.memory
    xs, ys = prec.input(source[0].to(run.device)), source[1].to(run.device)
    xt, yt = prec.input(target[0].to(run.device)), target[1].to(run.device)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    run.optimizer.zero_grad(set_to_none=True)
    with prec.autocast():
        logits_s, f_s = run.tap(xs)
        logits_t, f_t = run.tap(xt)
    logits_s, f_s, logits_t, f_t = logits_s.float(), f_s.float(), logits_t.float(), f_t.float()  # losses in fp32
    parts = {
        "loss_source": run.seg_loss(logits_s, ys),
        "loss_target": _ce_or_zero(logits_t, yt, cfg.ignore_index),
        "loss_mpa_source": mpa_feature_loss(f_s, ys, memory.prototypes, cfg.ignore_index),
        "loss_mpa_target": mpa_feature_loss(f_t, yt, memory.prototypes, cfg.ignore_index),
    }
    loss = (parts["loss_source"] + acfg.lambda_ssl * parts["loss_target"]
            + acfg.lambda_kl_s * parts["loss_mpa_source"] + acfg.lambda_kl_t * parts["loss_mpa_target"])
    if not math.isfinite(float(loss.detach())):
        raise NonFiniteLossError(f"adaptation loss became NaN/inf at {where} "
                                 f"(lr={lr:.3g}; parts {({k: float(v) for k, v in parts.items()})}); lower "
                                 "AdaptConfig.lr or the loss weights")
    optimizer_step(loss, run.optimizer, run.scaler, run.net.parameters(), cfg.grad_clip)
    memory.update([(f_s, ys), (f_t, yt)])
    return loss, parts
