"""``segkit train | evaluate | predict | export-onnx``."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from typing import Any
from pathlib import Path

from segkit._utils import parse_key_values
from segkit.commands import add_precision_args, channels_last_value

__all__ = ["add_commands"]

_STARTED = time.perf_counter()  # the command's start: a time_limit also counts importing torch and setting up


def _write_text(path: str, text: str) -> None:
    """Write an output file; a failed write (full disk, read-only folder) names the file."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def _check_output_file(path: str | None, option: str) -> None:
    """Refuse an output file that cannot be written before any work is done (a missing folder
    found after an hour-long evaluation costs the hour)."""
    if not path:
        return
    target = Path(path)
    folder = target.parent
    if target.exists():
        if target.is_dir():
            raise IsADirectoryError(f"{option} {target} is a folder; give a file name such as {target / 'metrics.json'}")
        if not os.access(target, os.W_OK):
            raise PermissionError(f"{option} {target} is not writable; choose another file")
    elif not folder.is_dir():
        raise FileNotFoundError(f"{option} {target}: the folder {folder} does not exist; create it "
                                f"(mkdir -p {folder}) or choose another path")
    elif not os.access(folder, os.W_OK):
        raise PermissionError(f"{option} {target}: the folder {folder} is not writable; choose another path")


def recipe_from_args(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """(TrainConfig of --config or --profile, overrides from --set, --model, --epochs); shared by train and adapt."""
    from segkit.training.config import TrainConfig  # no torch: a bad recipe is answered at once

    cfg = TrainConfig.from_yaml(args.config) if args.config else TrainConfig.profile(args.profile)
    overrides = parse_key_values(args.set, "--set", "UnFreeze_Epoch=20")
    if args.model:
        overrides["model"] = args.model
    if args.epochs is not None:
        overrides["UnFreeze_Epoch"] = args.epochs
    return cfg, overrides


def _cmd_train(args: argparse.Namespace) -> int:
    from segkit.data.files import resolve_voc_root

    cfg, overrides = recipe_from_args(args)
    if args.pretrained is not None:
        overrides["pretrained"] = args.pretrained
    if args.insert:
        from segkit.models._spec import parse_insert

        kwargs = dict(overrides.get("model_kwargs", cfg.model_kwargs))
        kwargs["stitches"] = list(kwargs.get("stitches") or []) + [parse_insert(t) for t in args.insert]
        overrides["model_kwargs"] = kwargs
    if args.precision is not None:
        overrides["precision"] = args.precision
    if args.channels_last is not None:
        overrides["channels_last"] = channels_last_value(args.channels_last)
    if not args.config:  # a profile's class count and weights follow the data; a --config file is the user's
        overrides = {**_fit_profile(cfg, overrides, args.data_root), **overrides}
    if overrides:
        cfg = cfg.replace(**overrides)
    resolve_voc_root(args.data_root)  # a wrong recipe or path is answered before torch is imported
    from segkit.engine import train

    _use_threads(args, args.device or cfg.device, cfg.num_workers)
    try:
        run = train(None, cfg, data_root=args.data_root, run_dir=args.run_dir, device=args.device,
                    resume=args.resume, resume_from=args.resume_from, progress=not args.no_progress, started=_STARTED)
    except KeyboardInterrupt:
        print(f"segkit train: interrupted; continue with: segkit train ... --run-dir {args.run_dir} --resume",
              file=sys.stderr)
        return 130
    print(f"run directory: {run}")
    return 0


def _use_threads(args: argparse.Namespace, device: str, workers: int | str = 0) -> None:
    """Set torch's and OpenCV's threads from the machine (or --threads) and print the choice."""
    from segkit.engine import resolve_device
    from segkit.runtime.threads import apply_threads, plan_threads

    plan = plan_threads(resolve_device(device).type, args.threads, workers)
    apply_threads(plan)
    print(f"[segkit] {plan.describe()}")


def _fit_profile(cfg: Any, overrides: dict[str, Any], data_root: str) -> dict[str, Any]:
    """The changes that fit `cfg` to the class count of `data_root`'s classes.txt (what --set names is kept)."""
    from segkit.data.files import read_class_names, resolve_voc_root

    try:
        names = read_class_names(resolve_voc_root(data_root))
    except FileNotFoundError:  # said by _cmd_train, after the config's own checks
        return {}
    if names is None:  # the dataset says what is missing when it is read
        return {}
    changes, note = cfg.class_changes(len(names), keep=overrides)
    if note:
        print(note)
    return changes


def _load(args: argparse.Namespace):
    from segkit.engine import load_run

    return load_run(args.run_dir, checkpoint=args.checkpoint, device="cpu")


def _data_root(args: argparse.Namespace, run) -> str:
    """--data-root, else the dataset the run trained on."""
    root = args.data_root or run.config.get("data", {}).get("root")
    if not root:
        raise ValueError("the run does not record its data root; pass --data-root")
    return root


def _precision(args: argparse.Namespace, model):
    """The resolved precision of --precision/--channels-last on --device, printed once."""
    from segkit.engine import resolve_device
    from segkit.runtime.precision import resolve_precision

    prec = resolve_precision(args.precision, channels_last_value(args.channels_last), resolve_device(args.device),
                             model)
    print(f"[segkit] {prec.describe()}")
    return prec


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from segkit.data import VOCSegmentation
    from segkit.inference.evaluate import crop_eval_scale, evaluate_confusion, extra_metrics_for
    from segkit.metrics import images_per_class, learning_lines

    _check_output_file(args.json, "--json")
    _use_threads(args, args.device)
    run = _load(args)
    tc = run.config["train"]
    root = _data_root(args, run)
    ds = VOCSegmentation(root, split=args.split or tc["val_split"], input_shape=tuple(tc["input_shape"]),
                         num_classes=run.config["model"]["num_classes"], ignore_index=tc["ignore_index"])
    per_image: list = []
    extra = extra_metrics_for(run.model, ds, ignore_index=tc["ignore_index"])  # boundary IoU, objects
    cm = evaluate_confusion(run.model, ds, device=args.device, max_images=args.max_images,
                            ignore_index=tc["ignore_index"], absent=tc.get("absent", "nan"),
                            progress=not args.no_progress, log_every=10, precision=_precision(args, run.model),
                            native=crop_eval_scale(tc), per_image=per_image, extra=extra)
    m = replace(cm.compute(), **extra.compute())
    m.report()
    for line in learning_lines(m, images_per_class(per_image)):
        print(line)
    if args.json:
        _write_text(args.json, json.dumps(m.as_dict(), indent=2))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from segkit.engine import predict
    from segkit.inference.evaluate import crop_eval_scale

    _use_threads(args, args.device)
    run = _load(args)
    inputs = [Path(p) for p in args.inputs]
    if args.split:
        from segkit.data.files import split_images

        inputs += split_images(_data_root(args, run), args.split)
    if not inputs:
        raise ValueError("nothing to predict: give image files or folders, or --split NAME (e.g. --split test)")
    unreadable: list[str] = []

    def skip(name: str, exc: Exception) -> None:  # keep going: one bad file must not cost the others
        unreadable.append(name)
        print(f"segkit predict: skipped {name}: {exc}", file=sys.stderr)

    results = predict(run.model, inputs if len(inputs) > 1 else inputs[0],
                      input_shape=tuple(run.config["train"]["input_shape"]), device=args.device,
                      mix_type=args.mix_type if not args.mix_type.isdigit() else int(args.mix_type),
                      out_dir=args.out, save_mask=args.save_mask, progress=not args.no_progress, on_error=skip,
                      precision=_precision(args, run.model), native=crop_eval_scale(run.config["train"]))
    print(f"wrote {len(results)} overlay(s) to {args.out}")
    if unreadable:
        print(f"segkit predict: error: {len(unreadable)} of {len(unreadable) + len(results)} image(s) could not be "
              f"read: {', '.join(unreadable)}", file=sys.stderr)
        return 1
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from segkit.engine import export_onnx

    run = _load(args)
    shape = tuple(args.input_shape) if args.input_shape else tuple(run.config["train"]["input_shape"])
    res = export_onnx(run.model, args.out, input_shape=shape, opset=args.opset, check=not args.no_check)
    print(json.dumps(res, indent=2))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the engine's subcommands on the ``segkit`` parser."""
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_export(sub)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model with a profile (quick/paper) and write a run directory",
        description="Train a model on a VOC-layout dataset and write a run directory: config.yaml, history.csv, "
                    "checkpoints/ (best.pt is chosen on the val split), metrics.json (scored on the test split when "
                    "the dataset has one). The recipe is a profile's train: section (quick: a short CPU recipe "
                    "with Adam; paper: the reference SGD recipe, 512 px, 100 epochs; see "
                    "segkit/profiles/*.yaml), changed by the options below.",
        epilog="examples:\n"
               "  segkit train --data-root data/mine --run-dir runs/mine/mbv2 --epochs 20\n"
               "  segkit train --data-root data/mine --run-dir runs/mine/mbv2-96 --set 'input_shape=[96,96]' "
               "--set Init_lr=1e-3\n"
               "  segkit train --data-root data/mine --run-dir runs/mine/sff --model sff-wadeeplab --profile paper\n"
               "  segkit train --data-root data/mine --run-dir runs/mine/mbv2 --resume   # after Ctrl-C\n"
               "The names for --set are the keys of a profile's train: section (TrainConfig fields).")
    p.add_argument("--data-root", required=True,
                   help="dataset folder: JPEGImages/, SegmentationClass/, ImageSets/Segmentation/{train,val}.txt, "
                        "classes.txt")
    p.add_argument("--run-dir", required=True, help="output run directory, e.g. runs/<experiment>/<name>")
    p.add_argument("--profile", default="quick", help="recipe: quick, paper, or a YAML file with a train: section")
    p.add_argument("--config", help="a TrainConfig YAML file (instead of --profile)")
    p.add_argument("--model", help="registered model name, see `segkit models` (default: the profile's)")
    p.add_argument("--epochs", type=int,
                   help="how many times training goes through all training images, in total (default: the "
                        "profile's; sets UnFreeze_Epoch)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="change one training setting, value in YAML (repeatable), e.g. --set 'input_shape=[96,96]' "
                        "--set Unfreeze_batch_size=8 --set optimizer_type=sgd")
    p.add_argument("--pretrained", metavar="SOURCE",
                   help="backbone weights: imagenet (downloaded into the torch/timm cache when online), a URL or a file")
    p.add_argument("--insert", action="append", metavar="PATH=MODULE[:WHERE][:gated]",
                   help="stitch a registered module into the model, e.g. backbone.features.7=cbam "
                        "(after; or :before, :replace; :gated blends it in through a zero-initialised gate, "
                        "e.g. backbone.features.7=cbam:gated); repeatable, recorded in config.yaml")
    p.add_argument("--device", default=None, help="auto (default: a GPU when there is one), cpu, cuda, cuda:1, mps")
    p.add_argument("--resume", action="store_true",
                   help="continue from run-dir/checkpoints/last.pt (an unreadable last.pt falls back to the newest "
                        "readable checkpoints/epNNN.pt)")
    p.add_argument("--resume-from", metavar="FILE", default=None,
                   help="continue from this checkpoint (e.g. run-dir/checkpoints/ep010.pt) instead of last.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_threads_arg(p)
    add_precision_args(p, None, None, note=" (default: the profile's)")
    p.set_defaults(func=_cmd_train)


def _add_run_args(q: argparse.ArgumentParser) -> None:
    """The arguments of every command that reads a run directory's checkpoint."""
    q.add_argument("run_dir", help="a run directory written by segkit train")
    q.add_argument("--checkpoint", default="best", help="best, best_loss, last, epNNN or a .pt path")
    q.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda, cuda:1, mps")
    q.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: the cores the data loader's workers leave; printed)")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="evaluate a run's checkpoint at the original resolution",
        description="Score a run's checkpoint on a split at each image's original size (letterboxed input, "
                    "prediction resized back): per-class IoU, recall (PA), precision and F1, their means and "
                    "the pixel accuracy, all from one confusion matrix; then boundary IoU per class and the "
                    "objects found by size with false positives per image (docs/metrics.md).",
        epilog="examples:\n  segkit evaluate runs/mine/mbv2 --split test\n"
               "  segkit evaluate runs/mine/mbv2 --checkpoint last --json metrics_last.json")
    _add_run_args(p)
    p.add_argument("--data-root", help="dataset folder (default: the one the run trained on)")
    p.add_argument("--split", help="split name, e.g. test (default: the run's val split)")
    p.add_argument("--max-images", type=int, help="score only the first N images (default: all)")
    p.add_argument("--json", help="also write the metrics as JSON here")
    _add_threads_arg(p)
    add_precision_args(p)
    p.set_defaults(func=_cmd_evaluate)


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="predict images/folders with a run's checkpoint and save overlays",
        description="Predict image files and folders with a run's checkpoint; write one PNG per image at its "
                    "original size (the prediction blended over the image, the mask alone, or the cut-out "
                    "objects), and with --save-mask the label map as a palette PNG.",
        epilog="examples:\n  segkit predict runs/mine/mbv2 photo.jpg --out predictions\n"
               "  segkit predict runs/mine/mbv2 --split test --out predictions      # the run's test images\n"
               "  segkit predict runs/mine/mbv2 data/mine/JPEGImages --out predictions --save-mask")
    _add_run_args(p)
    p.add_argument("inputs", nargs="*", help="image files or folders")
    p.add_argument("--split", metavar="NAME|FILE",
                   help="the images of a split of the dataset (test, val, ...) or of a .txt list of names")
    p.add_argument("--data-root", help="dataset of --split (default: the one the run trained on)")
    p.add_argument("--out", required=True, help="output folder for the PNG overlays (<image name>.png; a name taken "
                   "by another image or by an input file gets _2, _3 ...: inputs are never replaced)")
    p.add_argument("--mix-type", default="blend", help="blend (0), mask (1) or cutout (2)")
    p.add_argument("--save-mask", action="store_true", help="also save the label maps as palette PNGs")
    _add_threads_arg(p)
    add_precision_args(p)
    p.set_defaults(func=_cmd_predict)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-onnx", help="export a run's checkpoint to ONNX and check it with onnxruntime",
        description="Export a run's checkpoint to ONNX at a fixed input size (the run's, or --input-shape) and "
                    "compare the ONNX output with PyTorch's through onnxruntime (pip install onnx onnxruntime).",
        epilog="example:\n  segkit export-onnx runs/mine/mbv2 --out mbv2.onnx --input-shape 512 512")
    _add_run_args(p)
    p.add_argument("--out", required=True, help="the .onnx file")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    p.add_argument("--input-shape", type=int, nargs=2, metavar=("H", "W"), help="input height and width "
                   "(default: the run's input_shape)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    p.set_defaults(func=_cmd_export)
