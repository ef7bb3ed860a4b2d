"""Model complexity and speed: parameters, FLOPs, latency/FPS, peak memory.

The numbers the paper tables report (Params (M), GFLOPs, FPS) come from one call::

    r = segkit.bench.profile(model, (1, 3, 512, 512), device="cuda")
    r.params_m, r.gflops, r.fps, r.latency.median_ms
    r.save("bench.json")

Conventions (spec: training.md §10, metrics.md §5, paper_model.md §0):

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
  ``segkit.engine.precision.resolve_precision(precision, channels_last, device, model)``
  picks (``profile``'s `precision` / `channels_last`, default ``"auto"``) and records it in
  ``extra["precision"]``. A mode that fails on a model is reported as unavailable, with the
  reason.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import os
import platform
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit._utils import atomic_write, did_you_mean, main_logits

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BenchResult",
    "LatencyStats",
    "ModeResult",
    "MODES",
    "PROTOCOLS",
    "profile",
    "profile_many",
    "profile_interleaved",
    "count_params",
    "count_flops",
    "time_model",
    "fold_batchnorm",
    "environment",
    "write_run_bench",
    "load_bench",
]

MODES = ("eager", "auto", "channels_last", "bn_fold", "bf16", "fp16", "compile", "onnxruntime")
PROTOCOLS = ("median", "reference")
FLOPS_CONVENTION = (
    "FLOPs = 2 x MACs, counted by torch.utils.flop_counter.FlopCounterMode "
    "(conv, linear, matmul; element-wise ops not counted)"
)
# (warmup, runs) per protocol when the caller gives None
_PROTOCOL_DEFAULTS = {"median": (5, 30), "reference": (1, 100)}


# ----------------------------------------------------------------------------- results


@dataclass
class LatencyStats:
    """Latency distribution of one timed configuration (milliseconds) and its FPS."""

    runs: int
    warmup: int
    batch_size: int
    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    std_ms: float
    fps: float
    fps_statistic: str  # "median" or "mean": the latency FPS is computed from
    samples_ms: list[float] = field(default_factory=list)

    @classmethod
    def from_samples(cls, seconds: Sequence[float], warmup: int, batch_size: int, statistic: str) -> "LatencyStats":
        ms = np.asarray(seconds, dtype=np.float64) * 1e3
        if ms.size == 0:
            raise ValueError("runs must be >= 1 to time a model; got 0 timed samples")
        center = float(np.median(ms)) if statistic == "median" else float(ms.mean())
        return cls(
            runs=int(ms.size),
            warmup=int(warmup),
            batch_size=int(batch_size),
            median_ms=float(np.median(ms)),
            p90_ms=float(np.percentile(ms, 90)),
            mean_ms=float(ms.mean()),
            min_ms=float(ms.min()),
            max_ms=float(ms.max()),
            std_ms=float(ms.std()),
            fps=float(batch_size * 1e3 / center) if center > 0 else float("inf"),
            fps_statistic=statistic,
            samples_ms=[round(float(v), 4) for v in ms],
        )


@dataclass
class ModeResult:
    """One optimised execution mode, timed with the same protocol as the eager model."""

    name: str
    available: bool
    reason: str = ""  # why it is unavailable, or how it was obtained (e.g. "torch.fx")
    latency: LatencyStats | None = None
    max_abs_diff: float | None = None  # max |logits - eager logits| on the timing input
    extra: dict[str, Any] = field(default_factory=dict)
    argmax_agreement: float | None = None  # share of pixels whose argmax equals eager's

    @property
    def fps(self) -> float | None:
        return self.latency.fps if self.latency else None


@dataclass
class BenchResult:
    """Everything ``profile`` measured; JSON-saveable with ``save`` / ``load_bench``."""

    model: str
    input_shape: tuple[int, ...]
    device: str
    protocol: dict[str, Any]
    params_total: int
    params_trainable: int
    params_m: float  # trainable / 1e6, 2 decimals (the paper's "Parameter (M)")
    params_total_m: float
    flops: int | None
    gflops: float | None
    macs: int | None
    gmacs: float | None
    flops_convention: str
    flops_by_module: dict[str, int]
    latency: LatencyStats | None
    memory: dict[str, Any]
    env: dict[str, Any]
    modes: dict[str, ModeResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float | None:
        """FPS of the eager model under the recorded protocol."""
        return self.latency.fps if self.latency else None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    def save(self, path: str | os.PathLike) -> Path:
        """Write the result as JSON (atomic: temp file + rename) and return the path."""
        text = json.dumps(self.to_dict(), indent=2, default=_json_default)
        return atomic_write(path, lambda fh: fh.write(text))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BenchResult":
        d = dict(d)
        d["input_shape"] = tuple(d["input_shape"])
        d["latency"] = LatencyStats(**d["latency"]) if d.get("latency") else None
        modes = {}
        for k, m in (d.get("modes") or {}).items():
            m = dict(m)
            m["latency"] = LatencyStats(**m["latency"]) if m.get("latency") else None
            modes[k] = ModeResult(**m)
        d["modes"] = modes
        return cls(**d)

    def row(self) -> dict[str, Any]:
        """A flat, paper-style table row (see ``profile_many``)."""
        lat = self.latency
        row: dict[str, Any] = {
            "model": self.model,
            "Params (M)": self.params_m,
            "GFLOPs": None if self.gflops is None else round(self.gflops, 2),
            "FPS": None if lat is None else round(lat.fps, 2),
            "latency median (ms)": None if lat is None else round(lat.median_ms, 2),
            "latency p90 (ms)": None if lat is None else round(lat.p90_ms, 2),
            "peak memory (MB)": self.memory.get("peak_mb"),
            "params total": self.params_total,
            "params trainable": self.params_trainable,
            "GMACs": None if self.gmacs is None else round(self.gmacs, 2),
        }
        for name, m in self.modes.items():
            if name == "eager":
                continue
            row[f"FPS ({name})"] = round(m.fps, 2) if m.available and m.fps is not None else None
        row.update(
            device=self.env.get("device_name", self.device),
            input="x".join(str(s) for s in self.input_shape),
            protocol=self.protocol.get("name"),
        )
        return row

    def summary(self) -> str:
        """A few human-readable lines (the reference's FPS line included)."""
        lines = [
            f"{self.model} @ {'x'.join(map(str, self.input_shape))} on {self.env.get('device_name', self.device)}",
            f"  params {self.params_m:.2f} M trainable ({self.params_trainable:,}; total {self.params_total:,})",
        ]
        if self.gflops is not None:
            lines.append(f"  {self.gflops:.3f} GFLOPs = 2 x {self.gmacs:.3f} GMACs")
        if self.latency is not None:
            lat = self.latency
            lines.append(
                f"  latency median {lat.median_ms:.2f} ms, p90 {lat.p90_ms:.2f} ms, mean {lat.mean_ms:.2f} ms "
                f"-> {lat.fps:.2f} FPS (protocol {self.protocol['name']}: 1/{lat.fps_statistic}, "
                f"{lat.warmup} warm-up, {lat.runs} runs, {self.protocol['timed']})"
            )
            if self.protocol["name"] == "reference":  # the reference script's own line
                t = lat.mean_ms / 1e3 / lat.batch_size
                lines.append(f"  {t} seconds, {1 / t}FPS, @batch_size {lat.batch_size}")
        for name, m in self.modes.items():
            if name == "eager":
                continue
            if m.available and m.latency is not None:
                diff = "" if m.max_abs_diff is None else f", max|diff| {m.max_abs_diff:.2e}"
                if m.argmax_agreement is not None:
                    diff += f", argmax agrees on {m.argmax_agreement * 100:.2f} % of pixels"
                if "precision" in m.extra:
                    p = m.extra["precision"]
                    diff += f"; {p['precision']}, channels_last {'on' if p['channels_last'] else 'off'}"
                lines.append(f"  mode {name}: {m.latency.fps:.2f} FPS (median {m.latency.median_ms:.2f} ms{diff})")
            else:
                lines.append(f"  mode {name}: unavailable ({m.reason})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def load_bench(path: str | os.PathLike) -> BenchResult:
    """Read a ``bench.json`` written by ``BenchResult.save``."""
    return BenchResult.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (torch.dtype, torch.device, Path)):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ----------------------------------------------------------------------------- helpers


def _resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} but CUDA is not available; use device='cpu' or 'auto'")
    return dev


