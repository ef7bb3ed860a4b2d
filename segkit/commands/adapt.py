"""``segkit adapt``: source-only training, pseudo-labels, MPA adaptation, target evaluation."""
from __future__ import annotations

import argparse
import sys

__all__ = ["add_commands"]


def _cmd_adapt(args: argparse.Namespace) -> int:
    from segkit._utils import parse_key_values
    from segkit.commands.engine import recipe_from_args
    from segkit.adapt import AdaptConfig, adapt

    cfg, overrides = recipe_from_args(args)
    if overrides:
        cfg = cfg.replace(**overrides)
    adapt_overrides = parse_key_values(args.adapt_set, "--adapt-set", "epochs=2")
    if args.adapt_epochs is not None:
        adapt_overrides["epochs"] = args.adapt_epochs
    acfg = AdaptConfig.from_dict(adapt_overrides)
    try:
        res = adapt(None, cfg, acfg, source_root=args.source, target_root=args.target, run_dir=args.run_dir,
                    device=args.device, force=args.force, progress=not args.no_progress, verbose=not args.no_progress)
    except KeyboardInterrupt:
        print(f"segkit adapt: interrupted; run the same command again to continue in {args.run_dir}", file=sys.stderr)
        return 130
    print(f"target mIoU ({res.adapted.get('split')} split, {res.adapted.get('num_images')} images): "
          f"source-only {100 * res.source_only['miou']:.2f}, adapted {100 * res.adapted['miou']:.2f} "
          f"({res.gain:+.2f} points)")
    print(f"run directory: {res.run_dir}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``segkit adapt``."""
    p = sub.add_parser("adapt", help="domain adaptation (Trans4PASS workflow): source-only training, pseudo-labels, "
                                     "MPA adaptation, evaluation on the target; rerun to resume",
                       description="Adapt a model trained on a labelled source (pinhole) to an unlabelled target "
                                   "(panoramic) in four recorded stages: source-only training, per-class-thresholded "
                                   "pseudo-labels, adaptation training (source CE + pseudo-label CE + MPA feature "
                                   "losses), evaluation on the target's labelled test split. A rerun skips finished "
                                   "stages and resumes an interrupted one. Example: segkit adapt --source data/camvid "
                                   "--target data/camvid-pano --run-dir runs/adapt/camvid --epochs 6")
    p.add_argument("--source", required=True, help="labelled source dataset (VOC or Cityscapes layout)")
    p.add_argument("--target", required=True,
                   help="target dataset (VOC or DensePASS layout): unlabelled train split, labelled test split")
    p.add_argument("--run-dir", required=True, help="output folder (its stages are skipped or resumed on a rerun)")
    p.add_argument("--profile", default="quick", help="source recipe: quick, paper, or a YAML file with train:")
    p.add_argument("--config", help="a TrainConfig YAML file (instead of --profile)")
    p.add_argument("--model", help="registered model name (overrides the profile)")
    p.add_argument("--epochs", type=int, help="source-only training epochs (UnFreeze_Epoch)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a TrainConfig field (repeatable)")
    p.add_argument("--adapt-epochs", type=int, help="adaptation epochs (AdaptConfig.epochs)")
    p.add_argument("--adapt-set", action="append", metavar="KEY=VALUE",
                   help="override an AdaptConfig field, e.g. lambda_kl_t=0.01, target_test_split=val (repeatable)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, mps")
    p.add_argument("--force", action="store_true", help="start again (the previous run is kept in .superseded/)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars or per-epoch lines")
    p.set_defaults(func=_cmd_adapt)
