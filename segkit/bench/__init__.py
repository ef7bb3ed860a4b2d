"""Model complexity and speed: parameters, FLOPs, latency/FPS, peak memory.

The numbers the paper tables report (Params (M), GFLOPs, FPS) come from one call::

    r = segkit.bench.profile(model, (1, 3, 512, 512), device="cuda")
    r.params_m, r.gflops, r.fps, r.latency.median_ms
    r.save("bench.json")

Conventions (definitions in ``docs/metrics.md``):

- **Params** = trainable parameters; ``params_m`` = trainable / 1e6 rounded to 2 decimals.
  The total (frozen included) is reported next to it.
- **FLOPs** come from ``torch.utils.flop_counter.FlopCounterMode`` in eval mode: conv,
  linear and matmul ops at 2 FLOPs per multiply-accumulate, so FLOPs = 2 x MACs (the same
  convention as the reference's ``thop`` MACs x 2). Element-wise ops (BN, activations,
  softmax, interpolation) are not counted. Both ``gflops`` and ``gmacs`` are reported.
- **FPS**, two protocols, both timing forward + softmax + argmax at batch 1 in eval mode
  under ``no_grad`` with ``torch.cuda.synchronize`` on GPU:

  * ``"median"`` (default): ``warmup`` untimed passes, ``runs`` timed passes, FPS =
    batch / median latency (robust to the noise of a shared machine);
  * ``"reference"``: the paper's protocol, 1 warm-up pass, 100 timed passes with the
    argmax done in NumPy on the CPU as the reference predict code does, FPS = 1 / mean.

  The protocol, its statistic and its counts are recorded in the result.
- **Memory**: on CUDA, ``torch.cuda.max_memory_allocated`` over warm-up and timed passes
  (weights included; ``activations_mb`` = peak minus what was allocated before); on the
  CPU, the growth of the process RSS (psutil) from before the warm-up to the largest value
  seen after a timed pass: a rough figure, as the allocator caches and reuses memory.
- **Optimised modes** (``auto``, ``channels_last``, ``bn_fold``, ``bf16``, ``fp16``,
  ``compile``, ``onnxruntime``) are timed with the same protocol and reported separately in
  ``result.modes``; the eager number (fp32, NCHW) is never replaced by one of them. Each
  records ``max_abs_diff`` (largest |logit - eager logit|) and ``argmax_agreement`` (share of
  pixels whose class equals eager's) on the timing input. ``auto`` times exactly what
  ``segkit.runtime.precision.resolve_precision(precision, channels_last, device, model)``
  picks (``profile``'s `precision` / `channels_last`, default ``"auto"``) and records it in
  ``extra["precision"]``. A mode that fails on a model is reported as unavailable, with the
  reason.

One concept per file: ``results`` (result types, JSON), ``flops``, ``bn_fold``, ``timing``
(protocols), ``modes`` and ``onnx_mode`` (optimised execution), ``profile``, ``compare``
(several models), ``module_cost`` (parameters, FLOPs and latency per part of a DeepLab
model), ``run_dir`` (``bench.json`` of a run), ``environment``.
"""
from __future__ import annotations

from segkit._utils import count_params
from segkit.bench.bn_fold import fold_batchnorm
from segkit.bench.compare import profile_interleaved, profile_many
from segkit.bench.environment import environment
from segkit.bench.flops import FLOPS_CONVENTION, count_flops
from segkit.bench.modes import MODES
from segkit.bench.module_cost import module_cost
from segkit.bench.profile import profile
from segkit.bench.results import BenchResult, LatencyStats, ModeResult, load_bench
from segkit.bench.run_dir import write_run_bench
from segkit.bench.timing import PROTOCOLS, time_model

__all__ = [
    "BenchResult",
    "LatencyStats",
    "ModeResult",
    "MODES",
    "PROTOCOLS",
    "FLOPS_CONVENTION",
    "profile",
    "profile_many",
    "profile_interleaved",
    "count_params",
    "count_flops",
    "module_cost",
    "time_model",
    "fold_batchnorm",
    "environment",
    "write_run_bench",
    "load_bench",
]
