"""CPU latency overhead of every registered attention module (the zoo).

For each module and each input size it times a host block (1x1 conv + BN + ReLU, as in a
MobileNetV2 projection) followed by ``nn.Identity`` (the peer) and the same host followed
by the module, interleaved round by round so both see the same machine load, plus the
module alone. It prints medians (ms), the overhead ``t(host+module) - t(host+identity)``,
the ratio ``t(host+module) / t(host+identity)``, the same ratio of the minimum timings
(robust on a loaded machine), and ``alone / t(host+identity)`` (one timing, not a difference).

    .venv/bin/python benchmarks/bench_modules.py                     # sizes (1,96,128,128), (1,960,32,32)
    .venv/bin/python benchmarks/bench_modules.py --only se,eca,cbam --repeats 9 --threads 2
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn

from segkit.modules import create_attn, list_modules, module_info


def host(c: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))


def _ms(fn, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    fn(x)
    return (time.perf_counter() - t0) * 1e3


def interleaved_times(fns: list, x: torch.Tensor, repeats: int, warmup: int) -> list[list[float]]:
    """All timings (ms) of each callable, timed round-robin (one call of each per round)."""
    times: list[list[float]] = [[] for _ in fns]
    with torch.inference_mode():
        for _ in range(warmup):
            for fn in fns:
                fn(x)
        for _ in range(repeats):
            for i, fn in enumerate(fns):
                times[i].append(_ms(fn, x))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="96x128x128,960x32x32", help="CxHxW list (batch 1)")
    ap.add_argument("--only", default="", help="comma-separated module names (default: all registered)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = [n for n in args.only.split(",") if n] or list(list_modules()["name"])
    print(f"torch {torch.__version__}, CPU, {args.threads} thread(s), median of {args.repeats} (+{args.warmup} warm-up)")
    for size in args.sizes.split(","):
        c, h, w = (int(v) for v in size.split("x"))
        torch.manual_seed(0)
        x = torch.randn(1, c, h, w)
        base = host(c).eval()
        with_identity = nn.Sequential(base, nn.Identity())
        print(f"\ninput (1,{c},{h},{w}); host = 1x1 conv+BN+ReLU; peer = host+identity (timed alongside each module)")
        print(f"{'module':<16}{'params':>12}{'alone ms':>10}{'host+id ms':>12}{'host+mod ms':>13}{'overhead ms':>13}{'ratio':>8}{'ratio(min)':>12}{'alone/host':>12}")
        for name in names:
            kw = {"h": h, "w": w} if module_info(name).needs_size else {}
            try:
                mod = create_attn(name, c, **kw).eval()
                times = interleaved_times([with_identity, nn.Sequential(base, mod), mod], x, args.repeats, args.warmup)
                t_id, both, alone = (statistics.median(t) for t in times)
                ratio_min = min(times[1]) / min(times[0])
            except (ValueError, RuntimeError) as exc:
                print(f"{name:<16}  skipped: {str(exc)[:90]}")
                continue
            params = sum(p.numel() for p in mod.parameters())
            print(f"{name:<16}{params:>12,}{alone:>10.2f}{t_id:>12.2f}{both:>13.2f}{both - t_id:>13.2f}{both / t_id:>8.2f}{ratio_min:>12.2f}{alone / t_id:>12.3f}")


if __name__ == "__main__":
    main()
