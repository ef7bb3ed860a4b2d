"""What ``profile`` measured: latency statistics, optimised-mode results and the JSON-saveable ``BenchResult``."""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from segkit._utils import atomic_write

__all__ = ["LatencyStats", "ModeResult", "BenchResult", "load_bench"]


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
