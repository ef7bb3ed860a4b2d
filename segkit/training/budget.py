"""`TimeBudget`: train for a wall-clock budget (``TrainConfig.time_limit``) with a fitted schedule.

A CPU user has minutes, not epochs, and a fair comparison of two recipes gives both the same
time. The budget is the whole :func:`segkit.engine.train` call: setting up (data, model),
optimiser steps, the per-epoch validation loss, periodic evaluations and the final evaluation
of best.pt, which it keeps in reserve (``reserve``: the trainer's estimate, from the time it
takes to score an image). After every step the callback measures the seconds per step and
the cost of an epoch's end, estimates how many more steps fit and

- sets the next step's learning rate from :func:`segkit.training.schedule.budget_lr` at
  ``i / (N - 1)`` for step ``i`` (0-based) of the ``N`` = steps done + steps that still fit:
  a warm-up + cosine over the steps the budget allows, whose last step runs at ``Min_lr``;
- stops (``state.stop_training``) when the next step, the epoch's end and the final
  evaluation would end after the budget, so the call returns within about one step of it.

The run also ends at ``UnFreeze_Epoch`` when that comes first (the schedule counts it).
``budget.json`` in the run directory records the budget, the time used and the steps. A
resumed run goes on with what is left of the budget (``last.pt`` stores the seconds and steps
used; the time between the interruption and the resume does not count). Under DDP the ranks
average their clocks, so all decide alike.
"""
from __future__ import annotations

import json
import math
import time
from typing import Any

import torch

from segkit.runtime.distributed import all_reduce_sum
from segkit.training.schedule import budget_lr

__all__ = ["TimeBudget"]


