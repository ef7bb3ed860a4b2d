"""What boundary IoU and the object metrics add to an evaluation (``docs/metrics.md``).

Evaluates a model on N synthetic wire-rope images at SIZE x SIZE (default 100 at 512x512)
in fp32 the way ``segkit.inference.evaluate`` does, with and without the extra metrics,
alternating the two; prints the median wall time of each over ``--repeats``, the added
share, and the share of the evaluations with them spent inside the extra metrics (measured
within the same runs, so a machine busy with other work moves it least). Then times the
metrics alone on the same label maps: the confusion-matrix update, boundary IoU and the
object metrics, in ms per image.

    .venv/bin/python benchmarks/bench_extra_metrics.py                          # 100 x 512x512
    .venv/bin/python benchmarks/bench_extra_metrics.py --images 20 --repeats 2  # a quick look

The budget (issue #30): the extra metrics may add at most 20 % to such an evaluation.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def cpu_flags() -> str:
    """The CPU's name and whether it has AVX2 / AVX512-BF16 (they decide the model's speed)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    name = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Model name")), "?")
    flags = sorted(f for f in ("avx2", "avx512_bf16") if f in text.split())
    return f"{name}; flags: {', '.join(flags) or 'neither avx2 nor avx512_bf16'}"


def per_image_ms(fn, pairs, repeats: int) -> float:
    """Median over `repeats` of the time per image of `fn(pred, target)` over all pairs."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for p, t in pairs:
            fn(p, t)
        times.append((time.perf_counter() - t0) / len(pairs))
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="improved-mobilenetv2", help="registered model (segkit models)")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3, help="evaluations of each kind (median)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = leave torch's default)")
    ap.add_argument("--data", help="a folder for the synthetic images (default: a temporary one)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from segkit.data import VOCSegmentation, make_synthetic_wirerope
    from segkit.inference.evaluate import evaluate_confusion, letterbox_predict
    from segkit.metrics import BoundaryIoU, ConfusionMatrix, ExtraMetrics, ObjectStats

    class TimedExtra(ExtraMetrics):
        """ExtraMetrics that adds up the time its updates take."""

        seconds = 0.0

        def update(self, pred, target) -> None:
            t0 = time.perf_counter()
            super().update(pred, target)
            self.seconds += time.perf_counter() - t0
    from segkit.models import build_model

    tmp = tempfile.TemporaryDirectory() if args.data is None else None
    root = Path(args.data or tmp.name) / f"wirerope{args.size}"
    if not (root / "ImageSets").is_dir():
        make_synthetic_wirerope(root, n_images=args.images, size=args.size, seed=0, val_fraction=0.0)
    ds = VOCSegmentation(root, split="train", input_shape=(args.size, args.size))
    n = min(len(ds), args.images)
    torch.manual_seed(0)
    model = build_model(args.model, num_classes=ds.num_classes).eval()
    kw = dict(device="cpu", batch_size=4, max_images=n, progress=False, precision="fp32", channels_last=False)
    print(f"{args.model}, {n} images of {args.size}x{args.size}, fp32, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {cpu_flags()}")

    evaluate_confusion(model, ds, **{**kw, "max_images": min(n, 4)})  # warm-up
    times: dict[bool, list[float]] = {False: [], True: []}
    inside: list[float] = []  # share of each evaluation with them spent in ExtraMetrics.update
    for r in range(args.repeats):
        for extra in ((False, True) if r % 2 == 0 else (True, False)):
            timed = TimedExtra(ds.num_classes, ds.class_names, strict=False) if extra else None
            t0 = time.perf_counter()
            evaluate_confusion(model, ds, extra=timed, **kw).compute()  # what evaluate() runs
            times[extra].append(time.perf_counter() - t0)
            if timed is not None:
                inside.append(timed.seconds / times[extra][-1])
    without, with_ = statistics.median(times[False]), statistics.median(times[True])
    paired = statistics.median(100 * (w / wo - 1) for w, wo in zip(times[True], times[False]))
    runs = {k: ", ".join(f"{t:.2f}" for t in v) for k, v in times.items()}
    print(f"evaluation without the extra metrics: {without:7.2f} s  (runs: {runs[False]})")
    print(f"evaluation with them:                 {with_:7.2f} s  (runs: {runs[True]})")
    fastest = 100 * (min(times[True]) / min(times[False]) - 1)  # the least disturbed run of each
    print(f"added: {100 * (with_ - without) / without:+.1f} % of the medians, {paired:+.1f} % median of the paired "
          f"runs, {fastest:+.1f} % of the fastest runs (budget: +20 %)")
    share = statistics.median(inside)
    print(f"time inside the extra metrics during the evaluations with them: {100 * share:.1f} % (median), that is "
          f"{100 * share / (1 - share):+.1f} % on top of the rest (budget: +20 %)")

    # the metrics alone, on the model's label maps
    pairs = []
    for i in range(min(n, 20)):
        rgb, mask = ds.load_original(i)
        pairs.append((letterbox_predict(model, rgb, (args.size, args.size), "cpu", precision="fp32")[0],
                      np.asarray(mask)))
    k, names = ds.num_classes, ds.class_names
    cm = ConfusionMatrix(k, strict=False)
    alone = {
        "confusion matrix": lambda p, t: cm.update(torch.from_numpy(p)[None], torch.from_numpy(t)[None]),
        "boundary IoU": BoundaryIoU(k, class_names=names, strict=False).update,
        "object metrics": ObjectStats(k, class_names=names, strict=False).update,
    }
    ms = {name: per_image_ms(fn, pairs, 5) for name, fn in alone.items()}
    for name, v in ms.items():
        print(f"{name:17s} {v:7.2f} ms/image")
    per_image = 1e3 * without / n
    extra_ms = ms["boundary IoU"] + ms["object metrics"]
    print(f"evaluation:       {per_image:7.2f} ms/image (without the extra metrics); the extra metrics alone "
          f"are {100 * extra_ms / per_image:.1f} % of it (a busy machine moves the whole-evaluation figures more)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