def _check_shape(input_shape: Sequence[int]) -> tuple[int, int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"input_shape must be (B, C, H, W) with positive sizes; got {tuple(input_shape)}")
    return shape  # type: ignore[return-value]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def environment(device: str | torch.device = "cpu") -> dict[str, Any]:
    """Versions, device name, thread counts and backend flags that affect timings."""
    import segkit

    dev = _resolve_device(device)
    env: dict[str, Any] = {
        "device": str(dev),
        "device_name": _device_name(dev),
        "torch": torch.__version__,
        "segkit": segkit.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if dev.type == "cuda":
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
        env["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
        env["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
    return env


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts; shared parameters are counted once."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def count_flops(
    model: nn.Module,
    input_shape: Sequence[int] = (1, 3, 512, 512),
    device: str | torch.device = "auto",
) -> tuple[int, dict[str, int], str]:
    """FLOPs of one eval-mode forward pass (FLOPs = 2 x MACs), with a per-child breakdown.

    Args:
        model: the network; it is deep-copied, never modified.
        input_shape: (B, C, H, W) of the input.
        device: where to run the counting pass. ``"meta"`` runs on shape-only tensors,
            costing no compute (a model that cannot run on meta tensors falls back to the
            CPU); ``"auto"`` (default) uses meta above 256x256 pixels per batch and the CPU
            up to that, where real kernels are as fast as meta's shape functions.

    Returns:
        (total FLOPs, {top-level child name: FLOPs, "(other)": the rest, if any}, device used).
    """
    from torch.utils.flop_counter import FlopCounterMode

    shape = _check_shape(input_shape)

    def run(dev: torch.device) -> tuple[int, dict[str, int]]:
        m = copy.deepcopy(model).eval().to(dev)
        x = torch.rand(shape, device=dev) if dev.type != "meta" else torch.empty(shape, device=dev)
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            m(x)
        root = type(m).__name__
        by_child: dict[str, int] = {}
        for key, ops in counter.get_flop_counts().items():
            # keys are "Root.child.grandchild"; keep the direct children of the root
            parts = key.split(".")
            if len(parts) == 2 and parts[0] == root:
                by_child[parts[1]] = int(sum(ops.values()))
        total = int(counter.get_total_flops())
        rest = total - sum(by_child.values())
        if by_child and rest > 0:  # ops outside direct children (functional code, sliced Sequentials)
            by_child["(other)"] = rest
        return total, by_child

    if str(device) == "auto":
        device = "meta" if shape[0] * shape[2] * shape[3] > 256 * 256 else "cpu"
    dev = torch.device(device)
    if dev.type == "meta":
        try:
            total, by_child = run(dev)
            return total, by_child, "meta"
        except Exception:  # data-dependent code or tensors created on the CPU in forward
            dev = torch.device("cpu")
    total, by_child = run(dev)
    return total, by_child, str(dev)


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int, str]:
    """An eval-mode copy of `model` with every BatchNorm that follows a conv folded into it.

    Uses ``torch.fx`` (graph-based, safe for any topology) when the model can be traced;
    otherwise folds adjacent (Conv2d, BatchNorm2d) pairs inside ``nn.Sequential``
    containers, where the order is the data flow.

    Returns:
        (folded copy, number of BatchNorm layers folded, method: "torch.fx" or "sequential").
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()
    n_bn = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    try:
        from torch.fx.experimental.optimization import fuse

        fused = fuse(model)
        left = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fused.modules())
        return fused, n_bn - left, "torch.fx"
    except Exception:
        pass

    n = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        keys = list(seq._modules)
        for a, b in zip(keys[:-1], keys[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if (
                type(conv) is nn.Conv2d
                and type(bn) is nn.BatchNorm2d
                and bn.running_mean is not None
                and conv.out_channels == bn.num_features
            ):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
                n += 1
    return model, n, "sequential"


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def time_model(
    fn: Callable[[torch.Tensor], Any],
    x: torch.Tensor,
    *,
    warmup: int,
    runs: int,
    protocol: Literal["median", "reference"] = "median",
    postprocess: bool = True,
    after_each: Callable[[], None] | None = None,
) -> LatencyStats:
    """Time ``fn(x)`` (+ softmax + argmax when `postprocess`) under a protocol.

    ``fn`` returns logits (B, K, H, W) as a Tensor (or a list/dict holding them). Each
    timed pass ends with a device synchronisation, so CUDA kernels are included.
    ``after_each`` (e.g. a memory probe) runs after every pass, outside the timed region.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}; got {protocol!r}")
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0; got runs={runs}, warmup={warmup}")
    device = x.device

    def step() -> None:
        out = main_logits(fn(x))
        if postprocess:
            prob = F.softmax(out.float(), dim=1)
            if protocol == "reference":
                # the reference predict code: softmax on the device, argmax in NumPy on the CPU
                prob.permute(0, 2, 3, 1).cpu().numpy().argmax(axis=-1)
            else:
                prob.argmax(dim=1)
        _sync(device)

    with torch.no_grad():
        for _ in range(warmup):
            step()
        _sync(device)
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            step()
            samples.append(time.perf_counter() - t0)
            if after_each is not None:
                after_each()
    stat = "mean" if protocol == "reference" else "median"
    return LatencyStats.from_samples(samples, warmup, x.shape[0], stat)


