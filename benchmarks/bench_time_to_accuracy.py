"""Time to accuracy: segkit's quick recipe against a plain training loop, same wall time (run by hand).

Contenders, each trained for ``--budget`` seconds from scratch at ``--size`` on one dataset in
the VOC layout (CamVid, or a defect set written by ``segkit data import``):

- ``segkit``: ``TrainConfig.profile("quick")`` with ``input_shape=--size`` and
  ``time_limit=--budget`` (plus any ``--contender name=key=v,...`` overrides), scored by segkit's
  own final evaluation on ``--split`` (whole images at the run's crop scale);
- ``plain``: segmentation_models_pytorch ``DeepLabV3Plus("mobilenet_v2", encoder_weights=None)``,
  Adam 1e-3, horizontal flips, cross-entropy, batch ``--plain-batch`` (4), images letterboxed to
  ``--size``; it stops before the step that would end after the budget and is scored by
  ``segkit.engine.evaluate_confusion`` (letterbox, resized to each mask's size) on ``--split``.

Both score against the original masks. For one seed the contenders run at the same time as
separate processes with one torch thread each, so a shared machine loads both alike. The
"defect" mean is over ``--defects`` (default: every class but the first, the background; on
CamVid pass its four rare classes).

    # CamVid (../shared/datasets/camvid), its four rare classes
    .venv/bin/python benchmarks/bench_time_to_accuracy.py --size 128 160 --budget 300 \
        --defects pole sign_symbol pedestrian bicyclist --out runs/tta/camvid
    # a defect set imported with segkit data import (docs/rare_classes.md has the commands)
    .venv/bin/python benchmarks/bench_time_to_accuracy.py --data-root data/cracks --size 160 240 --out runs/tta/cracks
    # choosing defaults on val (never on test): variants of segkit, two at a time
    .venv/bin/python benchmarks/bench_time_to_accuracy.py --split val --seeds 0 \
        --contender base= --contender ce=ohem_thresh=null --out runs/tta/val

Say which CPU it ran on (`lscpu | grep -o 'avx512_bf16\\|avx2' | sort -u`) and pass
``--precision fp32`` on a CPU with native bf16 to measure the AVX2-only machine's arithmetic.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _overrides(text: str) -> dict:
    """``"a=1,b=x"`` -> ``{"a": "1", "b": "x"}`` (TrainConfig coerces the strings)."""
    out = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        out[key.strip()] = None if value.strip() in ("null", "None") else value.strip()
    return out


def run_segkit(root: Path, out: Path, size: list[int], budget: float, seed: int, split: str, overrides: dict,
               precision: str) -> dict:
    from segkit.engine import TrainConfig, train

    cfg = TrainConfig.profile("quick", input_shape=size, time_limit=budget, UnFreeze_Epoch=10_000,
                              eval_period=10**6, save_period=10**6, num_workers=0, device="cpu", seed=seed,
                              test_split=split if split != "val" else "", precision=precision, **overrides)
    train(None, cfg, root, out, progress=False, verbose=False)
    metrics = json.loads((out / "metrics.json").read_text())
    steps = json.loads((out / "budget.json").read_text())
    return {"metrics": metrics, "train_s": steps["train_seconds"], "steps": steps["steps"], "recipe": cfg.summary()}


class _Stretched:
    """A split's images and masks resized to `size` (aspect ratio not kept), normalised as segkit does."""

    def __init__(self, ds, size: list[int]) -> None:
        self.ds, self.size, self.num_classes = ds, size, ds.num_classes

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        import cv2
        import numpy as np

        from segkit.data.transforms import to_tensor_pair

        img, mask = self.ds.load_raw(i)  # uint8, void 255
        h, w = self.size
        rgb = cv2.resize(np.asarray(img.convert("RGB")), (w, h), interpolation=cv2.INTER_LINEAR)
        m = cv2.resize(np.asarray(mask, dtype=np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        return to_tensor_pair(rgb, m, self.ds.ignore_index)


def run_plain(root: Path, size: list[int], budget: float, seed: int, split: str, batch: int,
              stretch: bool = False) -> dict:
    import numpy as np
    import segmentation_models_pytorch as smp
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader

    from segkit.data import VOCSegmentation
    from segkit.engine import evaluate_confusion

    torch.manual_seed(seed)
    train_ds = VOCSegmentation(root, "train", input_shape=tuple(size))
    if stretch:  # the plain loop: every image resized to the input size
        train_ds = _Stretched(train_ds, size)
    model = smp.DeepLabV3Plus(encoder_name="mobilenet_v2", encoder_weights=None, classes=train_ds.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss(ignore_index=255)
    t0, steps, step_s, stop = time.perf_counter(), 0, 0.0, False
    for epoch in range(10_000):
        model.train()
        loader = DataLoader(train_ds, batch_size=batch, shuffle=True, drop_last=True, num_workers=0,
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
            "recipe": f"smp DeepLabV3Plus(mobilenet_v2), Adam 1e-3, flips, CE, batch {batch}, fp32, "
                      + ("images resized to the input size" if stretch else "letterboxed")}


def one(args) -> None:
    """Run one contender in this process and write its JSON."""
    import torch

    torch.set_num_threads(1)
    root, out = Path(args.data_root), Path(args.out) / f"{args.one}-seed{args.seed}"
    overrides = _overrides(args.variant or "")
    if args.one in ("plain", "plain-stretch"):
        res = run_plain(root, list(args.size), args.budget, args.seed, args.split, args.plain_batch,
                        stretch=args.one == "plain-stretch")
    else:
        res = run_segkit(root, out, list(args.size), args.budget, args.seed, args.split, overrides, args.precision)
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
                                       str(args.budget), "--out", str(out), "--size", *map(str, args.size),
                                       "--plain-batch", str(args.plain_batch), "--precision", args.precision])
                     for name, sets in todo[i:i + args.jobs]]
            for p in procs:
                if p.wait() != 0:
                    raise SystemExit(f"a contender failed (exit {p.returncode}); see its output above")
    table(out, [name for name, _, _ in contenders], args.seeds, args.defects)


