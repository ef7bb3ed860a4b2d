"""Which part of a DeepLab model costs what: parameters, FLOPs and forward latency per part.

    df = segkit.bench.module_cost(build_model("sff-wadeeplab", num_classes=3), (512, 512))
    segkit.report.module_cost.plot_module_cost(df)   # latency and FLOPs share per part

The parts are those of ``segkit.models.parts`` (the same ones ``warm_start`` and
``part_unfreeze_epoch`` name): ``backbone`` (the plain MobileNetV2 layers), the attention
modules inside the backbone (named after their registry entry, e.g. ``GGCA``), ``SFF``,
``ASPP`` and ``decoder`` (everything else: ``shortcut_conv``, ``cat_conv``, ``cls_conv``;
DeepLabV3's ``head``). A part the model lacks has no row. ``(other)`` is the work
outside every part: the functional code of ``forward`` (input padding, the decoder's
resizes and concatenation) and the timing hooks themselves; it holds no parameters.

Measurement: forward hooks (pre and post) around each part's modules. A part's time and
FLOPs are those of its outermost calls, so nested modules are counted once; the backbone's
attention modules run inside the backbone, and the backbone's row excludes them. The
modules through which the forward enters a part are found on a first pass that also counts
the FLOPs (``torch.utils.flop_counter.FlopCounterMode``, same convention as
``count_flops``); the timed passes hook only those entry modules, which keeps the hooks'
own cost small. Latency is the forward pass alone (no softmax / argmax), batch 1, eval
mode, no grad, the median of `runs` passes after `warmup` passes; the total row is the
median of the whole forward, and the parts' shares are of the sum of the parts' medians.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn as nn

from segkit._moved import moved_names
from segkit._utils import count_params, eval_mode, resolve_device
from segkit.bench.environment import _sync
from segkit.bench.timing import wait_until_quiet

__all__ = ["module_cost", "model_parts", "Part", "COLUMNS"]

# the figure is the report's (segkit.report.module_cost); found there on first use, for old imports
__getattr__ = moved_names(__name__, {"plot_module_cost": "segkit.report.module_cost"})

_LABELS = {"sff": "SFF", "aspp": "ASPP"}  # segkit.models.parts names -> the table's row names
OTHER, TOTAL = "(other)", "total"
COLUMNS = ["part", "modules", "params", "params(%)", "GFLOPs", "FLOPs(%)", "latency(ms)", "latency(%)"]


@dataclass
class Part:
    """One row of the profile: its modules and the part whose time contains it (if any)."""

    name: str
    modules: list[nn.Module]
    inside: str | None = None


@dataclass
class _Clock:
    """Time and FLOPs spent in one part's outermost calls (a call nested in another of the same part
    is already inside the outer one's interval)."""

    sync: Callable[[], None]
    flops_now: Callable[[], int] = int  # int() is 0: no FLOP counter in the timed passes
    depth: int = 0
    seconds: float = 0.0
    flops: int = 0
    entries: list[nn.Module] = field(default_factory=list)
    _t0: float = 0.0
    _f0: int = 0

    def enter(self, module: nn.Module, args: object) -> None:
        if self.depth == 0:
            if not any(module is m for m in self.entries):
                self.entries.append(module)
            self.sync()
            self._t0, self._f0 = time.perf_counter(), self.flops_now()
        self.depth += 1

    def leave(self, module: nn.Module, args: object, out: object) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.sync()
            self.seconds += time.perf_counter() - self._t0
            self.flops += self.flops_now() - self._f0


def _attention_label(modules: Sequence[nn.Module]) -> str:
    """"GGCA" (or "SE", "GGCA + SE"): the registry names of the attention modules' classes."""
    from segkit.modules._registry import MODULES

    classes = {MODULES.get(name).cls: name for name in MODULES.names()}
    return " + ".join(dict.fromkeys(classes.get(type(m), type(m).__name__).upper() for m in modules))


def model_parts(model: nn.Module) -> list[Part]:
    """The parts of `model` (``segkit.models.parts``: one definition for this profile and the training
    options that act on parts) in the order of its top-level children; parts it lacks are left out."""
    from segkit.models.parts import attention_paths, part_of

    attention = [model.get_submodule(p) for p in attention_paths(model)]
    parts: dict[str, Part] = {}
    for child_name, child in model.named_children():
        name = _LABELS.get(part_of(f"{child_name}.", []), part_of(f"{child_name}.", []))
        parts.setdefault(name, Part(name, [])).modules.append(child)
        if name == "backbone" and attention:
            label = _attention_label(attention)
            parts[label] = Part(label, attention, inside="backbone")
    return list(parts.values())


def _unique_params(modules: Sequence[nn.Module]) -> int:
    seen = {id(p): p.numel() for m in modules for p in m.parameters()}
    return sum(seen.values())


def _hook(modules: Sequence[nn.Module], clock: _Clock) -> list[torch.utils.hooks.RemovableHandle]:
    handles = []
    for m in modules:
        handles.append(m.register_forward_pre_hook(clock.enter))
        handles.append(m.register_forward_hook(clock.leave))
    return handles


def _unhook(handles: list[torch.utils.hooks.RemovableHandle]) -> None:
    for h in handles:
        h.remove()


