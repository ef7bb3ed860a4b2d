"""The training loop of :func:`segkit.engine.train`: a small `Trainer` over fixed `TrainParts`
and a mutable `LoopState`.

One epoch is `Trainer.begin_epoch` (stage, batch size, learning rate, the epoch's seeded
sample order), `train_one_epoch`, `validate` (loss on the validation split), the evaluation
at the original resolution when due, then `save` (best, best_loss, epNNN and last.pt).
`resume` restores everything ``last.pt`` holds, so a resumed run continues on the same
batches with the same RNG state as an uninterrupted one.

With ``TrainConfig.ema_decay`` an EMA of the weights (:mod:`segkit.training.ema`) is updated
after every step and is the model that is validated, evaluated and saved as best.pt
(``last.pt`` keeps the trained weights and the EMA state); with ``early_stop_patience`` the
run ends after that many evaluations without a better val mIoU (:mod:`segkit.training.early_stop`).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from segkit._utils import main_logits
from segkit.training.budget import TimeBudget
from segkit.training.build import set_backbone_trainable, set_parts_trainable
from segkit.training.checkpoint import checkpoint_payload, get_rng_state, load_checkpoint, set_rng_state
from segkit.training.config import TrainConfig
from segkit.runtime.distributed import DistInfo, all_reduce_sum, broadcast_buffers, gather_by_rank
from segkit.training.early_stop import early_stop_wait
from segkit.training.ema import make_ema
from segkit.inference.evaluate import evaluate_confusion
from segkit.runs.fingerprint import resume_changes
from segkit.training.hooks import DeferredInterrupt, TrainState, call_hooks
from segkit.training.optim import (NonFiniteLossError, build_optimizer, epoch_seed, nonfinite_message, optimizer_step,
                                 seed_all, seed_loader_worker)
from segkit.runtime.precision import Precision
from segkit.training.schedule import EpochLR, config_lr, set_optimizer_lr
from segkit.runtime.threads import loader_workers
from segkit.losses.distill import distill_loss
from segkit.runs import RunDir

__all__ = ["TrainParts", "LoopState", "EpochPlan", "Trainer"]

# An evaluation shorter than this (seconds) gets no last.pt of its own before it: see `Trainer._evaluation_is_quick`
QUICK_EVALUATION_S = 10.0


@dataclass
class TrainParts:
    """What stays fixed while the loop runs."""

    cfg: TrainConfig  # with cls_weights resolved
    rd: RunDir
    info: DistInfo
    net: nn.Module  # the model itself (its weights are checkpointed)
    model_train: nn.Module  # what the training forward pass goes through (the DDP wrapper or `net`)
    prec: Precision
    loss_fn: nn.Module
    spec: dict[str, Any]
    class_names: list[str]
    train_ds: Any
    val_ds: Any
    eval_kw: dict[str, Any]  # keyword arguments of evaluate_confusion
    rare: Any = None  # a segkit.training.rare_setup.RareSetup: rare-class sampling draws the image order
    teacher: nn.Module | None = None  # the distillation teacher (frozen, eval mode)


def _new_best() -> dict[str, Any]:
    return {"miou": -math.inf, "val_loss": math.inf, "miou_epoch": None, "loss_epoch": None}


@dataclass
class LoopState:
    """Where the loop stands: what ``last.pt`` stores and the Ctrl-C handler saves.

    ``epoch`` is the current 0-based epoch and ``step`` the steps finished in it, with the
    running sums of its training loss and F-score; ``epochs_done`` counts whole epochs.
    """

    epoch: int
    epochs_done: int
    step: int = 0
    loss_sum: float = 0.0
    f_sum: float = 0.0
    n_seen: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=_new_best)
    changes: list[str] = field(default_factory=list)  # config changes of a resumed run

    def end_epoch(self) -> None:
        self.epochs_done = self.epoch + 1
        self.step, self.loss_sum, self.f_sum, self.n_seen = 0, 0.0, 0.0, 0

    def interrupted(self) -> dict[str, Any] | None:
        """Where a mid-epoch ``last.pt`` continues (None at an epoch boundary)."""
        if self.step == 0:
            return None
        return {"epoch": self.epoch, "step": self.step, "loss_sum": self.loss_sum, "f_sum": self.f_sum,
                "n": self.n_seen}


@dataclass
class EpochPlan:
    """One epoch's stage, batch sizes, learning rate and this rank's sample order."""

    stage: str
    batch_size: int
    local_batch: int
    lr: float
    order: list[int]
    steps: int


class Trainer:
    """Trains `parts.net` epoch by epoch into the run directory ``parts.rd``.

    Args:
        parts: the prepared model, data, loss and process.
        callbacks: objects with any of the :class:`segkit.training.hooks.Callback` hooks.
        progress: show tqdm bars (rank 0).
        say: prints one line (a no-op when not verbose or not rank 0).
    """

    def __init__(self, parts: TrainParts, callbacks: Sequence[Any], progress: bool,
                 say: Callable[..., None], started: float | None = None) -> None:
        self.parts, self.cfg = parts, parts.cfg
        self.callbacks, self.progress, self.say = list(callbacks), progress, say
        self.total = self.cfg.UnFreeze_Epoch
        self.budget: TimeBudget | None = None
        self.report_images = 0  # images the final evaluation scores (the budget keeps time for them)
        if self.cfg.time_limit is not None:  # a wall-time budget steers the rate and ends the run
            fitted = self.schedule_for(self.cfg.Unfreeze_batch_size)
            self.budget = TimeBudget(self.cfg.time_limit, fitted.lr, fitted.min_lr, self.total, parts.info.device,
                                     started=started)
            self.callbacks.append(self.budget)
        first_lr = self.schedule_for(self.stage_of(self.cfg.Init_Epoch)[1]).lr
        self.optimizer = build_optimizer(parts.net, self.cfg, first_lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=parts.prec.scaler)
        self.ema = make_ema(parts.net, self.cfg.ema_decay) if self.cfg.ema_decay is not None else None
        self.loop = LoopState(epoch=self.cfg.Init_Epoch, epochs_done=self.cfg.Init_Epoch)
        self.start_epoch = self.cfg.Init_Epoch
        self.state = TrainState(self.cfg, parts.rd.path, parts.net, self.optimizer, history=self.loop.history,
                                rank=parts.info.rank)
        self._frozen: bool | None = None
        self._evaluation_seconds: float | None = None  # how long this process's last evaluation took
        self.n_val = len(parts.val_ds) if self.cfg.max_val_images is None else min(len(parts.val_ds),
                                                                                   self.cfg.max_val_images)
        self._val_idx = list(range(parts.info.rank, self.n_val, parts.info.world_size))

    # ------------------------------------------------------------------ recipe
    def stage_of(self, epoch: int) -> tuple[str, int]:
        """("freeze" | "unfreeze", batch size) of an epoch."""
        if self.cfg.Freeze_Train and epoch < self.cfg.Freeze_Epoch:
            return "freeze", self.cfg.Freeze_batch_size
        return "unfreeze", self.cfg.Unfreeze_batch_size

    def schedule_for(self, bs: int) -> EpochLR:
        """The epoch schedule at batch size `bs` (learning rates scaled by bs/nbs)."""
        cfg = self.cfg
        lr, min_lr = config_lr(cfg, bs, cfg.backbone or self.parts.spec.get("name") or "")
        return EpochLR(cfg.lr_decay_type, lr, min_lr, self.total, warmup_lr_ratio=cfg.warmup_lr_ratio,
                       warmup_epochs=cfg.warmup_epochs)

    @property
    def eval_net(self) -> nn.Module:
        """The model that is validated, evaluated and saved as best: the EMA when on, else the trained one."""
        return self.ema.module if self.ema is not None else self.parts.net

    def loader(self, ds: Any, indices: list[int], bs: int, epoch: int) -> DataLoader:
        """A loader over `indices` whose workers are seeded by (seed, epoch, rank)."""
        info = self.parts.info
        g = torch.Generator().manual_seed(epoch_seed(self.cfg.seed, epoch, info.rank))
        workers = loader_workers(self.cfg.num_workers, info.device.type)
        return DataLoader(ds, batch_size=bs, sampler=indices, drop_last=False, num_workers=workers,
                          pin_memory=info.device.type == "cuda", worker_init_fn=seed_loader_worker, generator=g)

    # ------------------------------------------------------------------ resume
    def resume(self, fingerprint: dict[str, Any], source: str | Path | None = None) -> list[str]:
        """Restore model, optimiser, scaler, loop state and this rank's RNG from ``last.pt``
        (or `source`, ``--resume-from FILE``).

        An unreadable ``last.pt`` (truncated by a crash or a full disk) falls back to the
        newest readable ``checkpoints/epNNN.pt``, said in one line; those hold the weights and
        the epoch, not the optimiser state or RNG, which then start afresh.

        Returns:
            The config changes against the run being resumed (another model or class count
            is a ``ValueError``).
        """
        p, loop = self.parts, self.loop
        last, state = self._resume_state(source)
        loop.changes = resume_changes(p.rd, state, p.spec, p.class_names, fingerprint)
        p.net.load_state_dict(state["model"])
        if state.get("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])
        else:
            self.say(f"[resume] {last.name} holds no optimiser state: the optimiser starts afresh at epoch "
                     f"{int(state['epoch']) + 1}")
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self._resume_ema(state.get("ema"))
        if self.budget is not None and state.get("budget"):
            self.budget.load_state_dict(state["budget"])
        loop.history[:] = list(state.get("history", []))
        loop.best.update(state.get("best", {}))
        self.start_epoch = loop.epoch = loop.epochs_done = int(state["epoch"])
        interrupted = state.get("interrupted")
        if interrupted:
            loop.step = int(interrupted["step"])
            loop.loss_sum, loop.f_sum = float(interrupted["loss_sum"]), float(interrupted["f_sum"])
            loop.n_seen = int(interrupted["n"])
        rng = state.get("rng_per_rank", {}).get(str(p.info.rank))
        if rng is not None:
            set_rng_state(rng)
        if loop.changes:
            self.say(f"[resume] the config changed: {'; '.join(loop.changes)}; training on with the new values "
                     "(recorded in config.yaml under 'changes')")
        self.say(f"[resume] continuing {last} at epoch {loop.epoch + 1}/{self.total}"
                 + (f", step {loop.step + 1}" if loop.step else ""))
        return loop.changes

    def _resume_state(self, source: str | Path | None) -> tuple[Path, dict[str, Any]]:
        """(path, payload) to resume from. Always loaded on the CPU: the RNG states must stay CPU
        tensors; load_state_dict moves weights and optimiser state to the model's device."""
        import pickle

        if source is not None:
            source = Path(source)
            state = load_checkpoint(source, map_location="cpu")
            if "epoch" not in state:
                raise ValueError(f"--resume-from {source} is a bare state_dict without the epoch it was saved at; "
                                 "give a segkit checkpoint (checkpoints/last.pt, epNNN.pt)")
            return source, state
        last = self.parts.rd.checkpoint("last")
        try:
            return last, load_checkpoint(last, map_location="cpu")
        except (ValueError, pickle.UnpicklingError) as exc:
            reason = str(exc).split(";")[0]
        for cand in sorted(last.parent.glob("ep[0-9][0-9][0-9]*.pt"), reverse=True,
                           key=lambda q: int(q.stem[2:]) if q.stem[2:].isdigit() else -1):
            try:
                state = load_checkpoint(cand, map_location="cpu")
            except (ValueError, pickle.UnpicklingError):
                continue
            if "epoch" in state:
                self.say(f"[resume] {reason}; resuming from {cand.name} instead (epoch {int(state['epoch'])}, the "
                         "newest readable checkpoint; the optimiser and RNG state start afresh)")
                return cand, state
        raise ValueError(f"{reason}, and no readable checkpoints/epNNN.pt to fall back to; resume from another "
                         f"file with --resume-from FILE (python: train(..., resume_from=FILE)) or start a new run-dir")

    def _resume_ema(self, ema_state: dict[str, Any] | None) -> None:
        if self.ema is None:
            return
        if ema_state:
            self.ema.load_state_dict(ema_state)
        else:  # EMA switched on for the resumed epochs: the average starts at the next step
            self.say("[resume] ema_decay is new for this run: the weight average starts from the current weights")

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        """Train from the current epoch to the last (or until a hook stops it); Ctrl-C saves and re-raises."""
        call_hooks(self.callbacks, "on_train_start", self.state)
        if self._early_stop_reached():  # a resumed run that had already stopped early
            self.say(f"[segkit] early stopping: the history already holds {self.cfg.early_stop_patience} "
                     "evaluations without a better val mIoU; nothing left to train")
            return
        main = self.parts.info.is_main
        ep_bar = self._outer_bar(main)
        ctrl_c = DeferredInterrupt()
        try:
            with ctrl_c:
                for epoch in range(self.start_epoch, self.total):
                    self.loop.epoch = epoch
                    if self.run_epoch(ctrl_c, ep_bar):
                        break
        except KeyboardInterrupt:
            ep_bar.close()
            self._save_interrupted(exact=not ctrl_c.forced)
            raise
        ep_bar.close()

    def _epoch_label(self, epoch: int) -> str:
        """"3/100", or under a time budget "3" with the seconds used (the epoch cap is then no estimate)."""
        if self.budget is None:
            return f"{epoch + 1}/{self.total}"
        return f"{epoch + 1} ({self.budget.elapsed:.0f}/{self.budget.seconds:.0f} s)"

    def _outer_bar(self, main: bool) -> Any:
        """The run's bar: epochs, or the seconds of the time budget when there is one."""
        off = not (self.progress and main)
        if self.budget is not None:
            return tqdm(total=round(self.budget.seconds), initial=min(round(self.budget.elapsed),
                        round(self.budget.seconds)), desc="Time budget", unit="s", disable=off, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s{postfix}")
        return tqdm(total=self.total, initial=self.start_epoch, desc="Epochs", unit="ep", disable=off,
                    dynamic_ncols=True)

    def run_epoch(self, ctrl_c: DeferredInterrupt, ep_bar: Any) -> bool:
        """Train, validate, evaluate when due and checkpoint one epoch; True when a hook asked to stop."""
        t0 = time.perf_counter()
        loop, epoch = self.loop, self.loop.epoch
        plan = self.begin_epoch(epoch)
        tr_loss, tr_f, tr_n = self.train_one_epoch(plan, ctrl_c)
        skip = self._nothing_to_choose()
        validated = not skip and (self.cfg.val_loss_every_epoch or self._evaluation_due(epoch))
        val_loss, val_f = self.validate(plan) if validated else (math.nan, math.nan)
        row: dict[str, Any] = {
            "epoch": epoch + 1, "stage": plan.stage, "batch_size": plan.batch_size,
            "lr": self.optimizer.param_groups[0]["lr"],  # the schedule's, or what a hook (TimeBudget) set
            "train_loss": tr_loss / max(tr_n, 1), "f_score": tr_f / max(tr_n, 1),
            "val_loss": val_loss, "val_f_score": val_f,
        }
        if loop.changes and epoch == self.start_epoch:
            row["changes"] = "; ".join(loop.changes)
        if self.ema is not None:
            row["weights"] = "ema"  # the val and eval columns score the averaged weights
        row["data_wait"] = self.state.data_wait  # seconds the training steps waited for the data loader
        cm = None
        if self._evaluation_due(epoch) and not skip:
            self._checkpoint_before_evaluation(row)
            cm = self.evaluate(row)
        row["time"] = time.perf_counter() - t0
        loop.history.append(row)
        stop_early = cm is not None and self._early_stop_reached(row)
        self.state.row = row
        self.save(row, cm)
        loop.end_epoch()
        self.say(f"Epoch:{self._epoch_label(epoch)}")
        self.say("Total Loss: %.3f || Val Loss: %.3f " % (row["train_loss"], val_loss)
                 + (f"|| mIoU: {row['miou'] * 100:.2f}" if "miou" in row else ""))
        if self.budget is not None:  # the bar counts the budget's seconds, not a nominal epoch cap
            ep_bar.update(min(round(self.budget.elapsed), ep_bar.total) - ep_bar.n)
        else:
            ep_bar.update(1)
        ep_bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_loss=f"{val_loss:.3f}", lr=f"{plan.lr:.3g}")
        if stop_early:
            self.state.stop_training = True
            self.say(f"[segkit] early stopping after epoch {epoch + 1}/{self.total}: no val mIoU better than "
                     f"{loop.best['miou']:.4f} (epoch {loop.best['miou_epoch']}) for {row['early_stop_wait']} "
                     "evaluations")
        call_hooks(self.callbacks, "on_epoch_end", self.state)
        if self.state.stop_training:
            if not stop_early:
                by_time = self.budget is not None and self.budget.stopped_by == "time"
                why = f"the time budget ({self.budget.seconds:g} s) is spent" if by_time else "stop requested by a callback"
                self.say(f"[segkit] {why} after epoch {epoch + 1}/{self.total}")
            return True
        ctrl_c.check()
        return False

    def begin_epoch(self, epoch: int) -> EpochPlan:
        """Set the stage (freezing the backbone), the learning rate, the RNG and this rank's sample order."""
        cfg, p = self.cfg, self.parts
        stage, bs = self.stage_of(epoch)
        if cfg.Freeze_Train and self._frozen != (stage == "freeze"):
            set_backbone_trainable(p.net, stage != "freeze")
            self._frozen = stage == "freeze"
        if cfg.part_unfreeze_epoch:  # set every epoch, so a resumed run is staged as an uninterrupted one
            set_parts_trainable(p.net, cfg.part_unfreeze_epoch, epoch, backbone_frozen=stage == "freeze")
        local = bs // p.info.world_size
        if local < 1:
            raise ValueError(f"batch size {bs} is smaller than the number of processes {p.info.world_size}; "
                             "raise the batch size or use fewer processes")
        lr = set_optimizer_lr(self.optimizer, self.schedule_for(bs), epoch)
        if self.loop.step == 0:  # a mid-epoch resume continues with the RNG state of last.pt
            seed_all(epoch_seed(cfg.seed, epoch, p.info.rank))
        if hasattr(p.train_ds, "set_epoch"):
            p.train_ds.set_epoch(epoch)
        sampler = DistributedSampler(p.train_ds, num_replicas=p.info.world_size, rank=p.info.rank, shuffle=True,
                                     seed=cfg.seed, drop_last=True)
        sampler.set_epoch(epoch)
        order = (p.rare.order(len(p.train_ds), epoch, p.info.rank, p.info.world_size, cfg.seed)
                 if p.rare is not None and p.rare.image_probs is not None else list(sampler))
        steps = len(order) // local  # drop_last=True, as the reference
        if cfg.max_train_batches is not None:
            steps = min(steps, cfg.max_train_batches)
        if steps < 1:
            raise ValueError(f"{len(p.train_ds)} training images give no full batch of {bs}; lower the batch size")
        self.state.epoch, self.state.steps_per_epoch = epoch, steps
        self.state.data_wait, self.state.first_batch_wait = 0.0, None
        call_hooks(self.callbacks, "on_epoch_start", self.state)
        return EpochPlan(stage, bs, local, lr, order, steps)

    def train_one_epoch(self, plan: EpochPlan, ctrl_c: DeferredInterrupt) -> tuple[float, float, float]:
        """The epoch's remaining steps; returns the all-reduced (loss sum, F-score sum, batches)."""
        p, loop, dev = self.parts, self.loop, self.parts.info.device
        p.model_train.train()
        indices = plan.order[loop.step * plan.local_batch: plan.steps * plan.local_batch]
        bar = tqdm(self.loader(p.train_ds, indices, plan.local_batch, loop.epoch), total=plan.steps,
                   initial=loop.step, desc=f"Epoch {self._epoch_label(loop.epoch)}", unit="it", leave=False,
                   dynamic_ncols=True, disable=not (self.progress and p.info.is_main))
        ready = time.perf_counter()
        for x, y in bar:
            waited = time.perf_counter() - ready  # the step waited this long for its batch
            self.state.data_wait += waited
            if self.state.first_batch_wait is None:  # includes starting the loader's workers
                self.state.first_batch_wait = waited
            x, y = p.prec.input(x.to(dev, non_blocking=True)), y.to(dev, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            loss, logits = self._loss(x, y)
            self._check_finite(loss, plan)
            optimizer_step(loss, self.optimizer, self.scaler, p.net.parameters(), self.cfg.grad_clip)
            if self.ema is not None:
                self.ema.update_parameters(p.net)
            with torch.no_grad():
                f = float(p.loss_fn.f_score(logits, y))
            loop.loss_sum += float(loss.item())
            loop.f_sum += f
            loop.n_seen += 1
            loop.step += 1
            self.state.step, self.state.loss = loop.step, float(loss.item())
            bar.set_postfix(total_loss=f"{loop.loss_sum / loop.n_seen:.4f}", f_score=f"{loop.f_sum / loop.n_seen:.4f}",
                            lr=f"{plan.lr:.3g}")
            call_hooks(self.callbacks, "on_step_end", self.state)
            if loop.step >= plan.steps or self.state.stop_training:
                break
            ctrl_c.check()
            ready = time.perf_counter()  # the step's loss.item() waited for the device: it is done
        bar.close()
        tr_loss, tr_f, tr_n = all_reduce_sum([loop.loss_sum, loop.f_sum, float(loop.n_seen)], dev)
        return tr_loss, tr_f, tr_n

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss with the auxiliary outputs weighted by ``aux_weight``, main logits); both fp32."""
        p = self.parts
        with p.prec.autocast():
            out = p.model_train(x)
        outs = list(out) if isinstance(out, (list, tuple)) else [main_logits(out)]
        outs = [o.float() for o in outs]  # losses in fp32
        loss = p.loss_fn(outs[0], y)
        for aux in outs[1:]:
            loss = loss + self.cfg.aux_weight * p.loss_fn(aux, y)
        if p.teacher is not None:
            loss = loss + self.cfg.distill_weight * self._distill(x, y, outs[0])
        return loss, outs[0]

    def _distill(self, x: torch.Tensor, y: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
        """The distillation term against the teacher's logits on the same batch."""
        p = self.parts
        with torch.no_grad(), p.prec.autocast():
            teacher = main_logits(p.teacher(x)).float()
        return distill_loss(student, teacher, y, self.cfg.distill_temperature, self.cfg.ignore_index)

    def _check_finite(self, loss: torch.Tensor, plan: EpochPlan) -> None:
        info = self.parts.info
        finite = bool(torch.isfinite(loss).item())
        if info.distributed:  # every rank stops together
            finite = all_reduce_sum([0.0 if finite else 1.0], info.device)[0] == 0
        if not finite:
            raise NonFiniteLossError(nonfinite_message(self.loop.epoch, self.total, self.loop.step, plan.steps,
                                                        plan.lr, self.cfg, self.parts.rd.checkpoint("last")))

    def validate(self, plan: EpochPlan) -> tuple[float, float]:
        """(loss, F-score) on the validation split at the training input size, averaged over images."""
        p, dev, net = self.parts, self.parts.info.device, self.eval_net
        p.model_train.eval()
        net.eval()
        if self.ema is not None and p.info.distributed:
            # each rank averaged its own BatchNorm statistics; score (and save) rank 0's everywhere
            broadcast_buffers(net)
        v_sum, vf_sum, v_n = 0.0, 0.0, 0.0
        with torch.no_grad():
            for x, y in self.loader(p.val_ds, self._val_idx, plan.local_batch, self.loop.epoch) if self._val_idx else []:
                x, y = p.prec.input(x.to(dev)), y.to(dev)
                with p.prec.autocast():
                    logits = main_logits(net(x))
                logits = logits.float()
                v_sum += float(p.loss_fn(logits, y)) * len(x)
                vf_sum += float(p.loss_fn.f_score(logits, y)) * len(x)
                v_n += len(x)
        v_sum, vf_sum, v_n = all_reduce_sum([v_sum, vf_sum, v_n], dev)
        return v_sum / max(v_n, 1), vf_sum / max(v_n, 1)

    def _checkpoint_before_evaluation(self, row: dict[str, Any]) -> None:
        """Write last.pt before the run's last evaluation (a full one, often minutes on a CPU), so
        that Ctrl-C or a crash while the user waits for it loses no training (a resume goes on
        after this epoch); not when the evaluation before it was quick. Every rank takes the same
        decision: the snapshot is a collective."""
        epoch = self.loop.epoch
        if not (self.state.stop_training or epoch + 1 == self.total) or self._evaluation_is_quick():
            return
        self.loop.history.append(row)
        try:
            snap = self.snapshot(epoch + 1)
            if self.parts.info.is_main:
                self.parts.rd.save_checkpoint("last", snap)
        finally:
            self.loop.history.pop()

    def _evaluation_is_quick(self) -> bool:
        """Whether this run's last evaluation took under `QUICK_EVALUATION_S` (the mean over ranks, so
        every rank decides alike): then the next one leaves a crash a few seconds to strike, and
        writing last.pt before it as well as right after it would cost more than it protects."""
        took = self._evaluation_seconds
        if took is None:  # no evaluation yet in this process (the first, or the first after a resume)
            return False
        info = self.parts.info
        return all_reduce_sum([took], info.device)[0] / info.world_size < QUICK_EVALUATION_S

    def _nothing_to_choose(self) -> bool:
        """Whether the time budget stopped the run before any validation: scoring val now would choose
        between nothing (best.pt becomes these weights), so the epoch's validation is skipped and the
        final evaluation, which the budget kept time for, is the only one (a short `time_limit` on
        large images spent two thirds of the command on validations that decided nothing)."""
        b, best = self.budget, self.loop.best
        return (b is not None and self.state.stop_training and b.stopped_by == "time"
                and best["miou_epoch"] is None and best["loss_epoch"] is None)

    def _evaluation_due(self, epoch: int) -> bool:
        cfg = self.cfg
        return (cfg.eval_flag and (epoch + 1) % cfg.eval_period == 0) or epoch + 1 == self.total \
            or self.state.stop_training

    def _early_stop_reached(self, row: dict[str, Any] | None = None) -> bool:
        """Whether the history's evaluations (this epoch's `row` included) end the run; records the count in `row`."""
        patience = self.cfg.early_stop_patience
        if patience is None:
            return False
        wait = early_stop_wait(self.loop.history, self.cfg.early_stop_min_delta)
        if row is not None:
            row["early_stop_wait"] = wait
        return wait >= patience

    def evaluate(self, row: dict[str, Any]) -> Any:
        """Score the validation split at the original resolution; add the metrics to `row`."""
        p = self.parts
        t0 = time.perf_counter()
        cm = evaluate_confusion(self.eval_net, p.val_ds, distributed=p.info.distributed, **p.eval_kw)
        self._evaluation_seconds = time.perf_counter() - t0
        self.keep_for_final_evaluation(self._evaluation_seconds / max(self.n_val, 1))
        m = cm.compute()
        row.update({k: float(v) for k, v in m.summary().items() if k != "mean_f1_fg"})
        row.update({f"iou_{n}": float(v) for n, v in zip(m.class_names, m.iou)})
        return cm

    def keep_for_final_evaluation(self, seconds_per_image: float) -> None:
        """Have the budget keep the time the final evaluation of ``report_images`` will take."""
        if self.budget is not None:
            self.budget.keep(seconds_per_image * self.report_images)

    # ------------------------------------------------------------------ checkpoints
    def payload(self, epoch: int, net: nn.Module | None = None, **extra: Any) -> dict[str, Any]:
        """A checkpoint after `epoch` epochs of `net`'s weights (default: `eval_net`, the EMA when on)."""
        p = self.parts
        return checkpoint_payload(net if net is not None else self.eval_net, self.cfg.to_dict(), p.spec,
                                  p.class_names, epoch, **extra)

    def snapshot(self, epoch_done: int, interrupted: dict[str, Any] | None = None,
                 gather: bool = True) -> dict[str, Any]:
        """The ``last.pt`` payload: weights plus everything a resume needs (a collective when `gather`)."""
        rng = get_rng_state()
        info, loop = self.parts.info, self.loop
        return self.payload(
            epoch_done, self.parts.net, ema=self.ema.state_dict() if self.ema is not None else None,
            optimizer=self.optimizer.state_dict(),
            scaler=self.scaler.state_dict() if self.parts.prec.scaler else None,
            schedule=self.schedule_for(self.stage_of(min(epoch_done, self.total - 1))[1]).state_dict(),
            rng=rng, rng_per_rank=gather_by_rank(rng, info) if gather else {str(info.rank): rng},
            history=loop.history, best=loop.best, interrupted=interrupted,
            budget=self.budget.state_dict() if self.budget is not None else None)

    def save(self, row: dict[str, Any], cm: Any) -> None:
        """After an epoch: best.pt (val mIoU), best_loss.pt, the periodic epNNN.pt, history.csv and last.pt."""
        p, cfg, best, done = self.parts, self.cfg, self.loop.best, self.loop.epoch + 1
        if p.info.is_main:
            if cm is not None and not math.isnan(row["miou"]) and row["miou"] >= best["miou"]:
                best.update(miou=row["miou"], miou_epoch=done)
                p.rd.save_checkpoint("best", self.payload(done, metrics=row, confusion_matrix=cm.hist.cpu().clone()))
            if row["val_loss"] <= best["val_loss"]:
                best.update(val_loss=row["val_loss"], loss_epoch=done)
                p.rd.save_checkpoint("best_loss", self.payload(done, metrics=row))
            if done % cfg.save_period == 0 or done == self.total:
                p.rd.save_checkpoint(f"ep{done:03d}", self.payload(done, metrics=row))
            p.rd.write_history(self.loop.history)
        snap = self.snapshot(done)
        if p.info.is_main:
            p.rd.save_checkpoint("last", snap)

    def _save_interrupted(self, exact: bool) -> None:
        """After Ctrl-C: store the state at the last finished step (when `exact`) and say how to resume."""
        p, loop, last = self.parts, self.loop, self.parts.rd.checkpoint("last")
        if exact and loop.epochs_done < loop.epoch + 1:  # mid-epoch: store the weights and where to continue
            snap = self.snapshot(loop.epoch, loop.interrupted(), gather=False)
            first = self.cfg.Init_Epoch
            snap["history"] = loop.history[: loop.epoch - first] if loop.epoch >= first else loop.history
            if p.info.is_main:
                p.rd.save_checkpoint("last", snap)
        if p.info.is_main:
            if not last.is_file():
                tqdm.write(f"\n[segkit] interrupted before the first checkpoint: nothing to resume in {p.rd.path}; "
                           "run the same command again to start over.")
                return
            saved = load_checkpoint(last, map_location="cpu")
            at = saved.get("interrupted")
            where = (f"epoch {at['epoch'] + 1}, step {at['step']}" if at else f"the end of epoch {saved['epoch']}")
            tqdm.write(f"\n[segkit] interrupted; {last} holds the state at {where}. "
                       "Continue with resume=True (CLI: --resume).")
