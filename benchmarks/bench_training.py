"""Real-data check of the training engine on CamVid (run by hand).

Trains segkit's ``quick`` profile (DeepLabV3+ MobileNetV2, the reference recipe: warm-up
cosine, bs/nbs LR scaling, Adam, CE + Dice, per-epoch val loss) and, as the peer,
segmentation_models_pytorch's ``DeepLabV3Plus(encoder_name="mobilenet_v2",
encoder_weights=None)`` with a plain loop (Adam at the same effective LR, cross-entropy),
for the same wall-time budget on the same data pipeline (``VOCSegmentation`` with the
reference augmentation, letterboxed to ``--size``). Both are scored by the same evaluator
(``segkit.inference.evaluate``: letterbox, crop, bilinear resize to 360x480, argmax).

Stopping rule for both: after an epoch, stop when the elapsed training time plus that
epoch's duration would exceed ``--budget`` (or at ``--epochs``).

    .venv/bin/python benchmarks/bench_training.py --budget 180 --size 128 160
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

REPO = Path(__file__).resolve().parents[1]


class WallBudget:
    """segkit callback: stop after the epoch when the next one would overrun the budget."""

    def __init__(self, budget: float) -> None:
        self.budget, self.t0, self.t_epoch = budget, 0.0, 0.0
        self.epochs = 0

    def on_train_start(self, state) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_start(self, state) -> None:
        self.t_epoch = time.perf_counter()

    def on_epoch_end(self, state) -> None:
        now = time.perf_counter()
        self.epochs += 1
        if (now - self.t0) + (now - self.t_epoch) > self.budget:
            state.stop_training = True


def run_segkit(args, root: Path, out: Path) -> dict:
    from segkit.engine import TrainConfig, fit_lr, load_run, train

    cfg = TrainConfig.profile("quick", input_shape=list(args.size), UnFreeze_Epoch=args.epochs,
                              Unfreeze_batch_size=args.batch, num_workers=0, eval_period=10**6,
                              save_period=10**6, device="cpu")
    budget = WallBudget(args.budget)
    t0 = time.perf_counter()
    train(None, cfg, root, out, callbacks=[budget], progress=False, verbose=False)
    total = time.perf_counter() - t0
    _, config, hist, metrics = load_run(out)
    train_s = float(hist["time"].sum())
    return {"name": "segkit quick (deeplabv3plus-mobilenetv2)", "params": config["model"]["num_params"],
            "epochs": len(hist), "train_s": train_s, "eval_s": total - train_s, "miou": metrics["miou"],
            "mpa": metrics["mpa"], "accuracy": metrics["accuracy"],
            "lr": fit_lr(cfg.Init_lr, cfg.Min_lr, args.batch, cfg.optimizer_type)[0]}


def run_smp(args, root: Path, lr: float) -> dict:
    import segmentation_models_pytorch as smp

    from segkit.data import VOCSegmentation
    from segkit.engine import evaluate

    torch.manual_seed(11)
    train_ds = VOCSegmentation(root, "train", input_shape=tuple(args.size), augment=True, seed=11)
    val_ds = VOCSegmentation(root, "val", input_shape=tuple(args.size))
    model = smp.DeepLabV3Plus(encoder_name="mobilenet_v2", encoder_weights=None, classes=train_ds.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    crit = nn.CrossEntropyLoss(ignore_index=255)
    t0 = time.perf_counter()
    epochs = 0
    for epoch in range(args.epochs):
        te = time.perf_counter()
        train_ds.set_epoch(epoch)
        model.train()
        for x, y in DataLoader(train_ds, batch_size=args.batch, shuffle=True, drop_last=True, num_workers=0,
                               generator=torch.Generator().manual_seed(11 + epoch)):
            opt.zero_grad(set_to_none=True)
            loss = crit(model(x), y)
            loss.backward()
            opt.step()
        epochs += 1
        now = time.perf_counter()
        if (now - t0) + (now - te) > args.budget:
            break
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    m = evaluate(model, val_ds, device="cpu", progress=False)
    return {"name": "smp DeepLabV3Plus(mobilenet_v2), plain loop", "params": sum(p.numel() for p in model.parameters()),
            "epochs": epochs, "train_s": train_s, "eval_s": time.perf_counter() - t1, "miou": m.miou,
            "mpa": m.mpa, "accuracy": m.accuracy, "lr": lr}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets" / "camvid"))
    p.add_argument("--size", type=int, nargs=2, default=(128, 160), metavar=("H", "W"))
    p.add_argument("--budget", type=float, default=180.0, help="training wall time per contender (s)")
    p.add_argument("--epochs", type=int, default=12, help="maximum epochs (segkit's cosine schedule length)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy shared CPU)")
    p.add_argument("--run-dir", default=None, help="segkit run directory (default: a temp folder)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.data_root)
    if not (root / "ImageSets" / "Segmentation" / "train.txt").is_file():
        raise SystemExit(f"CamVid not found at {root}")
    out = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="segkit-bench-")) / "quick"
    print(f"CamVid {root}, letterbox {args.size[0]}x{args.size[1]}, batch {args.batch}, "
          f"budget {args.budget:.0f} s training each, {args.threads} CPU threads, torch {torch.__version__}")
    rows = [run_segkit(args, root, out)]
    rows.append(run_smp(args, root, rows[0]["lr"]))
    print(f"\n{'contender':48s} {'params':>9s} {'epochs':>6s} {'train s':>8s} {'s/epoch':>8s} {'eval s':>7s} "
          f"{'mIoU %':>7s} {'mPA %':>6s} {'acc %':>6s}")
    for r in rows:
        print(f"{r['name']:48s} {r['params']:9d} {r['epochs']:6d} {r['train_s']:8.1f} {r['train_s'] / r['epochs']:8.1f} "
              f"{r['eval_s']:7.1f} {r['miou'] * 100:7.2f} {r['mpa'] * 100:6.2f} {r['accuracy'] * 100:6.2f}")
    a, b = rows
    print(f"\nratio segkit/smp: mIoU {a['miou'] / max(b['miou'], 1e-9):.2f}x, "
          f"s/epoch {(a['train_s'] / a['epochs']) / (b['train_s'] / b['epochs']):.2f}x "
          f"(segkit's epoch includes the validation-loss pass); segkit run dir: {out}")


if __name__ == "__main__":
    main()
