"""CamVid -> panoramic CamVid: does the Trans4PASS adaptation help at a CPU size? (run by hand)

The source is a subset of CamVid (``--images`` train images, the val split, ``--images``
test images) resized to ``--size``; the target is the *next* ``--images`` train images and
test images of CamVid, resized the same way and warped to ``--fov`` degree equirectangular
panoramas (``segkit.data.make_panoramic_dataset``), so the target's unlabelled training
images are other scenes than the source's. Per seed, ``segkit.engine.adapt`` trains the
source-only model (the ``quick`` recipe: DeepLabV3+ MobileNetV2, Adam, CE + Dice), makes
pseudo-labels, adapts with the official loss weights, EMA momentum and pseudo-label rule
(``AdaptConfig()`` defaults), and scores both models on the warped test images.

Reported: target mIoU of source-only and adapted (mean ± std over seeds) and the paired
difference with its 95 % intervals over seeds (t) and over target test images (paired
bootstrap, ``segkit.report.stats``). Whether adaptation helps is the finding.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_adapt.py --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CAMVID = Path(os.environ.get("SEGKIT_CAMVID", REPO.parent / "shared" / "datasets" / "camvid"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--camvid", type=Path, default=CAMVID)
    p.add_argument("--out", type=Path, default=REPO / "runs" / "bench_adapt")
    p.add_argument("--size", type=int, nargs=2, default=(72, 96), metavar=("H", "W"))
    p.add_argument("--images", type=int, default=48, help="images per split on each side")
    p.add_argument("--epochs", type=int, default=6, help="source-only epochs")
    p.add_argument("--adapt-epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--fov", type=float, default=120.0)
    p.add_argument("--source-fov", type=float, default=90.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from segkit.data import make_panoramic_dataset
    from segkit.engine import AdaptConfig, TrainConfig
    from segkit.report.adaptation import adaptation_comparison, run_adaptation
    from segkit.report.tables import to_markdown

    t0 = time.perf_counter()
    size = tuple(args.size)
    src = make_panoramic_dataset(args.camvid, args.out / "data" / "camvid-pinhole", fov=None, max_images=args.images,
                                 size=size)
    tgt = make_panoramic_dataset(args.camvid, args.out / "data" / "camvid-panoramic", fov=args.fov,
                                 source_fov=args.source_fov, splits=["train", "test"], max_images=args.images,
                                 start=args.images, size=size)
    cfg = TrainConfig.profile("quick", input_shape=list(size), UnFreeze_Epoch=args.epochs,
                              Unfreeze_batch_size=args.batch, num_workers=0, device="cpu")
    acfg = AdaptConfig(epochs=args.adapt_epochs)
    run_dirs = run_adaptation(cfg.model, cfg, acfg, src, tgt, args.out / "runs", args.seeds, device="cpu")
    table, diff = adaptation_comparison(run_dirs)
    seconds = time.perf_counter() - t0
    print(to_markdown(table, best={}))
    print(f"\nΔ target mIoU (adapted - source-only): {diff.delta:+.2f} points; 95% CI over seeds "
          f"{diff.seeds.format() if diff.seeds else '–'}, over {diff.n_images} target test images "
          f"{diff.images.format() if diff.images else '–'}; supported: {diff.supported}")
    print(f"wall time {seconds:.0f} s with {args.threads} thread(s)")
    summary = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "table": json.loads(table.to_json(orient="records")), "delta": diff.delta,
               "ci_seeds": [diff.seeds.lo, diff.seeds.hi] if diff.seeds else None,
               "ci_images": [diff.images.lo, diff.images.hi] if diff.images else None,
               "supported": diff.supported, "seconds": seconds, "run_dirs": [str(d) for d in run_dirs]}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