# ----------------------------------------------------------------------------- modes


def _mode_callable(
    name: str, model: nn.Module, x: torch.Tensor, device: torch.device,
    precision: str = "auto", channels_last: str | bool = "auto",
) -> tuple[Callable[[torch.Tensor], Any], torch.Tensor, str, dict[str, Any]]:
    """(callable, input, how, extra) for one optimised mode; raises when unsupported."""
    if name == "auto":
        return _precision_callable(model, x, device, precision, channels_last)
    if name == "channels_last":
        m = copy.deepcopy(model).to(memory_format=torch.channels_last).eval()
        return m, x.contiguous(memory_format=torch.channels_last), "model and input in channels_last", {}
    if name == "bn_fold":
        m, n, method = fold_batchnorm(model)
        if n == 0:
            raise RuntimeError("no conv-BatchNorm pair found to fold")
        return m, x, f"{n} BatchNorm layers folded ({method})", {"folded": n, "method": method}
    if name in ("bf16", "fp16"):
        dtype = torch.bfloat16 if name == "bf16" else torch.float16
        if device.type == "cuda" and dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise RuntimeError("this GPU does not support bfloat16")

        def run(inp: torch.Tensor) -> torch.Tensor:
            with torch.autocast(device_type=device.type, dtype=dtype):
                return main_logits(model(inp)).float()

        return run, x, f"torch.autocast({device.type}, {dtype})", {}
    if name == "compile":
        m = torch.compile(copy.deepcopy(model).eval())
        t0 = time.perf_counter()
        with torch.no_grad():
            m(x)  # compilation happens here, outside the timed runs
        _sync(device)
        return m, x, "torch.compile (default mode)", {"compile_s": round(time.perf_counter() - t0, 2)}
    if name == "onnxruntime":
        return _onnx_callable(model, x, device)
    raise ValueError(f"unknown mode {name!r}; choose from {MODES}")