def table(out: Path, names: list[str], seeds: list[int], defects: list[str] | None = None) -> None:
    """Per-class IoU of every contender and seed, then mIoU, the defect-class mean and the steps, with means over seeds."""
    results = {(n, s): json.loads((out / f"{n}-seed{s}.json").read_text()) for n in names for s in seeds}
    first = next(iter(results.values()))
    classes = first["metrics"]["class_names"]
    defects = defects or classes[1:]
    cols = [f"{n} s{s}" for n in names for s in seeds]
    print(f"split {first['split']}, budget {first['budget']:.0f} s, IoU % (defect mean over {', '.join(defects)})")
    print("| class | " + " | ".join(cols) + " |\n|---|" + "---:|" * len(cols))
    for c in classes:
        vals = [results[(n, s)]["metrics"]["per_class"][c]["iou"] for n in names for s in seeds]
        print(f"| {c} | " + " | ".join(f"{(v or 0) * 100:.2f}" for v in vals) + " |")
    summary = {}
    for n in names:
        rows = [results[(n, s)] for s in seeds]
        mi = [r["metrics"]["miou"] * 100 for r in rows]
        de = [sum(r["metrics"]["per_class"][c]["iou"] or 0 for c in defects) / len(defects) * 100 for r in rows]
        summary[n] = (sum(mi) / len(mi), sum(de) / len(de))
        print(f"{n}: mIoU {' '.join(f'{v:.2f}' for v in mi)} (mean {summary[n][0]:.2f}); defect IoU "
              f"{' '.join(f'{v:.2f}' for v in de)} (mean {summary[n][1]:.2f}); steps {[r['steps'] for r in rows]}; "
              f"train s {[round(r['train_s']) for r in rows]}; {rows[0]['recipe']}")
    if "segkit" in summary and "plain" in summary:
        (a_m, a_d), (b_m, b_d) = summary["segkit"], summary["plain"]
        print(f"segkit / plain: mIoU {a_m / max(b_m, 1e-9):.2f}x (target >= 1x), defect IoU "
              f"{a_d / max(b_d, 1e-9):.2f}x (target >= 1.2x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets" / "camvid"))
    p.add_argument("--size", type=int, nargs=2, default=(128, 160), metavar=("H", "W"))
    p.add_argument("--budget", type=float, default=300.0, help="training wall time per run (s)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--split", default="test", help="the split scored (choose defaults on val, never on test)")
    p.add_argument("--contender", action="append", default=None,
                   help="NAME=overrides: 'plain' (letterboxed images), 'plain-stretch' (resized), or a segkit "
                        "variant 'name=key=v,key=v' (default: segkit and plain)")
    p.add_argument("--defects", nargs="+", default=None,
                   help="the classes averaged as 'defect IoU' (default: every class but the first)")
    p.add_argument("--plain-batch", type=int, default=4, help="the plain loop's batch size")
    p.add_argument("--precision", default="auto", help="segkit's precision (fp32: an AVX2-only CPU's arithmetic)")
    p.add_argument("--jobs", type=int, default=2, help="contenders run at once")
    p.add_argument("--out", default="runs/bench_time_to_accuracy")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--variant", default="", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.contender = args.contender or ["segkit=", "plain="]
    if not (Path(args.data_root) / "ImageSets" / "Segmentation" / "train.txt").is_file():
        raise SystemExit(f"no dataset at {args.data_root} (ImageSets/Segmentation/train.txt missing)")
    one(args) if args.one else launch(args)


if __name__ == "__main__":
    main()
