"""Which part of a DeepLab model costs what: parameters, FLOPs and CPU latency per part (run by hand).

For each model and input size it prints ``segkit.bench.module_cost``'s table: backbone (plain
MobileNetV2 layers), the backbone's attention modules (GGCA), SFF, ASPP, decoder, the
functional rest ``(other)`` and the total, each with its share. Latency = median of `runs`
forwards after `warmup`, batch 1, eval mode, no grad, with ``--threads`` torch threads.

    .venv/bin/python benchmarks/bench_module_cost.py                       # sff-wadeeplab and the baseline, 512 and 64
    .venv/bin/python benchmarks/bench_module_cost.py --sizes 64 --runs 3 --figures figures

Say which CPU it ran on (printed in the header, with the load average: timings on a busy
shared machine are noisy).
"""
from __future__ import annotations

import argparse
import os

import torch

from segkit.bench.environment import environment
from segkit.bench.module_cost import module_cost
from segkit.report.module_cost import plot_module_cost
from segkit.models import build_model

MODELS = ("sff-wadeeplab", "deeplabv3plus-mobilenetv2")


def table(df) -> str:
    """The frame as a Markdown table (segkit.report's), one decimal for shares and milliseconds."""
    from segkit.report.tables import to_markdown

    return to_markdown(df, digits={"GFLOPs": 3, "params(%)": 1, "FLOPs(%)": 1, "latency(ms)": 1, "latency(%)": 1},
                       bold=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 64], help="square input sides")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--figures", default=None, help="folder for the bar figures (none by default)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    env = environment("cpu")
    print(f"{env['device_name']}, {env['cpu_count']} CPU(s), torch {env['torch']}, {args.threads} thread(s), "
          f"median of {args.runs} (+{args.warmup} warm-up); load average {os.getloadavg()[0]:.2f} at start")
    for name in args.models:
        model = build_model(name, num_classes=3)
        for size in args.sizes:
            df = module_cost(model, (size, size), runs=args.runs, warmup=args.warmup)
            print(f"\n{name} at {size}x{size}\n")
            print(table(df))
            if args.figures:
                from segkit.report.style import save_figure, use_style

                use_style()
                fig = plot_module_cost(df, title=f"{name}, {size}x{size}, CPU")
                save_figure(fig, f"module_cost_{name}_{size}", args.figures, close=True,
                            params=dict(model=name, size=size, runs=args.runs, warmup=args.warmup,
                                        threads=args.threads, device=env["device_name"]))
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
