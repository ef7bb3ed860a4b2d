"""Confusion-matrix update throughput: segkit vs torchmetrics vs a numpy bincount.

Each implementation receives the same (B, H, W) int64 label maps (about 10% of the
target pixels set to the ignore value 255) and accumulates a K x K matrix; all results
are checked against each other before timing. Prints the median time per update over
``--repeats`` runs, the throughput in megapixels/s and the ratio to segkit.

    .venv/bin/python benchmarks/bench_metrics.py                  # 8x512x512, K = 3 and 21
    .venv/bin/python benchmarks/bench_metrics.py --logits         # also (B, K, H, W) float logits
    .venv/bin/python benchmarks/bench_metrics.py --device cuda --threads 0
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np
import torch

from segkit.metrics import ConfusionMatrix

IGNORE = 255


def numpy_update(k: int) -> tuple[Callable, Callable]:
    """The reference evaluator's fast_hist: keep 0 <= g < k, bincount(k*g + p)."""
    state = {"hist": np.zeros((k, k), dtype=np.int64)}

    def update(pred: torch.Tensor, target: torch.Tensor) -> None:
        p, g = pred.cpu().numpy().ravel(), target.cpu().numpy().ravel()
        keep = (g >= 0) & (g < k)
        state["hist"] += np.bincount(k * g[keep] + p[keep], minlength=k * k).reshape(k, k)

    return update, lambda: state["hist"]


def torchmetrics_update(k: int, device: str, validate: bool) -> tuple[Callable, Callable]:
    from torchmetrics.classification import MulticlassConfusionMatrix

    metric = MulticlassConfusionMatrix(k, ignore_index=IGNORE, validate_args=validate).to(device)
    return metric.update, lambda: metric.compute().cpu().numpy()


def segkit_update(k: int, device: str) -> tuple[Callable, Callable]:
    cm = ConfusionMatrix(k, ignore_index=IGNORE, device=device)
    return cm.update, lambda: cm.hist.cpu().numpy()


def time_it(fn: Callable, pred, target, repeats: int, device: str) -> float:
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    fn(pred, target)  # warm-up
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(pred, target)
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_inputs(k: int, shape: tuple[int, int, int], device: str, logits: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, k, shape, generator=g)
    target[torch.rand(shape, generator=g) < 0.1] = IGNORE
    if logits:
        pred = torch.randn(shape[0], k, *shape[1:], generator=g)
    else:
        noise = torch.randint(0, k, shape, generator=g)
        pred = torch.where(torch.rand(shape, generator=g) < 0.7, target.clamp(max=k - 1), noise)
    return pred.to(device), target.to(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--classes", type=int, nargs="+", default=[3, 21])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0 = leave torch's default)")
    ap.add_argument("--logits", action="store_true", help="also time (B, K, H, W) float logits input")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = (args.batch, args.size, args.size)
    mpix = args.batch * args.size * args.size / 1e6
    print(
        f"confusion-matrix update, batch {shape}, {mpix:.2f} MP per update, device={args.device}, "
        f"torch threads={torch.get_num_threads()}, median of {args.repeats}"
    )
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    header = f"{'input':7s} {'K':>3s}  {'implementation':34s} {'ms/update':>10s} {'MP/s':>9s} {'vs segkit':>10s}"
    print(header)
    print("-" * len(header))
    for inputs in ["labels"] + (["logits"] if args.logits else []):
        for k in args.classes:
            pred, target = make_inputs(k, shape, args.device, logits=inputs == "logits")
            impls = {
                "segkit ConfusionMatrix": segkit_update(k, args.device),
                "torchmetrics (validate_args=True)": torchmetrics_update(k, args.device, True),
                "torchmetrics (validate_args=False)": torchmetrics_update(k, args.device, False),
            }
            if inputs == "labels":
                impls["numpy bincount (reference)"] = numpy_update(k)
            # correctness first: every implementation gives the same matrix for one update
            results = {}
            for name, (upd, get) in impls.items():
                upd(pred, target)
                results[name] = np.asarray(get()).copy()
            first = results["segkit ConfusionMatrix"]
            for name, h in results.items():
                if not np.array_equal(h, first):
                    raise SystemExit(f"{name} disagrees with segkit for K={k} ({inputs})")
            medians = {n: time_it(upd, pred, target, args.repeats, args.device) for n, (upd, _) in impls.items()}
            base = medians["segkit ConfusionMatrix"]
            for name, t in medians.items():
                print(f"{inputs:7s} {k:3d}  {name:34s} {t * 1e3:10.2f} {mpix / t:9.1f} {t / base:9.2f}x")
    print("'vs segkit' = time / segkit time (> 1: slower than segkit)")


if __name__ == "__main__":
    main()
