"""``segkit bench MODEL...`` and ``segkit cam RUN_DIR|MODEL IMAGE...``."""
from __future__ import annotations

import argparse
from pathlib import Path

from segkit.commands import add_precision_args, channels_last_value

__all__ = ["add_commands"]

# Kept here so building the parser does not import torch; tests check they match
# segkit.bench.MODES / PROTOCOLS and segkit.cam.CAM_METHODS.
_MODES = ("eager", "auto", "channels_last", "bn_fold", "bf16", "fp16", "compile", "onnxruntime")
_PROTOCOLS = ("median", "reference")
_CAM_METHODS = ("gradcam", "gradcam++", "hirescam", "eigencam", "xgradcam", "layercam")


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.replace("x", ",").split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"{what} must be integers separated by ',' or 'x' (e.g. 1,3,512,512); got {text!r}") from None


def _class_indices(text: str, names: list[str] | None, num_classes: int) -> list[int]:
    """``--classes`` as indices: each item a class name (the run's or --class-names) or an index."""
    known = list(names or [])
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item.isdigit() and int(item) < num_classes:
            out.append(int(item))
        elif item in known:
            out.append(known.index(item))
        else:
            choices = (", ".join(f"{i}={n}" for i, n in enumerate(known)) if known
                       else f"0..{num_classes - 1} (this model has no class names; give them with --class-names)")
            example = ",".join(known[1:3]) if len(known) > 2 else "1,2"
            raise ValueError(f"--classes {text!r}: {item!r} is not a class of this model; choose names or indices "
                             f"from {choices}, e.g. --classes {example}")
    if not out:
        raise ValueError(f"--classes {text!r} names no class; e.g. --classes 1,2")
    return out


def _load_model(spec: str, num_classes: int | None, checkpoint: str | None):
    """(model, name, class names, run dir or None) from a run directory or a registered name."""
    from segkit.runs import RunDir  # imports numpy: not at module level, so building the parser stays light

    path = Path(spec)
    if RunDir(path).config_path.is_file():
        from segkit.engine import load_run

        run = load_run(path, checkpoint=checkpoint or "best", device="cpu")
        names = (run.config.get("data") or {}).get("class_names")
        return run.model, path.name, names, path
    from segkit.models import build_model

    model = build_model(spec, num_classes=num_classes)
    if checkpoint:
        from segkit.engine import load_checkpoint

        state = load_checkpoint(checkpoint, map_location="cpu")
        model.load_state_dict(state.get("model", state))
    return model, spec, None, None


def _cmd_bench(args: argparse.Namespace) -> int:
    from segkit import bench

    shape = _ints(args.input, "--input") if args.input else [1, 3, args.size, args.size]
    modes = [m for m in (args.modes or "").split(",") if m]
    rows = []
    for spec in args.models:
        model, name, _, run_dir = _load_model(spec, args.num_classes, args.checkpoint)
        r = bench.profile(model, shape, args.device, runs=args.runs, warmup=args.warmup, protocol=args.protocol,
                          modes=modes, timing=not args.no_timing, name=name, precision=args.precision,
                          channels_last=channels_last_value(args.channels_last))
        print(r.summary())
        if run_dir is not None and args.write:
            from segkit.runs import RunDir

            print(f"  wrote {r.save(RunDir(run_dir).bench_path)}")
        rows.append(r)
    if args.csv or args.json:
        import json

        import pandas as pd

        df = pd.DataFrame([r.row() for r in rows])
        if args.csv:
            Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
            df.to_csv(args.csv, index=False)
            print(f"wrote {args.csv}")
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps([r.to_dict() for r in rows], indent=2), encoding="utf-8")
            print(f"wrote {args.json}")
    return 0


def _run_look(run_dir: Path | None, size: int | None) -> tuple[tuple[int, int], object]:
    """(letterbox size (H, W), class palette) for ``segkit cam``: the run's input size and its dataset's
    mask colours; a registered model without a run: `size` (default 512) and the default palette."""
    config = {}
    if run_dir is not None:
        from segkit.runs import RunDir

        config = RunDir(run_dir).read_config()
    shape = (config.get("train") or {}).get("input_shape")
    hw = (size, size) if size else (tuple(int(v) for v in shape) if shape else (512, 512))
    root = (config.get("data") or {}).get("root")
    palette = None
    if root and Path(root).is_dir():
        from segkit.data import mask_palette

        try:
            palette = mask_palette(root, (config.get("data") or {}).get("num_classes"))
        except (OSError, ValueError) as exc:  # the dataset changed since training: default colours still work
            print(f"class colours: {root} unreadable ({type(exc).__name__}); using the default palette")
    return hw, palette


