"""Rare classes: the wall-time budget, rare-class sampling, defect-aware crops, rare-class losses."""
from __future__ import annotations

import json
import math
import time

import pytest
import torch

from segkit.engine import TrainConfig, train
from segkit.engine.budget import TimeBudget
from segkit.engine.schedule import budget_lr, fit_lr
from test_engine import tiny_model


# ----------------------------------------------------------------------------- time_limit
class _StepLog:
    """Records the wall time and the learning rate of every step; each step takes at least `sleep` s."""

    def __init__(self, sleep: float) -> None:
        self.sleep, self.ends, self.lrs, self.start = sleep, [], [], 0.0

    def on_train_start(self, state) -> None:
        self.start = time.perf_counter()

    def on_step_end(self, state) -> None:
        time.sleep(self.sleep)  # a step of known length, so the test does not depend on the machine's load
        self.lrs.append(state.optimizer.param_groups[0]["lr"])  # the rate this step used
        self.ends.append(time.perf_counter() - self.start)


def test_time_limit_stops_within_one_step_and_reaches_the_final_lr(synthetic_root, tmp_path):
    budget, sleep = 2.0, 0.1
    cfg = TrainConfig(input_shape=[64, 64], UnFreeze_Epoch=1000, Unfreeze_batch_size=4, Init_lr=0.1, Min_lr=1e-3,
                      num_workers=0, eval_period=1000, save_period=1000, time_limit=budget)
    log = _StepLog(sleep)
    run = train(tiny_model(), cfg, synthetic_root, tmp_path / "budget", progress=False, verbose=False,
                callbacks=[log])
    steps = [b - a for a, b in zip(log.ends, log.ends[1:])]
    step = max(steps)  # one step: the longest (the machine may be busy)
    assert budget - step <= log.ends[-1] <= budget + step, (log.ends[-1], steps)
    peak, final = fit_lr(cfg.Init_lr, cfg.Min_lr, cfg.Unfreeze_batch_size, "sgd", cfg.nbs)
    assert log.lrs[0] == pytest.approx(0.1 * peak)  # warm-up starts at a tenth of the peak
    assert max(log.lrs) <= peak * (1 + 1e-9) and max(log.lrs) > 0.8 * peak
    assert log.lrs[-1] <= final + 0.05 * (peak - final)  # the last step runs at Min_lr (a busy machine: about)
    record = json.loads((run / "budget.json").read_text())
    assert record["stopped_by"] == "time" and record["steps"] == len(log.ends)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epoch"] >= 1 and "miou" in metrics  # evaluated at the end


class _FakeState:
    def __init__(self, steps_per_epoch: int) -> None:
        self.optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        self.epoch, self.step, self.steps_per_epoch, self.stop_training, self.rank = 0, 0, steps_per_epoch, False, 0


def test_budget_schedule_spans_the_steps_that_fit():
    now = [0.0]
    cb = TimeBudget(10.0, lr=1.0, min_lr=0.01, epochs=100, clock=lambda: now[0])
    state = _FakeState(steps_per_epoch=1000)
    cb.on_train_start(state)
    lrs = []
    while not state.stop_training:
        lrs.append(state.optimizer.param_groups[0]["lr"])
        now[0] += 1.0  # every step takes exactly one second
        state.step += 1
        cb.on_step_end(state)
    assert len(lrs) == 10 and cb.stopped_by == "time"  # ten one-second steps fit in ten seconds
    assert lrs[-1] == pytest.approx(0.01) and lrs[0] == pytest.approx(0.1)
    assert lrs == pytest.approx([budget_lr(i / 9, 1.0, 0.01) for i in range(10)])


def test_budget_schedule_counts_the_epoch_cap():
    now = [0.0]
    cb = TimeBudget(1000.0, lr=1.0, min_lr=0.0, epochs=2, clock=lambda: now[0])
    state = _FakeState(steps_per_epoch=5)
    cb.on_train_start(state)
    lrs = []
    for epoch in range(2):
        state.epoch, state.step = epoch, 0
        cb.on_epoch_start(state)
        for _ in range(5):
            lrs.append(state.optimizer.param_groups[0]["lr"])
            now[0] += 1.0
            state.step += 1
            cb.on_step_end(state)
    assert not state.stop_training and lrs[-1] == pytest.approx(0.0) and len(lrs) == 10


@pytest.mark.parametrize("value", [0, -5, "soon"])
def test_bad_time_limit_names_the_field(value):
    with pytest.raises(ValueError, match="time_limit"):
        TrainConfig(time_limit=value)


def test_budget_lr_warms_up_then_decays_to_the_floor():
    assert budget_lr(0.0, 1.0, 0.01) == pytest.approx(0.1)
    assert budget_lr(0.05, 1.0, 0.01) == pytest.approx(1.0)
    assert budget_lr(1.0, 1.0, 0.01) == pytest.approx(0.01)
    assert budget_lr(0.525, 1.0, 0.01) == pytest.approx(0.505)
    assert not math.isnan(budget_lr(2.0, 1.0, 0.0))
