"""Where a quick-profile training step's time goes, part by part, on this machine (run by hand).

For one dataset and input size, the quick profile's pieces are timed alone, each the median of
``--repeats`` batches, in this process with ``--threads`` torch threads (one by default, as the
report's runs): building a batch (reading, cropping and augmenting ``batch`` images, then
stacking them), the model's forward + backward + Adam step with plain cross-entropy, what the
profile's loss (OHEM CE + Dice with class weights) adds to it, drawing an epoch's image order
(rare-class sampling), and scoring one validation image (the evaluation's cost per image).

    .venv/bin/python benchmarks/bench_step_parts.py --data data/wirerope-quick --size 64 64 --crop-scale 2
    .venv/bin/python benchmarks/bench_step_parts.py --data ../shared/datasets/camvid --size 320 480 --precision fp32

Say which CPU it ran on (`lscpu | grep -o 'avx512_bf16\\|avx2' | sort -u`); ``--precision fp32``
gives the AVX2-only machine's arithmetic on a CPU with native bf16.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """The median wall time of `fn` in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def parts(args: argparse.Namespace) -> dict[str, float]:
    from segkit.engine import TrainConfig
    from segkit.training.build import build_run_model, resolve_class_weights, run_datasets
    from segkit.inference.evaluate import evaluate_confusion, crop_eval_scale
    from segkit.training.rare_setup import setup_rare
    from segkit.losses import SegLoss

    overrides = {"crop_scale": args.crop_scale} if args.crop_scale else {}
    overrides |= {"Unfreeze_batch_size": args.batch} if args.batch else {}
    cfg = TrainConfig.profile("quick", input_shape=list(args.size), num_workers=0, precision=args.precision,
                              **overrides)
    args.batch = cfg.Unfreeze_batch_size  # printed with the result
    train_ds, val_ds, _ = run_datasets(cfg, args.data, (None, None, None))
    names = list(train_ds.class_names)
    k = len(names)
    rare = setup_rare(cfg, train_ds, k, names)
    weights = resolve_class_weights(cfg, train_ds, names, lambda *_: None).cls_weights
    net, _ = build_run_model(None, cfg, k)
    opt = torch.optim.Adam(net.parameters(), cfg.Init_lr)
    ce = SegLoss(k, dice_loss=False)
    full = SegLoss(k, dice_loss=cfg.dice_loss, cls_weights=weights, ohem=cfg.ohem_thresh)
    gen = torch.Generator().manual_seed(0)
    idx = lambda: torch.randint(len(train_ds), (args.batch,), generator=gen).tolist()  # noqa: E731

    def batch():
        items = [train_ds[i] for i in idx()]
        return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])

    x, y = batch()
    net.train()

    def step(loss_fn):
        def run():
            out = net(x)
            out = out["out"] if isinstance(out, dict) else out
            loss = loss_fn(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return run

    r = args.repeats
    result = {"batch (read, crop, augment, stack)": median_ms(batch, r),
              "model forward + backward + Adam, plain CE": median_ms(step(ce), r),
              "... with the profile's loss (OHEM + Dice, weights)": median_ms(step(full), r)}
    if rare is not None and rare.image_probs is not None:
        result["epoch image order (rare sampling), per step"] = median_ms(
            lambda: rare.order(len(train_ds), 1, 0, 1, 0), r) / max(1, len(train_ds) // args.batch)
    n_val = min(len(val_ds), args.val_images)
    eval_s = median_ms(lambda: evaluate_confusion(net, val_ds, device="cpu", input_shape=cfg.input_shape,
                                                  max_images=n_val, num_classes=k, progress=False,
                                                  native=crop_eval_scale(cfg.to_dict())), 3, warmup=1)
    result["evaluation, per validation image"] = eval_s / n_val
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="VOC-layout dataset folder")
    ap.add_argument("--size", type=int, nargs=2, default=[64, 64], help="input_shape H W")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the quick profile's)")
    ap.add_argument("--crop-scale", type=float, default=None, help="crop_scale (default: the profile's auto)")
    ap.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--val-images", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result = parts(args)
    print(f"{args.data} at {args.size[0]}x{args.size[1]}, batch {args.batch}, {args.threads} thread(s), "
          f"{args.precision}; median ms:")
    for name, ms in result.items():
        print(f"  {name:52s} {ms:8.1f}")


if __name__ == "__main__":
    main()