def _precision_callable(model: nn.Module, x: torch.Tensor, device: torch.device, precision: str,
                        channels_last: str | bool):
    """The model under the precision and memory format ``resolve_precision`` picks."""
    from segkit.engine.precision import resolve_precision

    prec = resolve_precision(precision, channels_last, device, model)
    m = copy.deepcopy(model).eval()
    if prec.channels_last:
        m = m.to(memory_format=torch.channels_last)

    def run(inp: torch.Tensor) -> torch.Tensor:
        with prec.autocast():
            out = main_logits(m(inp))
        return out.float()

    return run, prec.input(x), prec.describe(), {"precision": prec.to_dict()}


def _onnx_callable(model: nn.Module, x: torch.Tensor, device: torch.device):
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise RuntimeError("onnxruntime is not installed (pip install segkit[onnx])") from exc
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeError("device is CUDA but onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)")
        providers = ["CUDAExecutionProvider"]
    elif device.type != "cpu":
        raise RuntimeError(f"ONNX Runtime timing supports cpu and cuda devices, not {device.type}")
    m = copy.deepcopy(model).eval().cpu()
    xin = x.detach().cpu()
    tmp = tempfile.mkdtemp(prefix="segkit-onnx-")
    path = os.path.join(tmp, "model.onnx")
    exporter = "dynamo"
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(m, (xin,), path, input_names=["input"], output_names=["logits"], dynamo=True)
            except Exception:  # onnxscript missing or an unsupported op: the TorchScript exporter
                exporter = "torchscript"
                torch.onnx.export(m, (xin,), path, input_names=["input"], output_names=["logits"],
                                  opset_version=17, dynamo=False)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    try:
        sess = ort.InferenceSession(path, opts, providers=providers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the session holds the model in memory
    in_name = sess.get_inputs()[0].name

    def run(inp: torch.Tensor) -> torch.Tensor:
        out = sess.run(None, {in_name: inp.detach().cpu().numpy()})[0]
        return torch.from_numpy(out).to(device)

    return run, x, f"ONNX Runtime {ort.__version__} ({providers[0]}, {exporter} exporter)", {"exporter": exporter}


# ----------------------------------------------------------------------------- profile


def _rss_bytes() -> int | None:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except Exception:
        return None


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

    The model is moved to `device` and put in eval mode for the measurement; its
    training flag is restored afterwards. Optimised modes run on copies.

    Args:
        model: a segmentation network returning logits (B, K, H, W).
        input_shape: (B, C, H, W) of the random input in [0, 1]; batch 1 by default.
        device: "cpu", "cuda", "cuda:N", "mps" or "auto".
        runs: timed passes; None gives the protocol default (median 30, reference 100).
        warmup: untimed passes; None gives the protocol default (median 5, reference 1).
        protocol: "median" (FPS = batch / median latency) or "reference" (training.md §10:
            1 warm-up, 100 runs, argmax in NumPy, FPS = 1 / mean latency).
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
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}; got {protocol!r}")
    modes = list(dict.fromkeys(["eager", *modes]))
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown mode(s) {bad}.{did_you_mean(bad[0], MODES)} Choose from {MODES}")
    shape = _check_shape(input_shape)
    dev = _resolve_device(device)
    d_warmup, d_runs = _PROTOCOL_DEFAULTS[protocol]
    warmup = d_warmup if warmup is None else int(warmup)
    runs = d_runs if runs is None else int(runs)
    notes: list[str] = []
    if not timing and len(modes) > 1:
        notes.append(f"timing=False: modes {modes[1:]} were not timed")
    if protocol == "reference" and (warmup, runs) != (1, 100):
        notes.append(f"reference protocol run with warmup={warmup}, runs={runs} instead of 1 and 100")

    total, trainable = count_params(model)
    n_flops, by_child, flops_dev = (None, {}, None)
    if flops:
        n_flops, by_child, flops_dev = count_flops(model, shape)
    param = next(model.parameters(), None)
    env = environment(dev)
    env.update(dtype=str(param.dtype) if param is not None else "float32", channels_last=False, flops_device=flops_dev)

    latency = None
    memory: dict[str, Any] = {}
    mode_results: dict[str, ModeResult] = {}
    with _eval_mode(model):
        if timing:
            model.to(dev)
            gen = torch.Generator().manual_seed(seed)
            x = torch.rand(shape, generator=gen).to(dev)
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
                memory = {
                    "kind": "cuda_max_allocated",
                    "peak_mb": round(peak / 2**20, 1),
                    "activations_mb": round((peak - base) / 2**20, 1),
                }
            else:
                # the largest process RSS seen after a timed pass, minus the RSS before warm-up
                memory = {
                    "kind": "cpu_rss_delta",
                    "peak_mb": None if rss0 is None else round(max(rss_peak[0] - rss0, 0) / 2**20, 1),
                    "rss_mb": None if rss0 is None else round(rss_peak[0] / 2**20, 1),
                }
            mode_results["eager"] = ModeResult("eager", True, "eager PyTorch, float32, contiguous", latency, 0.0)
            if len(modes) > 1:
                with torch.no_grad():
                    ref = main_logits(model(x)).float()
            for mode in modes[1:]:
                try:
                    fn, xm, how, extra = _mode_callable(mode, model, x, dev, precision, channels_last)
                    with torch.no_grad():
                        out = main_logits(fn(xm)).float()
                    diff = float((out - ref).abs().max())
                    agree = float((out.argmax(1) == ref.argmax(1)).float().mean())
                    lat = time_model(fn, xm, warmup=warmup, runs=runs, protocol=protocol, postprocess=postprocess)
                    mode_results[mode] = ModeResult(mode, True, how, lat, diff, extra, agree)
                except Exception as exc:  # a mode a model does not support is a result, not a crash
                    msg = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
                    mode_results[mode] = ModeResult(mode, False, msg)

    return BenchResult(
        model=name or type(model).__name__,
        input_shape=shape,
        device=str(dev),
        protocol={
            "name": protocol,
            "statistic": "mean" if protocol == "reference" else "median",
            "fps": "FPS = 1 / mean latency" if protocol == "reference" else "FPS = batch / median latency",
            "warmup": warmup,
            "runs": runs,
            "batch_size": shape[0],
            "timed": "forward + softmax + argmax" if postprocess else "forward",
            "argmax_on": "cpu (numpy)" if protocol == "reference" else "device",
            "mode": "eval, torch.no_grad",
        },
        params_total=total,
        params_trainable=trainable,
        params_m=round(trainable / 1e6, 2),
        params_total_m=round(total / 1e6, 2),
        flops=n_flops,
        gflops=None if n_flops is None else n_flops / 1e9,
        macs=None if n_flops is None else n_flops // 2,
        gmacs=None if n_flops is None else n_flops / 2e9,
        flops_convention=FLOPS_CONVENTION,
        flops_by_module=by_child,
        latency=latency,
        memory=memory,
        env=env,
        modes=mode_results,
        notes=notes,
    )


