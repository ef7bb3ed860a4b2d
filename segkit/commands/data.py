"""``segkit data ...`` subcommands: synth, import, split, check, fix-binary, labelme, augment, stats, panorama."""
from __future__ import annotations

import argparse

__all__ = ["add_commands"]


def _synth(a: argparse.Namespace) -> int:
    from segkit.data.synthetic import make_synthetic_wirerope

    root = make_synthetic_wirerope(
        a.root, n_images=a.n_images, size=a.size, seed=a.seed, noise=a.noise, blur=a.blur,
        p_corrosion=a.p_corrosion, p_broken_wire=a.p_broken_wire, p_both=a.p_both, damage_scale=a.damage_scale,
        distractors=a.distractors, val_fraction=a.val_fraction, test_fraction=a.test_fraction,
    )
    print(f"wrote {a.n_images} images ({a.size}x{a.size}) to {root}")
    return 0


def _fractions(a: argparse.Namespace) -> tuple[float, float]:
    """(val, test) fractions of --ratio, --val and --test."""
    val, test = (0.1, 0.1) if a.ratio == "8:1:1" else (0.1, 0.0)
    return (a.val if a.val is not None else val), (a.test if a.test is not None else test)


def _split(a: argparse.Namespace) -> int:
    from segkit.data.tools import write_splits

    val, test = _fractions(a)
    splits = write_splits(a.root, val_fraction=val, test_fraction=test, seed=a.seed, method=a.method,
                          group_by=None if a.no_group else "auto", force=a.force, stratify=a.stratify)
    print(_split_line(a.root, splits, a.method, a.seed))
    return 0


def _split_line(root, splits: dict[str, list[str]], method: str, seed: int) -> str:
    """``train 8, val 1, test 1  (method=grouped, stratified, seed=0)`` from what split.json records."""
    import json

    from segkit.data.files import resolve_voc_root

    meta = json.loads((resolve_voc_root(root) / "ImageSets" / "Segmentation" / "split.json").read_text("utf-8"))
    how = ", stratified by class" if meta.get("stratified") else ""
    return ", ".join(f"{k} {len(v)}" for k, v in splits.items()) + f"  (method={method}{how}, seed={seed})"


def _check(a: argparse.Namespace) -> int:
    from segkit.data.tools import check_dataset
    from segkit.data.files import read_class_names, resolve_voc_root

    per_class: dict[str, list[int]] = {}
    probs = check_dataset(a.root, num_classes=a.num_classes, splits=a.splits, per_class=per_class)
    if per_class:
        try:
            names = read_class_names(resolve_voc_root(a.root))
        except (OSError, ValueError):  # already reported as a problem
            names = None
        print(_class_table(per_class, names))
    for p in probs:
        print(p)
    n_err = sum(p.severity == "error" for p in probs)
    n_warn = len(probs) - n_err
    print(f"{n_err} error(s), {n_warn} warning(s) in {a.root}" if probs else f"{a.root}: no problems found")
    return 1 if n_err or (a.strict and n_warn) else 0


def _class_table(per_class: dict[str, list[int]], names: list[str] | None) -> str:
    """Images holding each class, one row per class and one column per split."""
    splits = list(per_class)
    k = len(next(iter(per_class.values())))
    labels = [names[c] if names and c < len(names) else f"class {c}" for c in range(k)]
    width = max(len(s) for s in labels + ["class"])
    rows = [f"{'class':<{width}}  " + "  ".join(f"{s:>8}" for s in splits)]
    rows += [f"{labels[c]:<{width}}  " + "  ".join(f"{per_class[s][c]:>8}" for s in splits) for c in range(k)]
    return "images per class and split:\n" + "\n".join(rows)


def _fix_binary(a: argparse.Namespace) -> int:
    from segkit.data.tools import fix_binary_masks

    fixed = fix_binary_masks(a.root, dry_run=a.dry_run, force=a.force, threshold=a.threshold, log=print)
    if not fixed:  # the log said why
        return 0
    verb = "would rewrite" if a.dry_run else "rewrote"
    rule = f"values >= {a.threshold} -> 1, the rest -> 0" if a.threshold else "255 -> 1"
    print(f"{verb} {len(fixed)} binary 0/255 mask(s) as 0/1 ({rule})")
    return 0


def _import(a: argparse.Namespace) -> int:
    from segkit.data.tools import import_dataset

    val, test = _fractions(a)
    splits = import_dataset(a.src, a.root, fmt=a.format, classes=a.classes, threshold=a.threshold,
                            val_fraction=val, test_fraction=test, seed=a.seed, stratify=a.stratify,
                            skip_unknown=a.skip_unknown, allow_outside=a.allow_outside, log=print)
    print(_split_line(a.root, splits, "grouped", a.seed))
    print(f"wrote {a.root}; next: segkit data check {a.root}")
    return 0