class TimeBudget:
    """A :class:`segkit.training.trainer.Callback` that ends training at a wall-time budget.

    Args:
        seconds: the budget (``TrainConfig.time_limit``).
        lr: the peak learning rate (``Init_lr_fit``).
        min_lr: the final learning rate (``Min_lr_fit``).
        epochs: the epoch cap (``UnFreeze_Epoch``).
        device: where DDP reduces the clocks.
        clock: the time source (seconds); tests pass a fake one.
        started: the clock's value when the command started (default: at ``on_train_start``),
            so that setting up counts against the budget.
    """

    def __init__(self, seconds: float, lr: float, min_lr: float, epochs: int,
                 device: torch.device | str = "cpu", clock: Any = time.perf_counter,
                 started: float | None = None) -> None:
        if not seconds > 0:
            raise ValueError(f"TimeBudget: seconds={seconds} must be > 0 (TrainConfig.time_limit)")
        self.seconds, self.lr, self.min_lr, self.epochs = float(seconds), lr, min_lr, epochs
        self.device, self.clock = torch.device(device), clock
        self.done = 0              # steps finished in this run
        self.step_time = math.nan  # mean seconds of a step inside an epoch
        self.epoch_end = 0.0       # the largest measured (or estimated) cost of an epoch's end
        self.reserve = 0.0         # seconds kept for the final evaluation (`keep`)
        self.started = started
        self.setup_seconds = 0.0   # from the command's start to the first step
        self.next_lr = budget_lr(0.0, lr, min_lr)
        self.expected = 0
        self.elapsed = 0.0         # seconds from the start to the end of the last step
        self.stopped_by = "epochs"
        self._t0 = self._last = 0.0
        self._timed = 0.0
        self._n_timed = 0
        self._after_epoch_end = False
        self._resumed = False  # the first step after a resume pays for the start-up: not measured
        self._end_measured = False  # epoch_end is an estimate until an epoch's end has been timed
        self._started = False

    # ---------------------------------------------------------------- hooks
    def on_train_start(self, state: Any) -> None:
        now = self.clock()
        if self.started is not None and not self._resumed:
            self._t0, self._last = self.started, now  # setting up counted
            self.setup_seconds = now - self.started
        else:
            self._t0, self._last = now - self.elapsed, now  # a resumed run counts the seconds already used
        self._started = True
        self._apply(state)

    def on_epoch_start(self, state: Any) -> None:
        self._apply(state)  # the trainer has just set its per-epoch rate; the budget's wins

    def on_step_end(self, state: Any) -> None:
        elapsed, took = self._elapsed_and_took()
        self.done += 1
        self._measure(took)
        last_of_epoch = state.step >= state.steps_per_epoch
        # the run ends with an epoch's end (validation) and the final evaluation; going on past an
        # epoch's end pays for it too, and each later epoch's end is shared by its steps
        pending = self.epoch_end * (2 if last_of_epoch else 1) + self.reserve
        recent = max(self.step_time, took) if not self._after_epoch_end else self.step_time
        per_step = recent + self.epoch_end / max(state.steps_per_epoch, 1)
        fit = math.floor((self.seconds - elapsed - pending) / per_step)  # a slowing machine counts at once
        if self.done == 1 and elapsed + pending < self.seconds:
            fit = max(fit, 1)  # the first step also started the loader and the kernels: not yet a step's time
        left = (self.epochs - state.epoch - 1) * state.steps_per_epoch + (state.steps_per_epoch - state.step)
        remaining = min(fit, left)
        self.expected = self.done + max(remaining, 0)
        self.elapsed = elapsed
        if fit < 1:
            self.stopped_by = "time"
            state.stop_training = True
            return
        if remaining >= 1:
            self.next_lr = budget_lr(self.done / max(self.expected - 1, 1), self.lr, self.min_lr)
            self._apply(state)
        self._after_epoch_end = last_of_epoch

    def on_epoch_end(self, state: Any) -> None:
        if state.rank == 0:
            (state.run_dir / "budget.json").write_text(json.dumps(self.record(), indent=2) + "\n", encoding="utf-8")

    def keep(self, seconds: float) -> None:
        """Keep `seconds` for the final evaluation (every DDP rank calls this: see `_mean_over_ranks`)."""
        self.reserve = self._mean_over_ranks(seconds)

    def estimate_epoch_end(self, seconds: float) -> None:
        """What an epoch's end should cost, until one has been timed (so a first epoch cut short
        by the budget leaves time for its validation); every DDP rank calls this."""
        seconds = self._mean_over_ranks(seconds)
        if not self._end_measured:
            self.epoch_end = seconds

    def _mean_over_ranks(self, seconds: float) -> float:
        """The ranks' mean of a locally timed value, so that all ranks decide alike."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return all_reduce_sum([seconds], self.device)[0] / torch.distributed.get_world_size()
        return float(seconds)

    def state_dict(self) -> dict[str, Any]:
        """What ``last.pt`` keeps, so a resumed run continues this budget (the seconds used until now,
        an epoch's end included)."""
        used = self.clock() - self._t0 if self._started else self.elapsed
        return {"elapsed": used, "done": self.done, "step_time": self.step_time, "epoch_end": self.epoch_end,
                "timed": self._timed, "n_timed": self._n_timed, "next_lr": self.next_lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the budget of `state` (from `state_dict`)."""
        self.elapsed, self.done = float(state["elapsed"]), int(state["done"])
        self.step_time, self.epoch_end = float(state["step_time"]), float(state["epoch_end"])
        self._timed, self._n_timed, self.next_lr = float(state["timed"]), int(state["n_timed"]), float(state["next_lr"])
        self._resumed = True

    # ---------------------------------------------------------------- helpers
    def record(self) -> dict[str, Any]:
        """What ``budget.json`` holds: the budget, the seconds used by the steps, the steps and why it ended."""
        return {"time_limit": self.seconds, "train_seconds": round(self.elapsed, 3),
                "steps": self.done, "seconds_per_step": round(self.step_time, 4),
                "setup_seconds": round(self.setup_seconds, 3), "epoch_end_seconds": round(self.epoch_end, 3),
                "final_evaluation_reserve": round(self.reserve, 3),
                "stopped_by": self.stopped_by,
                "last_lr": self.next_lr, "min_lr": self.min_lr, "peak_lr": self.lr}

    def _elapsed_and_took(self) -> tuple[float, float]:
        now = self.clock()
        elapsed, took = now - self._t0, now - self._last
        self._last = now
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            n = torch.distributed.get_world_size()
            elapsed, took = (v / n for v in all_reduce_sum([elapsed, took], self.device))
        return elapsed, took

    def _measure(self, took: float) -> None:
        """Step time from steps inside an epoch; a step after an epoch's end also measures that end."""
        if self._resumed:
            self._resumed = False
            return
        if self.done == 1 or self._after_epoch_end:
            if math.isnan(self.step_time):
                self.step_time = took  # the first step (loader start-up included) until a plain one is timed
            else:  # the first measurement replaces the trainer's estimate
                measured = took - self.step_time
                self.epoch_end = max(self.epoch_end, measured) if self._end_measured else measured
                self._end_measured = True
            return
        self._timed += took
        self._n_timed += 1
        self.step_time = self._timed / self._n_timed

    def _apply(self, state: Any) -> None:
        for group in state.optimizer.param_groups:
            group["lr"] = self.next_lr