def profile_interleaved(
    models: Mapping[str, nn.Module],
    input_shape: Sequence[int] = (1, 3, 512, 512),
    device: str | torch.device = "cpu",
    *,
    runs: int = 30,
    warmup: int = 5,
    rounds: int = 5,
    **profile_kwargs: Any,
) -> dict[str, BenchResult]:
    """``profile`` several models with their timed passes interleaved, for a fair comparison.

    Round 1 profiles every model in turn (params, FLOPs, memory, ``runs // rounds`` timed
    passes after `warmup`); each later round times every model again for its share of the
    passes. A slow-down of the machine (another job, a clock change) then hits every model
    alike instead of whichever happened to be timed during it, so FPS ratios within one call
    are robust. The eager latency of each result holds all ``runs`` samples; its protocol
    records ``interleaved``.

    Args:
        models: {name: model}.
        input_shape, device: as in ``profile``.
        runs: timed passes per model in total (at least ``rounds``).
        warmup: untimed passes per model before round 1.
        rounds: how many times the models take turns.
        **profile_kwargs: other ``profile`` arguments (``protocol``, ``postprocess``, ``flops``);
            optimised ``modes`` are not interleaved and are rejected.
    """
    if rounds < 1 or runs < rounds:
        raise ValueError(f"need rounds >= 1 and runs >= rounds; got runs={runs}, rounds={rounds}")
    if set(profile_kwargs.get("modes", ("eager",))) - {"eager"}:
        raise ValueError("profile_interleaved times the eager model only; use profile(modes=...) for the others")
    protocol = profile_kwargs.get("protocol", "median")
    postprocess = profile_kwargs.get("postprocess", True)
    share = [runs // rounds + (1 if r < runs % rounds else 0) for r in range(rounds)]
    results = {name: profile(m, input_shape, device, runs=share[0], warmup=warmup, name=name, **profile_kwargs)
               for name, m in models.items()}
    dev = _resolve_device(device)
    x = torch.rand(_check_shape(input_shape), generator=torch.Generator().manual_seed(profile_kwargs.get("seed", 0)))
    x = x.to(dev)
    samples = {name: list(r.latency.samples_ms) for name, r in results.items()}
    for n_runs in share[1:]:
        for name, m in models.items():
            with _eval_mode(m):
                lat = time_model(m.to(dev), x, warmup=1, runs=n_runs, protocol=protocol, postprocess=postprocess)
            samples[name] += lat.samples_ms
    stat = "mean" if protocol == "reference" else "median"
    for name, r in results.items():
        r.latency = LatencyStats.from_samples([v / 1e3 for v in samples[name]], warmup, r.input_shape[0], stat)
        r.modes["eager"].latency = r.latency
        r.protocol.update(runs=runs, interleaved=f"{rounds} round(s), taking turns with {len(models) - 1} other model(s)")
    return results


def profile_many(
    models: Mapping[str, nn.Module | str] | Iterable[str],
    input_shape: Sequence[int] = (1, 3, 512, 512),
    device: str | torch.device = "cpu",
    *,
    num_classes: int | None = 3,
    errors: Literal["raise", "record"] = "raise",
    progress: bool = False,
    **profile_kwargs: Any,
) -> "pd.DataFrame":
    """Profile several models into one paper-style DataFrame.

    Args:
        models: {table name: model or registered model name}, or a list of registered names.
        input_shape, device: as in ``profile``.
        num_classes: passed to ``build_model`` for names (None: the factory default).
        errors: "raise" stops at the first failing model; "record" puts the error in an
            ``error`` column and goes on.
        progress: show a tqdm bar.
        **profile_kwargs: passed to ``profile`` (runs, warmup, protocol, modes, ...).

    Returns:
        A DataFrame, one row per model: model, Params (M), GFLOPs, FPS, latency median/p90
        (ms), peak memory, exact counts, one ``FPS (<mode>)`` column per optimised mode,
        device, input, protocol. ``df.attrs["results"]`` holds every ``BenchResult.to_dict()``.
    """
    import pandas as pd

    if errors not in ("raise", "record"):
        raise ValueError(f"errors must be 'raise' or 'record'; got {errors!r}")
    if not isinstance(models, Mapping):
        models = {str(n): str(n) for n in models}
    items = list(models.items())
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="profile")
    rows, results = [], []
    for label, m in items:
        try:
            if isinstance(m, str):
                from segkit.models import build_model

                m = build_model(m, num_classes=num_classes)
            r = profile(m, input_shape, device, name=label, **profile_kwargs)
        except Exception as exc:
            if errors == "raise":
                raise
            rows.append({"model": label, "error": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        rows.append(r.row())
        results.append(r.to_dict())
    df = pd.DataFrame(rows)
    df.attrs["results"] = results
    return df


def write_run_bench(
    run_dir: str | os.PathLike,
    model: nn.Module,
    input_shape: Sequence[int] = (1, 3, 512, 512),
    device: str | torch.device = "cpu",
    **profile_kwargs: Any,
) -> Path:
    """Profile `model` and write the run directory's ``bench.json`` (see ``segkit.rundir``)."""
    from segkit.rundir import RunDir

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run_dir {str(run_dir)!r} is not a directory; create the run first")
    profile_kwargs.setdefault("name", run_dir.name)
    return profile(model, input_shape, device, **profile_kwargs).save(RunDir(run_dir).bench_path)
