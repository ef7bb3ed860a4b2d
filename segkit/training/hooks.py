"""What a training run shows to user code: the hook state, the `Callback` base, and Ctrl-C
taken at a step boundary."""
from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from segkit.training.config import TrainConfig

__all__ = ["TrainState", "Callback", "call_hooks", "DeferredInterrupt"]


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
    data_wait: float = 0.0  # seconds this epoch's steps waited for the data loader so far
    first_batch_wait: float | None = None  # of which the first batch (the loader's workers starting)
    row: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    rank: int = 0
    stop_training: bool = False  # set by a hook: this epoch is evaluated and the run ends after it


class Callback:
    """Hook points of :func:`segkit.engine.train`; override any.

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


def call_hooks(callbacks: Sequence[Any], hook: str, state: TrainState) -> None:
    """Call `hook` on every callback that has it (duck-typed: any object with the method)."""
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(state)


class DeferredInterrupt:
    """Ctrl-C during a training step takes effect at the next step boundary.

    The saved state is then a whole number of steps (no half-applied optimiser step, no
    BatchNorm statistics one batch ahead), so a resumed run equals an uninterrupted one.
    A second Ctrl-C stops at once; ``last.pt`` then keeps the last finished epoch.
    """

    def __init__(self) -> None:
        self.requested = False
        self.forced = False
        self._old: Any = None

    def __enter__(self) -> "DeferredInterrupt":
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
        """Raise the deferred KeyboardInterrupt (call at a step boundary)."""
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
