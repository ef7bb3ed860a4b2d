"""``profile``: parameters, FLOPs, latency/FPS, peak memory and optimised modes of one model."""
from __future__ import annotations

from typing import Any, Iterable, Literal, Sequence

import torch
import torch.nn as nn

from segkit._utils import count_params, did_you_mean, eval_mode, main_logits, resolve_device
from segkit.bench.environment import _check_shape, environment
from segkit.bench.flops import FLOPS_CONVENTION, count_flops
from segkit.bench.modes import MODES, _mode_callable
from segkit.bench.results import BenchResult, LatencyStats, ModeResult
from segkit.bench.timing import _PROTOCOL_DEFAULTS, PROTOCOLS, time_model

__all__ = ["profile"]


def _rss_bytes() -> int | None:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except Exception:
        return None


def _check_modes(protocol: str, modes: Iterable[str]) -> list[str]:
    """The modes to time, "eager" first; raises on an unknown protocol or mode."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}; got {protocol!r}")
    modes = list(dict.fromkeys(["eager", *modes]))
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown mode(s) {bad}.{did_you_mean(bad[0], MODES)} Choose from {MODES}")
    return modes


def _time_eager(model: nn.Module, x: torch.Tensor, dev: torch.device, warmup: int, runs: int, protocol: str,
                postprocess: bool) -> tuple[LatencyStats, dict[str, Any]]:
    """Latency of the eager model and its peak memory (CUDA allocator, or the growth of the CPU RSS)."""
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    rss0 = _rss_bytes()
    rss_peak = [rss0]

    def probe() -> None:
        if rss0 is not None:
            rss_peak[0] = max(rss_peak[0], _rss_bytes() or 0)

    latency = time_model(model, x, warmup=warmup, runs=runs, protocol=protocol, postprocess=postprocess,
                         after_each=None if dev.type == "cuda" else probe)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev)
        return latency, {"kind": "cuda_max_allocated", "peak_mb": round(peak / 2**20, 1),
                         "activations_mb": round((peak - base) / 2**20, 1)}
    # the largest process RSS seen after a timed pass, minus the RSS before warm-up
    return latency, {"kind": "cpu_rss_delta",
                     "peak_mb": None if rss0 is None else round(max(rss_peak[0] - rss0, 0) / 2**20, 1),
                     "rss_mb": None if rss0 is None else round(rss_peak[0] / 2**20, 1)}


def _time_modes(model: nn.Module, x: torch.Tensor, dev: torch.device, modes: Sequence[str], precision: str,
                channels_last: str | bool, **timing: Any) -> dict[str, ModeResult]:
    """Each optimised mode timed like eager, with its largest logit difference and argmax agreement."""
    results: dict[str, ModeResult] = {}
    if not modes:
        return results
    ref = main_logits(model(x)).float()
    for mode in modes:
        try:
            fn, xm, how, extra = _mode_callable(mode, model, x, dev, precision, channels_last)
            out = main_logits(fn(xm)).float()
            diff = float((out - ref).abs().max())
            agree = float((out.argmax(1) == ref.argmax(1)).float().mean())
            results[mode] = ModeResult(mode, True, how, time_model(fn, xm, **timing), diff, extra, agree)
        except Exception as exc:  # a mode a model does not support is a result, not a crash
            msg = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
            results[mode] = ModeResult(mode, False, msg)
    return results


def _protocol_record(protocol: str, warmup: int, runs: int, batch: int, postprocess: bool) -> dict[str, Any]:
    reference = protocol == "reference"
    return {
        "name": protocol,
        "statistic": "mean" if reference else "median",
        "fps": "FPS = 1 / mean latency" if reference else "FPS = batch / median latency",
        "warmup": warmup,
        "runs": runs,
        "batch_size": batch,
        "timed": "forward + softmax + argmax" if postprocess else "forward",
        "argmax_on": "cpu (numpy)" if reference else "device",
        "mode": "eval, torch.no_grad",
    }


def profile(
    model: nn.Module,
    input_shape: Sequence[int] = (1, 3, 512, 512),
    device: str | torch.device = "cpu",
    *,
    runs: int | None = None,
    warmup: int | None = None,
    protocol: Literal["median", "reference"] = "median",
    modes: Iterable[str] = ("eager",),
    flops: bool = True,
    timing: bool = True,
    postprocess: bool = True,
    name: str | None = None,
    seed: int = 0,
    precision: str = "auto",
    channels_last: str | bool = "auto",
) -> BenchResult:
    """Parameters, FLOPs, latency/FPS, peak memory and environment of a model.

    The model is moved to `device` and put in eval mode for the measurement; every module's
    training flag is restored afterwards. Optimised modes run on copies.

    Args:
        model: a segmentation network returning logits (B, K, H, W).
        input_shape: (B, C, H, W) of the random input in [0, 1]; batch 1 by default.
        device: "cpu", "cuda", "cuda:N", "mps" or "auto".
        runs: timed passes; None gives the protocol default (median 30, reference 100).
        warmup: untimed passes; None gives the protocol default (median 5, reference 1).
        protocol: "median" (FPS = batch / median latency) or "reference" (the paper's: 1
            warm-up, 100 runs, argmax in NumPy, FPS = 1 / mean latency).
        modes: execution modes to time, from ``MODES``; "eager" is always timed and is the
            headline FPS. Each other mode becomes a separate entry of ``result.modes``.
        flops: count FLOPs (on meta tensors when possible, so it costs no compute).
        timing: time the model (False: params and FLOPs only).
        postprocess: include softmax + argmax in the timed pass (the paper's protocol).
        name: the name in tables; default the model's class name.
        seed: seed of the random input.
        precision, channels_last: what the ``"auto"`` mode asks ``resolve_precision`` for
            (default ``"auto"``: what training and inference use by default).

    Returns:
        A ``BenchResult`` (``.to_dict()``, ``.save(path)``, ``.row()``, ``.summary()``).
    """
    modes = _check_modes(protocol, modes)
    shape = _check_shape(input_shape)
    dev = resolve_device(device)
    d_warmup, d_runs = _PROTOCOL_DEFAULTS[protocol]
    warmup = d_warmup if warmup is None else int(warmup)
    runs = d_runs if runs is None else int(runs)
    notes: list[str] = []
    if not timing and len(modes) > 1:
        notes.append(f"timing=False: modes {modes[1:]} were not timed")
    if protocol == "reference" and (warmup, runs) != (1, 100):
        notes.append(f"reference protocol run with warmup={warmup}, runs={runs} instead of 1 and 100")

    n_flops, by_child, flops_dev = count_flops(model, shape) if flops else (None, {}, None)
    param = next(model.parameters(), None)
    env = environment(dev)
    env.update(dtype=str(param.dtype) if param is not None else "float32", channels_last=False, flops_device=flops_dev)
    latency, memory, mode_results = None, {}, {}
    if timing:
        with eval_mode(model):
            x = torch.rand(shape, generator=torch.Generator().manual_seed(seed)).to(dev)
            latency, memory = _time_eager(model.to(dev), x, dev, warmup, runs, protocol, postprocess)
            mode_results["eager"] = ModeResult("eager", True, "eager PyTorch, float32, contiguous", latency, 0.0)
            mode_results.update(_time_modes(model, x, dev, modes[1:], precision, channels_last, warmup=warmup,
                                            runs=runs, protocol=protocol, postprocess=postprocess))
    total, trainable = count_params(model, trainable_only=False), count_params(model)
    return BenchResult(
        model=name or type(model).__name__, input_shape=shape, device=str(dev),
        protocol=_protocol_record(protocol, warmup, runs, shape[0], postprocess),
        params_total=total, params_trainable=trainable,
        params_m=round(trainable / 1e6, 2), params_total_m=round(total / 1e6, 2),
        flops=n_flops, gflops=None if n_flops is None else n_flops / 1e9,
        macs=None if n_flops is None else n_flops // 2, gmacs=None if n_flops is None else n_flops / 2e9,
        flops_convention=FLOPS_CONVENTION, flops_by_module=by_child,
        latency=latency, memory=memory, env=env, modes=mode_results, notes=notes,
    )
