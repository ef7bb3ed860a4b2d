"""Rare classes on CamVid: segkit's quick recipe against a plain smp loop, same wall time (run by hand).

Contenders, each trained for ``--budget`` seconds from scratch at ``--size`` (default 128x160):

- ``segkit``: ``TrainConfig.profile("quick")`` with ``time_limit=--budget`` (plus any
  ``--set key=value``), scored by segkit's own final evaluation on ``--split``;
- ``plain``: segmentation_models_pytorch ``DeepLabV3Plus("mobilenet_v2", encoder_weights=None)``,
  Adam 1e-3, horizontal flips, cross-entropy, batch 8, on images letterboxed to ``--size``; it
  stops before the step that would end after the budget and is scored by
  ``segkit.engine.evaluate_confusion`` (letterbox, resize to 360x480) on ``--split``.

Both score against the original 360x480 masks. For one seed the contenders run at the same time
as separate processes with one torch thread each, so a shared machine loads both alike. The
rare classes are CamVid's four smallest: pole, sign_symbol, pedestrian, bicyclist.

    .venv/bin/python benchmarks/bench_rare.py --budget 300 --seeds 0 1 2 --out runs/bench_rare
    # choosing defaults on val (never on test): variants of segkit, two at a time
    .venv/bin/python benchmarks/bench_rare.py --split val --budget 120 --seeds 0 \\
        --contender base= --contender ohem=ohem_thresh=0.7,dice_loss=false --out runs/rare_val
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RARE = ("pole", "sign_symbol", "pedestrian", "bicyclist")


def _overrides(text: str) -> dict:
    """``"a=1,b=x"`` -> ``{"a": "1", "b": "x"}`` (TrainConfig coerces the strings)."""
    out = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        out[key.strip()] = None if value.strip() in ("null", "None") else value.strip()
    return out


def run_segkit(root: Path, out: Path, size: list[int], budget: float, seed: int, split: str, overrides: dict) -> dict:
    from segkit.engine import TrainConfig, train

    cfg = TrainConfig.profile("quick", input_shape=size, time_limit=budget, UnFreeze_Epoch=10_000,
                              eval_period=10**6, save_period=10**6, num_workers=0, device="cpu", seed=seed,
                              test_split=split if split != "val" else "", **overrides)
    train(None, cfg, root, out, progress=False, verbose=False)
    metrics = json.loads((out / "metrics.json").read_text())
    steps = json.loads((out / "budget.json").read_text())
    return {"metrics": metrics, "train_s": steps["train_seconds"], "steps": steps["steps"], "recipe": cfg.summary()}


def run_plain(root: Path, size: list[int], budget: float, seed: int, split: str) -> dict:
    import numpy as np
    import segmentation_models_pytorch as smp
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader

    from segkit.data import VOCSegmentation
    from segkit.engine import evaluate_confusion

    torch.manual_seed(seed)
    train_ds = VOCSegmentation(root, "train", input_shape=tuple(size))
    model = smp.DeepLabV3Plus(encoder_name="mobilenet_v2", encoder_weights=None, classes=train_ds.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss(ignore_index=255)
    t0, steps, step_s, stop = time.perf_counter(), 0, 0.0, False
    for epoch in range(10_000):
        model.train()
        loader = DataLoader(train_ds, batch_size=8, shuffle=True, drop_last=True, num_workers=0,
                            generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        for x, y in loader:
            ts = time.perf_counter()
            flip = torch.from_numpy(np.random.default_rng([seed, steps]).random(len(x)) < 0.5)
            x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
            opt.zero_grad(set_to_none=True)
            crit(model(x), y).backward()
            opt.step()
            steps += 1
            now = time.perf_counter()
            step_s = (now - ts) if steps == 1 else 0.9 * step_s + 0.1 * (now - ts)
            if now - t0 + step_s > budget:  # the next step would end after the budget
                stop = True
                break
        if stop:
            break
    train_s = time.perf_counter() - t0
    ds = VOCSegmentation(root, split, input_shape=tuple(size))
    cm = evaluate_confusion(model, ds, device="cpu", progress=False)
    return {"metrics": cm.compute().as_dict(), "train_s": train_s, "steps": steps,
            "recipe": "smp DeepLabV3Plus(mobilenet_v2), Adam 1e-3, flips, CE, batch 8"}


def one(args) -> None:
    """Run one contender in this process and write its JSON."""
    import torch

    torch.set_num_threads(1)
    root, out = Path(args.data_root), Path(args.out) / f"{args.one}-seed{args.seed}"
    overrides = _overrides(args.variant or "")
    if args.one == "plain":
        res = run_plain(root, list(args.size), args.budget, args.seed, args.split)
    else:
        res = run_segkit(root, out, list(args.size), args.budget, args.seed, args.split, overrides)
    res.update(contender=args.one, seed=args.seed, split=args.split, budget=args.budget, overrides=overrides)
    (Path(args.out) / f"{args.one}-seed{args.seed}.json").write_text(json.dumps(res, indent=1))


def launch(args) -> None:
    """Every contender and seed; the contenders of one seed run at the same time (`--jobs` at once)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    contenders = [c.partition("=") for c in args.contender]
    for seed in args.seeds:
        todo = [(name, sets) for name, _, sets in contenders if not (out / f"{name}-seed{seed}.json").is_file()]
        for i in range(0, len(todo), args.jobs):
            procs = [subprocess.Popen([sys.executable, __file__, "--one", name, "--variant", sets, "--seed", str(seed),
                                       "--data-root", args.data_root, "--split", args.split, "--budget",
                                       str(args.budget), "--out", str(out), "--size", *map(str, args.size)])
                     for name, sets in todo[i:i + args.jobs]]
            for p in procs:
                if p.wait() != 0:
                    raise SystemExit(f"a contender failed (exit {p.returncode}); see its output above")
    table(out, [name for name, _, _ in contenders], args.seeds, tuple(args.rare))


