"""segkit.bench and segkit.cam against peers measured in the same run.

Three comparisons, each printing medians and a ratio:

1. FLOP counting: ``segkit.bench.count_flops`` on meta tensors (no compute) vs the same
   ``FlopCounterMode`` pass on real CPU tensors; the counts must agree exactly.
2. Execution modes: eager FPS vs channels_last, BN folding and ONNX Runtime (``profile``
   with ``modes=``), FPS ratio mode / eager, plus the max |logit difference|.
3. Grad-CAM: ``segkit.cam.gradcam`` (probe forward + in-place guard + per-class loop) vs a
   bare ``pytorch_grad_cam.GradCAM`` call with the same target, per class; the maps must
   agree.

Usage::

    .venv/bin/python benchmarks/bench_bench.py [--size 256] [--runs 10] [--threads 1]
        [--models deeplabv3plus-mobilenetv2,improved-mobilenetv2,sff-wadeeplab]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from segkit import bench, cam
from segkit.models import build_model


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="deeplabv3plus-mobilenetv2,improved-mobilenetv2,sff-wadeeplab")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shape = (1, 3, args.size, args.size)
    names = args.models.split(",")
    print(f"torch {torch.__version__}, {args.threads} thread(s), input {shape}, CPU")

    print("\n1. FLOP counting: meta tensors vs real CPU tensors (median of 3)")
    for name in names:
        model = build_model(name, num_classes=3).eval()
        f_meta = bench.count_flops(model, shape, device="meta")
        f_cpu = bench.count_flops(model, shape, device="cpu")
        assert f_meta[0] == f_cpu[0], (name, f_meta[0], f_cpu[0])
        t_meta = _median_time(lambda: bench.count_flops(model, shape, device="meta"), 3)
        t_cpu = _median_time(lambda: bench.count_flops(model, shape, device="cpu"), 3)
        print(f"  {name:32s} {f_meta[0] / 1e9:7.2f} GFLOPs  meta {t_meta * 1e3:7.0f} ms  cpu {t_cpu * 1e3:7.0f} ms  "
              f"cpu/meta {t_cpu / t_meta:5.2f}x")

    print(f"\n2. Execution modes (median protocol, {args.runs} runs, 2 warm-up), FPS and ratio to eager")
    for name in names:
        model = build_model(name, num_classes=3)
        r = bench.profile(model, shape, "cpu", runs=args.runs, warmup=2,
                          modes=("channels_last", "bn_fold", "onnxruntime"), name=name)
        parts = [f"eager {r.fps:6.2f}"]
        for mode in ("channels_last", "bn_fold", "onnxruntime"):
            m = r.modes[mode]
            if m.available:
                parts.append(f"{mode} {m.fps:6.2f} ({m.fps / r.fps:4.2f}x, diff {m.max_abs_diff:.1e})")
            else:
                parts.append(f"{mode} unavailable: {m.reason[:60]}")
        print(f"  {name:32s} " + "  ".join(parts))

    print("\n3. Grad-CAM per class: segkit.cam.gradcam vs bare pytorch_grad_cam.GradCAM (median of 3)")
    from pytorch_grad_cam import GradCAM

    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g)
    mask = np.zeros(shape[-2:], bool)
    mask[shape[2] // 4: shape[2] // 2, shape[3] // 4: shape[3] // 2] = True
    for name in names:
        model = build_model(name, num_classes=3).eval()
        layer = model.get_submodule(model.cam_layers["decoder"])

        def bare():
            c = GradCAM(model=cam.SegmentationOutput(model), target_layers=[layer])
            out = c(input_tensor=x, targets=[cam.SegmentationTarget(1, mask)])
            c.activations_and_grads.release()
            return out[0]

        def ours():
            return cam.gradcam(model, x, 1, mask=mask).heatmaps[0]

        diff = float(np.abs(bare() - ours()).max())
        t_bare, t_ours = _median_time(bare, 3), _median_time(ours, 3)
        print(f"  {name:32s} bare {t_bare * 1e3:7.0f} ms  segkit {t_ours * 1e3:7.0f} ms  "
              f"segkit/bare {t_ours / t_bare:5.2f}x  max|map diff| {diff:.1e}")


if __name__ == "__main__":
    main()