def _cmd_cam(args: argparse.Namespace) -> int:
    import numpy as np

    from segkit import cam
    from segkit.data import letterbox
    from segkit.data.files import read_image

    model, name, names, run_dir = _load_model(args.model, args.num_classes, args.checkpoint)
    hw, palette = _run_look(run_dir, args.size)
    images, boxes = [], []
    for p in args.images:
        if not Path(p).is_file():
            raise FileNotFoundError(f"image {p!r} not found")
        canvas, info = letterbox(np.asarray(read_image(p)), hw)
        images.append(canvas)
        boxes.append(info)
    if args.class_names:
        names = [n.strip() for n in args.class_names.split(",")]
    k = getattr(model, "num_classes", None) or len(names or []) or 2
    classes = _class_indices(args.classes, names, k) if args.classes else list(range(1, k))
    out = Path(args.out)
    fig = cam.cam_grid({name: model}, images, classes, class_names=names, layer=args.layer, method=args.method,
                       palette=palette, crops=boxes, save=out, precision=args.precision,
                       channels_last=channels_last_value(args.channels_last))
    for (i, _), res in fig.cam_results.items():
        for note in res.notes:
            print(f"image {i}: {note}")
    print(f"wrote {out} (input {hw[0]}x{hw[1]}, letterbox bars cropped)")
    if args.attention:
        maps = cam.capture_attention(model, images[0])
        if not maps:
            print("no attention modules found (GGCA, CBAM, window/MobileViT attention, AttnGate)")
        else:
            att = out.with_name(out.stem + "_attention" + out.suffix)
            cam.plot_attention(images[0], maps, save=att, crop=boxes[0])
            print(f"wrote {att} ({len(maps)} attention maps)")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``bench`` and ``cam`` on the ``segkit`` command."""
    p = sub.add_parser("bench", help="params, FLOPs, latency/FPS and memory of models or runs",
                       description="Profile registered models (by name) or trained runs (a run directory).")
    p.add_argument("models", nargs="+", metavar="MODEL", help="registered model name or run directory")
    p.add_argument("--size", type=int, default=512, help="square input side (default 512, the paper's)")
    p.add_argument("--input", help="full input shape B,C,H,W (overrides --size)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    p.add_argument("--protocol", choices=_PROTOCOLS, default="median",
                   help="median: FPS = 1/median; reference: 1 warm-up + 100 runs, FPS = 1/mean")
    p.add_argument("--runs", type=int, help="timed runs (default: 30 median, 100 reference)")
    p.add_argument("--warmup", type=int, help="warm-up runs (default: 5 median, 1 reference)")
    p.add_argument("--modes", help=f"comma-separated extra modes, timed separately: {','.join(_MODES[1:])} "
                                   "(auto: what --precision/--channels-last resolve to, beside eager fp32)")
    p.add_argument("--num-classes", type=int, default=3, help="classes for registered models (default 3)")
    p.add_argument("--checkpoint", help="weights: a run's checkpoint name (best, last) or a .pt path")
    p.add_argument("--no-timing", action="store_true", help="params and FLOPs only")
    p.add_argument("--write", action="store_true", help="write bench.json into each run directory")
    add_precision_args(p, note="; used by the auto mode")
    p.add_argument("--csv", help="write the table as CSV")
    p.add_argument("--json", help="write every result as JSON")
    p.set_defaults(func=_cmd_bench)

    c = sub.add_parser("cam", help="Grad-CAM heat maps per class (and attention maps) for images",
                       description="Grad-CAM figure: image, prediction and one CAM per class, for each image. "
                                   "The model is a run directory (its weights and class names) or a registered "
                                   "model name (untrained unless --checkpoint).",
                       epilog="examples:\n  segkit cam runs/mine/mbv2 data/mine/JPEGImages/0001.jpg --classes road,car\n"
                              "  segkit cam runs/mine/mbv2 a.jpg b.jpg --layer backbone --attention --out cam.pdf")
    c.add_argument("model", metavar="RUN_DIR|MODEL", help="run directory or registered model name")
    c.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    c.add_argument("--classes", help="class names or indices, e.g. road,car or 3,8 (default: every class but 0)")
    c.add_argument("--class-names", help="comma-separated names for the titles (default: the run's, else indices)")
    c.add_argument("--layer", help="cam_layers role (backbone, neck, decoder) or module path (default: decoder)")
    c.add_argument("--method", choices=_CAM_METHODS, default="gradcam", help="CAM method")
    c.add_argument("--size", type=int, help="square letterbox size (default: the run's input size, else 512)")
    c.add_argument("--num-classes", type=int, default=3, help="classes for registered models (default 3)")
    c.add_argument("--checkpoint", help="a run's checkpoint name (best, last) or a .pt path")
    c.add_argument("--attention", action="store_true", help="also plot the attention maps of the first image")
    add_precision_args(c, "fp32", note=" (default fp32: exact gradients for the explanation)")
    c.add_argument("--out", default="figures/cam.png", help="output figure (PNG/PDF/SVG)")
    c.set_defaults(func=_cmd_cam)