def table(out: Path, names: list[str], seeds: list[int], rare_classes: tuple[str, ...] = RARE) -> None:
    """Per-class IoU of every contender and seed, then mIoU and the rare-class mean with their means over seeds."""
    results = {(n, s): json.loads((out / f"{n}-seed{s}.json").read_text()) for n in names for s in seeds}
    first = next(iter(results.values()))
    classes = first["metrics"]["class_names"]
    cols = [f"{n} s{s}" for n in names for s in seeds]
    print(f"split {first['split']}, budget {first['budget']:.0f} s, IoU %")
    print(f"{'class':14s}" + "".join(f"{c:>14s}" for c in cols))
    for c in classes:
        vals = [results[(n, s)]["metrics"]["per_class"][c]["iou"] for n in names for s in seeds]
        print(f"{c:14s}" + "".join(f"{(v or 0) * 100:14.2f}" for v in vals))
    summary = {}
    for n in names:
        mi = [results[(n, s)]["metrics"]["miou"] * 100 for s in seeds]
        rare = [sum(results[(n, s)]["metrics"]["per_class"][c]["iou"] or 0 for c in rare_classes) / len(rare_classes) * 100
                for s in seeds]
        steps = [results[(n, s)]["steps"] for s in seeds]
        train_s = [results[(n, s)]["train_s"] for s in seeds]
        summary[n] = (sum(mi) / len(mi), sum(rare) / len(rare))
        print(f"{n}: mIoU {' '.join(f'{v:.2f}' for v in mi)} (mean {summary[n][0]:.2f}); rare IoU "
              f"{' '.join(f'{v:.2f}' for v in rare)} (mean {summary[n][1]:.2f}); steps {steps}; train s "
              f"{[round(t) for t in train_s]}; {results[(n, seeds[0])]['recipe']}")
    if "segkit" in summary and "plain" in summary:
        (a_m, a_r), (b_m, b_r) = summary["segkit"], summary["plain"]
        print(f"segkit / plain: mIoU {a_m / max(b_m, 1e-9):.2f}x (target >= 1.1x), rare-4 IoU "
              f"{a_r / max(b_r, 1e-9):.2f}x (target >= 2x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets" / "camvid"))
    p.add_argument("--size", type=int, nargs=2, default=(128, 160), metavar=("H", "W"))
    p.add_argument("--budget", type=float, default=300.0, help="training wall time per run (s)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--split", default="test", help="the split scored (choose defaults on val, never on test)")
    p.add_argument("--contender", action="append", default=None,
                   help="NAME=overrides: 'plain', or a segkit variant 'name=key=v,key=v' (default: segkit and plain)")
    p.add_argument("--rare", nargs="+", default=list(RARE), help="the classes averaged as 'rare' (default: CamVid's)")
    p.add_argument("--jobs", type=int, default=2, help="contenders run at once")
    p.add_argument("--out", default="runs/bench_rare")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--variant", default="", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.contender = args.contender or ["segkit=", "plain="]
    if not (Path(args.data_root) / "ImageSets" / "Segmentation" / "train.txt").is_file():
        raise SystemExit(f"CamVid not found at {args.data_root}")
    one(args) if args.one else launch(args)


if __name__ == "__main__":
    main()