def _augment(a: argparse.Namespace) -> int:
    from segkit.data.tools import augment_dataset

    out = augment_dataset(a.root, a.out, ops=a.ops.split(","), copies_per_op=a.copies, seed=a.seed,
                          min_sharpness=a.min_sharpness)
    print(f"augmented dataset written to {out} (sources in {out}/sources.csv); now run `segkit data split {out}`")
    return 0


def _stats(a: argparse.Namespace) -> int:
    from segkit.data.files import resolve_voc_root

    resolve_voc_root(a.root)  # a wrong path is answered before the statistics import torch
    from segkit.data.stats import dataset_stats

    print(dataset_stats(a.root, split=a.split, max_images=a.max_images).summary())
    return 0


def _panorama(a: argparse.Namespace) -> int:
    from segkit.data.panorama import make_panoramic_dataset

    fov = None if a.no_warp else a.fov
    out = make_panoramic_dataset(a.src, a.root, fov=fov, source_fov=a.source_fov, splits=a.splits,
                                 max_images=a.max_images, start=a.start, size=tuple(a.size) if a.size else None,
                                 fill=a.fill, overwrite=a.overwrite)
    what = "pinhole copy (no warp)" if fov is None else f"panoramas (fov {a.fov} deg from {a.source_fov} deg)"
    print(f"wrote {what} of {a.src} to {out}")
    return 0


def add_commands(sub) -> None:
    """Register ``segkit data`` and its subcommands on the top-level subparsers."""
    p = sub.add_parser(
        "data", help="datasets: synthetic data, splits, checks, conversions, statistics",
        description="Prepare a dataset in VOC layout: ROOT/JPEGImages/<name>.jpg, ROOT/SegmentationClass/<name>.png "
                    "(one class index per pixel, 255 = ignore), ROOT/classes.txt (one class name per line, "
                    "background first) and split lists in ROOT/ImageSets/Segmentation/.",
        epilog="a new dataset:\n  segkit data import photos/ data/mine --ratio 8:1:1\n  segkit data check data/mine\n"
               "  segkit data stats data/mine --split train")
    ds = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    for add in (_add_synth, _add_import, _add_split, _add_check, _add_fix_binary, _add_labelme, _add_augment,
                _add_stats, _add_panorama):
        add(ds)


def _add_synth(ds: argparse._SubParsersAction) -> None:
    q = ds.add_parser("synth", help="write the synthetic wire-rope dataset",
                      description="Write a synthetic steel-wire-rope dataset (background, corrosion, broken wire) in "
                                  "VOC layout with seeded splits: data to try segkit on without your own.")
    q.add_argument("root", help="output dataset folder")
    q.add_argument("--n-images", type=int, default=200, help="number of images")
    q.add_argument("--size", type=int, default=256, help="image side in pixels")
    q.add_argument("--seed", type=int, default=0, help="random seed (same seed, same dataset)")
    q.add_argument("--noise", type=float, default=0.03, help="std of the sensor noise (intensity 0..1)")
    q.add_argument("--blur", type=float, default=0.8, help="largest blur sigma in pixels at 256 px")
    q.add_argument("--distractors", type=float, default=1.0,
                   help="expected hard negatives per kind and image (dirt, grease, bright cables)")
    q.add_argument("--p-corrosion", type=float, default=0.356, help="share of images with corrosion only")
    q.add_argument("--p-broken-wire", type=float, default=0.620, help="share of images with broken wires only")
    q.add_argument("--p-both", type=float, default=0.024, help="share of images with both")
    q.add_argument("--damage-scale", type=float, default=1.0, help="size multiplier of the damage")
    q.add_argument("--val-fraction", type=float, default=0.1, help="share of images in the val split")
    q.add_argument("--test-fraction", type=float, default=0.0, help="share of images in the test split")
    q.set_defaults(func=_synth)


def _add_split(ds: argparse._SubParsersAction) -> None:
    q = ds.add_parser("split", help="write ImageSets/Segmentation split lists (9:1 or 8:1:1, seeded)",
                      description="Write ROOT/ImageSets/Segmentation/{train,val,test,trainval}.txt from every image "
                                  "in JPEGImages/ that has a mask in SegmentationClass/. Seeded; augmented copies of "
                                  "one source (sources.csv) stay in one split; with classes.txt the split is "
                                  "stratified: each class in at least 3 images is in every split.",
                      epilog="examples:\n  segkit data split data/mine --ratio 8:1:1\n"
                             "  segkit data split data/mine --val 0.2 --test 0.2 --seed 1")
    q.add_argument("root", help="dataset folder (VOC layout)")
    q.add_argument("--ratio", choices=["9:1", "8:1:1"], default="9:1", help="train:val or train:val:test")
    q.add_argument("--val", type=float, default=None, help="val fraction (overrides --ratio)")
    q.add_argument("--test", type=float, default=None, help="test fraction (overrides --ratio)")
    q.add_argument("--seed", type=int, default=0, help="random seed of the shuffle")
    q.add_argument("--method", choices=["grouped", "reference"], default="grouped",
                   help="grouped: copies of one source stay together; reference: voc_annotation.py")
    q.add_argument("--no-group", action="store_true", help="ignore sources.csv")
    _add_split_args(q)
    q.set_defaults(func=_split)


