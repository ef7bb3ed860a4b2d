"""Params, FLOPs and CPU latency of the paper's DeepLab presets, next to smp's DeepLabV3Plus,
plus the GGCA placement ablation (latency ratios to the plain MobileNetV2 backbone).

Run by hand:  .venv/bin/python benchmarks/bench_models.py [--size 512] [--repeats 5] [--threads N]

FLOPs come from torch.utils.flop_counter.FlopCounterMode (2 FLOPs per MAC, eval mode) and are
compared with the GFLOPs column of docs/models.md. Latency = median of `repeats`
forwards after one warm-up, batch 1, eval mode, no grad; rounds interleave the models.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from segkit._utils import count_params
from segkit.models import build_model
from segkit.models.backbones import AttnPolicy, MobileNetV2
from segkit.modules.ggca import GGCAFused, GGCASafe

# preset -> GFLOPs at 1x3x512x512 from the paper (docs/models.md) (None: not in the table)
PRESETS = {
    "deeplabv3plus-mobilenetv2": 52.47,
    "improved-mobilenetv2": 52.50,
    "deeplabv3plus-mobilenetv2-ggca-all": 52.51,
    "deeplabv3plus-mobilenetv2-sff2": 52.68,
    "improved-mobilenetv2-sff2": 52.71,
    "deeplabv3plus-mobilenetv2-wa-aspp": 56.43,
    "deeplabv3plus-mobilenetv2-wafa": 56.44,
    "deeplabv3plus-mobilenetv2-wa-aspp-mvit": 33.69,
    "deeplabv3plus-mobilenetv2-msa-aspp": 66.27,
    "sff-wadeeplab": 66.51,
    "deeplabv3plus-xception": None,
}


def gflops(model: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops() / 1e9


def latencies_ms(models: dict[str, nn.Module], x: torch.Tensor, repeats: int) -> dict[str, tuple[float, float]]:
    """(median, min) ms per model. Rounds are interleaved (each round runs every model once), so
    load from other processes on a shared machine spreads over all models instead of hitting one."""
    times: dict[str, list[float]] = {k: [] for k in models}
    with torch.no_grad():
        for m in models.values():
            m(x)  # warm-up
        for _ in range(repeats):
            for k, m in models.items():
                t = time.perf_counter()
                m(x)
                times[k].append((time.perf_counter() - t) * 1e3)
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--models", nargs="*", default=list(PRESETS))
    ap.add_argument("--skip-ablation", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(1, 3, args.size, args.size)
    scale = (args.size / 512) ** 2
    print(f"torch {torch.__version__}, CPU threads {args.threads}, input 1x3x{args.size}x{args.size}, "
          f"median of {args.repeats} interleaved rounds after 1 warm-up\n")

    import segmentation_models_pytorch as smp

    models: dict[str, tuple[nn.Module, float | None]] = {
        "smp DeepLabV3Plus(mobilenet_v2) [peer]": (
            smp.DeepLabV3Plus("mobilenet_v2", encoder_weights=None, classes=3), None),
    }
    for name in args.models:
        models[name] = (build_model(name, num_classes=3), PRESETS.get(name))
    for m, _ in models.values():
        m.eval()
    lats = latencies_ms({k: m for k, (m, _) in models.items()}, x, args.repeats)
    peer = next(iter(lats.values()))[0]
    print(f"{'model':42s} {'params':>11s} {'GFLOPs':>7s} {'spec':>7s} {'med ms':>8s} {'min ms':>8s} {'x smp':>6s}")
    for name, (m, spec) in models.items():
        spec_s = f"{spec * scale:7.2f}" if spec else "      -"
        med, mn = lats[name]
        print(f"{name:42s} {count_params(m):11,d} {gflops(m, x):7.2f} {spec_s} {med:8.1f} {mn:8.1f} {med / peer:6.2f}",
              flush=True)

    if args.skip_ablation:
        return
    print("\nGGCA placement ablation (MobileNetV2 backbone only, OS16):")
    variants = {
        "none (plain backbone)": None,
        "all 17 blocks, adaptive pool (GGCASafe)": AttnPolicy(attn=GGCASafe, min_stage=0, skip_stride2=False,
                                                              small=(4, 16)),
        "all 17 blocks, fused pool (GGCAFused)": AttnPolicy(attn=GGCAFused, min_stage=0, skip_stride2=False,
                                                            small=(4, 16)),
        "paper policy (idx>=4, no stride 2, fused)": AttnPolicy.paper(),
    }
    bbs = {label: MobileNetV2(16, attn_policy=pol).eval() for label, pol in variants.items()}
    lats = latencies_ms(bbs, x, args.repeats)
    base = next(iter(lats.values()))[0]
    for label, bb in bbs.items():
        med, mn = lats[label]
        print(f"  {label:44s} params {count_params(bb):>9,d}  GFLOPs {gflops(bb, x):5.2f}  "
              f"median {med:7.1f} ms (min {mn:7.1f})  ratio {med / base:5.2f}", flush=True)


if __name__ == "__main__":
    main()