def _count_pass(model: nn.Module, x: torch.Tensor, parts: list[Part],
                sync: Callable[[], None]) -> tuple[dict[str, _Clock], int]:
    """One forward under the FLOP counter with every module of every part hooked: each part's FLOPs,
    the modules through which the forward enters it (for the timed passes), and the total FLOPs."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    clocks = {p.name: _Clock(sync, counter.get_total_flops) for p in parts}
    handles = [h for p in parts for h in _hook([m for root in p.modules for m in root.modules()], clocks[p.name])]
    try:
        with counter:
            model(x)
    finally:
        _unhook(handles)
    return clocks, int(counter.get_total_flops())


def _timed_passes(model: nn.Module, x: torch.Tensor, entries: dict[str, list[nn.Module]], runs: int, warmup: int,
                  sync: Callable[[], None]) -> tuple[dict[str, list[float]], list[float]]:
    """Seconds per part and of the whole forward, one value per timed pass."""
    clocks = {name: _Clock(sync) for name in entries}
    handles = [h for name, mods in entries.items() for h in _hook(mods, clocks[name])]
    wait_until_quiet()
    per_part: dict[str, list[float]] = {name: [] for name in entries}
    totals: list[float] = []
    try:
        for i in range(warmup + runs):
            for c in clocks.values():
                c.seconds = 0.0
            sync()
            t0 = time.perf_counter()
            model(x)
            sync()
            if i < warmup:
                continue
            totals.append(time.perf_counter() - t0)
            for name, c in clocks.items():
                per_part[name].append(c.seconds)
    finally:
        _unhook(handles)
    return per_part, totals


def _exclusive(values: dict[str, list[float]] | dict[str, int], parts: list[Part],
               total: list[float] | int) -> dict[str, list[float]] | dict[str, int]:
    """Per part, its own share only: a containing part loses what its nested parts took, and
    ``(other)`` is the total minus the outermost parts. Works on per-pass lists or on single numbers."""
    def minus(a, b):
        return [u - v for u, v in zip(a, b)] if isinstance(a, list) else a - b

    out = dict(values)
    for p in parts:
        if p.inside in out:
            out[p.inside] = minus(out[p.inside], values[p.name])
    other = total
    for p in parts:
        if p.inside is None:
            other = minus(other, values[p.name])
    out[OTHER] = other
    return out


def _share(values: dict[str, float]) -> dict[str, float]:
    whole = sum(values.values())
    return {k: 100.0 * v / whole if whole else 0.0 for k, v in values.items()}


def module_cost(model: nn.Module, image_size: int | Sequence[int] = (512, 512), runs: int = 5,
                device: str | torch.device = "cpu", warmup: int = 1, seed: int = 0):
    """Parameters, FLOPs and forward latency of each part of a DeepLab model (see the module doc).

    Args:
        model: a DeepLabV3+ / DeepLabV3 model (``build_model("sff-wadeeplab", num_classes=3)``);
            it is moved to `device` and put in eval mode for the measurement, and every module's
            training flag is restored afterwards.
        image_size: H, W of the batch-1 random input (an int for a square).
        runs: timed forward passes; each part's latency is their median.
        device: "cpu", "cuda", "mps" or "auto".
        warmup: untimed forward passes before the timed ones.
        seed: seed of the random input.

    Returns:
        A pandas DataFrame with one row per part, then ``(other)`` and ``total``; columns
        ``COLUMNS``: part, modules (the part's modules: top-level children, or the attention
        modules found in the backbone), params (all parameters),
        params(%), GFLOPs (2 FLOPs per multiply-accumulate), FLOPs(%), latency(ms) (median),
        latency(%). Shares are of the total (latency: of the sum of the parts' medians), so
        each share column sums to 100 over the part rows.
    """
    import pandas as pd

    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0; got runs={runs}, warmup={warmup}")
    h, w = (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
    dev = resolve_device(device)
    parts = model_parts(model)
    sync = lambda: _sync(dev)  # noqa: E731  (CUDA kernels must finish inside the part that launched them)
    x = torch.rand((1, 3, h, w), generator=torch.Generator().manual_seed(seed)).to(dev)
    with eval_mode(model.to(dev)):
        clocks, total_flops = _count_pass(model, x, parts, sync)
        entries = {p.name: clocks[p.name].entries for p in parts}
        per_run, totals = _timed_passes(model, x, entries, runs, warmup, sync)

    params = _exclusive({p.name: _unique_params(p.modules) for p in parts}, parts, count_params(model, False))
    flops = _exclusive({p.name: clocks[p.name].flops for p in parts}, parts, total_flops)
    ms = {k: 1e3 * statistics.median(v) for k, v in _exclusive(per_run, parts, totals).items()}
    counts = {p.name: len(p.modules) for p in parts} | {OTHER: 0}
    shares = (_share(params), _share(flops), _share(ms))
    rows = [[k, counts[k], params[k], shares[0][k], flops[k] / 1e9, shares[1][k], ms[k], shares[2][k]]
            for k in counts]
    top_level = sum(counts[p.name] for p in parts if p.inside is None)
    rows.append([TOTAL, top_level, sum(params.values()), 100.0, total_flops / 1e9, 100.0,
                 1e3 * statistics.median(totals), 100.0])
    return pd.DataFrame(rows, columns=COLUMNS)
