"""CamVid -> panoramic CamVid: does the Trans4PASS adaptation help at a CPU size? (run by hand)

The source is a subset of CamVid (``--images`` train images, the val split, ``--images``
test images) resized to ``--size``; the target is the *next* ``--images`` train images and
test images of CamVid, resized the same way and warped to ``--fov`` degree equirectangular
panoramas (``segkit.data.make_panoramic_dataset``), so the target's unlabelled training
images are other scenes than the source's. Per seed, ``segkit.adapt.adapt`` trains the
source-only model (the ``quick`` recipe: DeepLabV3+ MobileNetV2, Adam, CE + Dice), makes
pseudo-labels, adapts with the official loss weights, EMA momentum and pseudo-label rule
(``AdaptConfig()`` defaults), and scores both models on the warped test images.

Reported: target mIoU of source-only and adapted (mean ± std over seeds) and the paired
difference with its 95 % intervals over seeds (t) and over target test images (paired
bootstrap, ``segkit.report.stats``). Whether adaptation helps is the finding.

Control: the adapted model also trains ``--adapt-epochs`` more on the source, so part of a
gain can be just more training. The control runs the same adaptation stage with the three
target-side loss weights at 0 (pseudo-label CE, both MPA losses): the same steps, batches and
learning rates, source loss only (target images still pass through the model, so its
BatchNorm statistics see the target). "Adapted vs control" isolates the adaptation losses.

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
    p.add_argument("--no-control", action="store_true", help="skip the source-loss-only control")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from segkit.data import make_panoramic_dataset
    from segkit.adapt import AdaptConfig
    from segkit.engine import TrainConfig
    from segkit.experiments import run_adaptation
    from segkit.report.adaptation import adaptation_comparison
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
    print(to_markdown(table, best={}))
    print(_line("adapted - source-only", diff))
    summary = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "table": json.loads(table.to_json(orient="records")), "adapted_vs_source_only": _as_dict(diff),
               "run_dirs": [str(d) for d in run_dirs]}
    if not args.no_control:
        control = acfg.replace(lambda_ssl=0.0, lambda_kl_s=0.0, lambda_kl_t=0.0)
        ctrl_dirs = run_adaptation(cfg.model, cfg, control, src, tgt, args.out / "runs", args.seeds, device="cpu",
                                   experiment="adaptation-control")
        ctrl_table, ctrl_diff = adaptation_comparison(ctrl_dirs, labels=("Source-only", "Control (source loss only)"))
        vs = _adapted_vs(run_dirs, ctrl_dirs)
        print(to_markdown(ctrl_table, best={}))
        print(_line("control - source-only", ctrl_diff))
        print(_line("adapted - control", vs))
        summary.update(control_table=json.loads(ctrl_table.to_json(orient="records")),
                       control_vs_source_only=_as_dict(ctrl_diff), adapted_vs_control=_as_dict(vs))
    seconds = time.perf_counter() - t0
    print(f"wall time {seconds:.0f} s with {args.threads} thread(s)")
    summary["seconds"] = seconds
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def _adapted_vs(run_dirs, ctrl_dirs):
    """``adapted - control`` target mIoU over paired seeds and target test images."""
    import numpy as np

    from segkit.report.stats import compare
    from segkit.runs import RunDir

    def side(dirs):
        runs = [RunDir(d).sub(RunDir.ADAPTED_RUN) for d in dirs]
        return [100 * r.read_metrics()["miou"] for r in runs], np.stack([r.read_per_image()[0] for r in runs])

    (a, cms_a), (b, cms_b) = side(run_dirs), side(ctrl_dirs)
    return compare("Adapted (MPA)", "Control", a, b, cms_a, cms_b)


def _line(what, d) -> str:
    return (f"Δ target mIoU ({what}): {d.delta:+.2f} points; 95% CI over {d.n_seeds} seeds "
            f"{d.seeds.format() if d.seeds else '–'}, over {d.n_images} target test images "
            f"{d.images.format() if d.images else '–'}; supported: {d.supported}")


def _as_dict(d) -> dict:
    return {"delta": d.delta, "ci_seeds": [d.seeds.lo, d.seeds.hi] if d.seeds else None,
            "ci_images": [d.images.lo, d.images.hi] if d.images else None, "supported": d.supported}


if __name__ == "__main__":
    main()