def _add_split_args(q: argparse.ArgumentParser) -> None:
    """--stratify / --no-stratify and --force: shared by `data split` and `data import`."""
    q.add_argument("--stratify", action=argparse.BooleanOptionalAction, default=None,
                   help="keep every class in every split where it has >= 3 images, by the set of classes each "
                        "image holds (default: on when classes.txt exists)")
    q.add_argument("--force", action="store_true",
                   help="replace existing split files (each is kept as <name>.<time>.bak)")


def _add_check(ds: argparse._SubParsersAction) -> None:
    q = ds.add_parser("check", help="validate a dataset and print every problem",
                      description="Check a VOC-layout dataset completely and print every problem: missing or "
                                  "unreadable files, masks whose size differs from their image, label values "
                                  "outside 0..K-1 and 255, binary 0/255 masks and near-binary ones (smoothed edges), "
                                  "empty splits, classes absent from a split or in fewer than 3 of its images; "
                                  "prints the images per class and split. Exit code 1 on an error (with --strict "
                                  "also on a warning).")
    q.add_argument("root", help="dataset folder (VOC layout)")
    q.add_argument("--num-classes", type=int, default=None, help="expected class count (default: classes.txt)")
    q.add_argument("--splits", nargs="*", default=None,
                   help="split names to check, e.g. train val (default: every list in ImageSets/Segmentation)")
    q.add_argument("--strict", action="store_true", help="also fail on warnings")
    q.set_defaults(func=_check)


def _add_fix_binary(ds: argparse._SubParsersAction) -> None:
    q = ds.add_parser("fix-binary", help="rewrite binary 0/255 masks as 0/1",
                      description="Rewrite masks saved as 0/255 (black and white) as class indices 0/1, which is "
                                  "what training expects (255 means 'ignore'). Masks resized with smoothing have "
                                  "values in between at the edges (near-binary): --threshold 128 rewrites them too.",
                      epilog="examples:\n  segkit data fix-binary data/mine --dry-run\n"
                             "  segkit data fix-binary data/mine --threshold 128")
    q.add_argument("root", help="dataset folder (VOC layout)")
    q.add_argument("--dry-run", action="store_true", help="only say which masks would be rewritten")
    q.add_argument("--force", action="store_true", help="rewrite even if other masks hold more values")
    q.add_argument("--threshold", type=int, default=None, metavar="T",
                   help="also rewrite near-binary masks (0/255 with smoothed edges): values >= T become 1, the "
                        "rest 0, e.g. 128 (default: only exact 0/255 masks)")
    q.set_defaults(func=_fix_binary)


def _add_import(ds: argparse._SubParsersAction) -> None:
    q = ds.add_parser(
        "import", help="import images and masks (class folders, flat + class map, Labelme) as a VOC dataset",
        description="Write ROOT in the VOC layout (JPEGImages/, SegmentationClass/, classes.txt, split lists) from "
                    "SRC, which is only read. Layouts: folders: one folder per class with images and a 0/255 mask "
                    "per image (x.png beside x.jpg, or x_mask.png / x_label.png / x_gt.png), the folder naming the "
                    "class; a folder without masks holds defect-free images (background only). flat: images and "
                    "masks in one folder, --classes maps mask values to names. labelme: *.json polygons. "
                    "Black-and-white masks are cut at --threshold, so edges smoothed by resizing fall on one "
                    "side. ROOT must be new, empty or an earlier import.",
        epilog="examples:\n  segkit data import photos/ data/mine --ratio 8:1:1          # photos/crack/, photos/rust/, "
               "photos/ok/\n"
               "  segkit data import export/ data/mine --classes background,crack,rust   # flat: values 0, 1, 2\n"
               "  segkit data import export/ data/mine --classes 0=background,255=crack\n"
               "  segkit data import annotations/ data/mine --format labelme --classes background,crack")
    q.add_argument("src", help="the folder to import (never modified)")
    q.add_argument("root", help="output dataset root (new or empty)")
    q.add_argument("--format", choices=("auto", "folders", "flat", "labelme"), default="auto",
                   help="auto: labelme when SRC holds *.json, folders when it has subfolders of images, else flat")
    _add_import_args(q, classes_required=False)
    q.set_defaults(func=_import)


