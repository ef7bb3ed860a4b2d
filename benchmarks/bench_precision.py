"""Precision and memory format: segkit fp32 vs segkit ``auto``, beside smp, in one run.

Four configurations, timed interleaved (every round times each of them in turn, so a
slow-down of a shared machine hits all alike; medians over all rounds):

* ``segkit fp32``: ``deeplabv3plus-mobilenetv2``, NCHW, no autocast (the eager baseline);
* ``segkit auto``: the same model under what ``resolve_precision("auto", "auto")`` picks
  on this machine (bf16 autocast + channels_last on CPUs with native bf16, else fp32);
* ``smp fp32``: ``segmentation_models_pytorch.DeepLabV3Plus(encoder_name="mobilenet_v2",
  encoder_weights=None)``, NCHW, no autocast;
* ``smp auto``: smp under the same autocast and memory format as ``segkit auto``.

Three workloads: inference 1x3x512x512 (eval, ``no_grad``, forward + softmax + argmax, as
``segkit.bench.time_model``), a training step (forward, fp32 cross-entropy, backward,
Adam step) at batch 2 @ 512x512, and one at batch 8 @ 128x128 (the quick profile's size).

``--data-wait`` instead measures the share of a training step spent waiting for the
DataLoader (the trainer's loader settings, the reference augmentation on the synthetic
wire ropes) at 128 (quick: batch 8, 2 workers) and 512 (paper: batch 2, 4 workers).

Usage::

    .venv/bin/python benchmarks/bench_precision.py [--rounds 3] [--reps 2] [--threads 2] [--only "@ 128"]
    .venv/bin/python benchmarks/bench_precision.py --data-wait [--steps 12]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit import bench
from segkit.runtime.precision import Precision, resolve_precision
from segkit.models import build_model

FP32 = Precision(None, False, False, "cpu", ("fp32", False), "baseline")


def train_step_timer(model: nn.Module, prec: Precision, batch: int, size: int):
    """A callable timing one training step of `model` (a private copy) under `prec`."""
    net = copy.deepcopy(model).train()
    if prec.channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), 1e-4)
    g = torch.Generator().manual_seed(0)
    x = prec.input(torch.rand(batch, 3, size, size, generator=g))
    y = torch.randint(0, 3, (batch, size, size), generator=g)

    def step() -> float:
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with prec.autocast():
            out = net(x)
        loss = F.cross_entropy(out.float(), y)  # the loss in fp32, as the trainer
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    return step


def infer_timer(model: nn.Module, prec: Precision, size: int):
    """A callable timing one inference pass (forward + softmax + argmax) under `prec`."""
    net = copy.deepcopy(model).eval()
    if prec.channels_last:
        net = net.to(memory_format=torch.channels_last)
    x = prec.input(torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)))

    def fn(inp: torch.Tensor) -> torch.Tensor:
        with prec.autocast():
            return net(inp).float()

    def step() -> float:
        return bench.time_model(fn, x, warmup=0, runs=1).samples_ms[0] / 1e3

    return step


def interleaved(timers: dict[str, callable], rounds: int, reps: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds per configuration, the configurations taking turns `rounds` times."""
    for fn in timers.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in timers}
    for _ in range(rounds):
        for name, fn in timers.items():
            samples[name] += [fn() for _ in range(reps)]
    return {k: statistics.median(v) for k, v in samples.items()}


def speed(args: argparse.Namespace) -> None:
    import segmentation_models_pytorch as smp

    torch.manual_seed(0)
    ours = build_model("deeplabv3plus-mobilenetv2", num_classes=3)
    peer = smp.DeepLabV3Plus(encoder_name="mobilenet_v2", encoder_weights=None, classes=3)
    auto = resolve_precision("auto", "auto", "cpu", ours)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {bench.environment('cpu')['device_name']}")
    print(f"auto -> {auto.describe()}")
    configs = {"segkit fp32": (ours, FP32), "segkit auto": (ours, auto), "smp fp32": (peer, FP32),
               "smp auto": (peer, auto)}
    workloads = {
        "inference 1x3x512x512": lambda m, p: infer_timer(m, p, 512),
        "train step, batch 2 @ 512": lambda m, p: train_step_timer(m, p, 2, 512),
        "train step, batch 8 @ 128": lambda m, p: train_step_timer(m, p, 8, 128),
    }
    for title, make in workloads.items():
        if args.only and args.only not in title:
            continue
        timers = {name: make(m, p) for name, (m, p) in configs.items()}
        med = interleaved(timers, args.rounds, args.reps)
        print(f"\n{title} (median of {args.rounds} rounds x {args.reps})")
        for name, s in med.items():
            print(f"  {name:12s} {s * 1e3:9.1f} ms")
        print(f"  segkit fp32 / segkit auto = {med['segkit fp32'] / med['segkit auto']:.2f}x, "
              f"smp fp32 / segkit fp32 = {med['smp fp32'] / med['segkit fp32']:.2f}x, "
              f"smp auto / segkit auto = {med['smp auto'] / med['segkit auto']:.2f}x")


def data_wait(args: argparse.Namespace) -> None:
    """Share of each training step spent in ``next(loader)``, with the trainer's loader settings."""
    from torch.utils.data import DataLoader

    from segkit.data import VOCSegmentation, make_synthetic_wirerope

    torch.manual_seed(0)
    model = build_model("deeplabv3plus-mobilenetv2", num_classes=3)
    with tempfile.TemporaryDirectory() as tmp:
        for size, batch, workers in ((128, 8, 2), (512, 2, 4)):
            root = Path(tmp) / f"w{size}"
            make_synthetic_wirerope(root, n_images=max(4 * batch * args.steps // 3, 24), size=size, seed=0)
            ds = VOCSegmentation(root, "train", input_shape=(size, size), augment=True, seed=0)
            prec = resolve_precision("auto", "auto", "cpu", model)
            net = copy.deepcopy(model).train()
            if prec.channels_last:
                net = net.to(memory_format=torch.channels_last)
            opt = torch.optim.Adam(net.parameters(), 1e-4)
            loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                                persistent_workers=False, generator=torch.Generator().manual_seed(0))
            it = iter(loader)
            waits, totals = [], []
            for i in range(args.steps):
                t0 = time.perf_counter()
                try:
                    x, y = next(it)
                except StopIteration:
                    it = iter(loader)
                    x, y = next(it)
                t1 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                with prec.autocast():
                    out = net(prec.input(x))
                F.cross_entropy(out.float(), y, ignore_index=255).backward()
                opt.step()
                t2 = time.perf_counter()
                if i >= 2:  # the first steps include worker start-up
                    waits.append(t1 - t0)
                    totals.append(t2 - t0)
            share = sum(waits) / sum(totals)
            print(f"{size}x{size}, batch {batch}, {workers} workers, {prec.name}: step {statistics.median(totals):.3f} s "
                  f"(median), waiting for data {share * 100:.1f} % of the step time over {len(totals)} steps")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=2, help="timed passes per configuration per round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", help="run the workloads whose title contains this, e.g. '@ 128'")
    ap.add_argument("--data-wait", action="store_true", help="measure the data-loading wait share instead")
    ap.add_argument("--steps", type=int, default=12, help="training steps for --data-wait")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data_wait(args) if args.data_wait else speed(args)


if __name__ == "__main__":
    main()