def _add_import_args(q: argparse.ArgumentParser, classes_required: bool) -> None:
    """The options of `data import` (also taken by `data labelme`)."""
    q.add_argument("--classes", required=classes_required, metavar="MAP",
                   help="class names, background first (values 0, 1, ...), or VALUE=NAME entries, comma-separated "
                        "or one per line in a file; flat and labelme layouts")
    q.add_argument("--threshold", type=int, default=128, help="black-and-white masks: values >= this are the class")
    q.add_argument("--ratio", choices=["9:1", "8:1:1"], default="9:1", help="train:val or train:val:test")
    q.add_argument("--val", type=float, default=None, help="val fraction (overrides --ratio)")
    q.add_argument("--test", type=float, default=None, help="test fraction (overrides --ratio)")
    q.add_argument("--seed", type=int, default=0, help="random seed of the split")
    q.add_argument("--stratify", action=argparse.BooleanOptionalAction, default=True,
                   help="keep every class in every split where it has >= 3 images")
    q.add_argument("--skip-unknown", action="store_true", help="labelme: skip shapes whose label is not in --classes")
    q.add_argument("--allow-outside", action="store_true",
                   help="labelme: read images whose imagePath points outside SRC (../x.jpg, absolute paths); "
                        "refused by default")


def _add_labelme(ds: argparse._SubParsersAction) -> None:
    q = ds.add_parser("labelme", help="convert Labelme JSON polygons to a VOC-layout dataset (= import --format labelme)",
                      description="Convert Labelme *.json polygon annotations (and their images) into a VOC-layout "
                                  "dataset with classes.txt and split lists: `segkit data import --format labelme`.",
                      epilog="example:\n  segkit data labelme annotations/ data/mine --classes background,crack,rust")
    q.add_argument("src", help="folder with *.json (and the images)")
    q.add_argument("root", help="output dataset root (new or empty)")
    _add_import_args(q, classes_required=True)
    q.set_defaults(func=_import, format="labelme")


def _add_augment(ds: argparse._SubParsersAction) -> None:
    q = ds.add_parser("augment", help="offline augmentation recording each copy's source",
                      description="Write augmented copies (rotation, mirror, scale, brightness) of every image and "
                                  "mask, recording each copy's source in sources.csv so `segkit data split` keeps "
                                  "copies of one image in one split.")
    q.add_argument("root", help="dataset folder (VOC layout)")
    q.add_argument("--out", default=None, help="output root (default: in place)")
    q.add_argument("--ops", default="rotate,mirror,scale,brightness",
                   help="comma-separated: rotate, mirror, scale, brightness, blur")
    q.add_argument("--copies", type=int, default=1, help="copies per operation and image")
    q.add_argument("--min-sharpness", type=float, default=None,
                   help="drop sources whose Laplacian variance is below this (blurry images)")
    q.add_argument("--seed", type=int, default=0, help="random seed")
    q.set_defaults(func=_augment)


def _add_stats(ds: argparse._SubParsersAction) -> None:
    q = ds.add_parser("stats", help="class pixel shares, images per class, objects, mean/std",
                      description="Print dataset statistics: each class's share of pixels, images per class, object "
                                  "counts and sizes, image sizes and the per-channel mean/std.")
    q.add_argument("root", help="dataset folder (VOC layout)")
    q.add_argument("--split", default=None, help="split name, e.g. train (default: trainval when listed, else train)")
    q.add_argument("--max-images", type=int, default=None, help="read only the first N images (default: all)")
    q.set_defaults(func=_stats)


def _add_panorama(ds: argparse._SubParsersAction) -> None:
    q = ds.add_parser("panorama", help="a synthetic panoramic target: warp a VOC dataset to a wider equirectangular view",
                      description="Write a synthetic panoramic domain from a VOC-layout dataset: every image and mask is "
                                  "warped (masks by nearest neighbour) from a pinhole view of --source-fov degrees to an "
                                  "equirectangular-style view of --fov degrees. Example: segkit data panorama "
                                  "data/camvid data/camvid-pano --fov 120 --max-images 48")
    q.add_argument("src", help="VOC-layout dataset (e.g. CamVid)")
    q.add_argument("root", help="output dataset root")
    q.add_argument("--fov", type=float, default=120.0, help="horizontal field of view of the panorama (degrees)")
    q.add_argument("--source-fov", type=float, default=90.0, help="field of view assumed for the source images")
    q.add_argument("--no-warp", action="store_true", help="copy the same images unwarped (the pinhole side)")
    q.add_argument("--splits", nargs="*", default=None, help="splits to copy (default: train/val/test present)")
    q.add_argument("--max-images", type=int, default=None, help="images per split")
    q.add_argument("--start", type=int, default=0, help="first image of each split list")
    q.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="resize to H W first")
    q.add_argument("--fill", choices=["reflect", "void"], default="reflect",
                   help="beyond the source's view: mirrored content, or grey with void labels")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_panorama)
