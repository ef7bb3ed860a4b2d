"""`check_dataset`: every check on every file of a VOC-layout dataset, all problems in one list."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..files import (IMAGE_EXTS, NEAR_BINARY_SHARE, VOID, DatasetError, _clash_message, _scan_folder, binary_export,
                   binary_kind, check_mask_values, duplicate_names, fix_binary_hint, image_orientation,
                   read_class_names, read_image, read_mask, read_text, resolve_voc_root, split_names)


@dataclass(frozen=True)
class Problem:
    """One finding of `check_dataset`."""

    severity: str  # "error" or "warning"
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.upper():7s} {self.path}: {self.message}"


MIN_EVAL_IMAGES = 10  # below this, one image moves a split's mIoU by whole points
MIN_CLASS_IMAGES = 3  # below this, a class's IoU in a split rests on one or two images


def check_dataset(root: str | Path, num_classes: int | None = None, splits: Sequence[str] | None = None,
                  per_class: dict[str, list[int]] | None = None) -> list[Problem]:
    """Validate a VOC-layout dataset completely and return every problem found.

    Checks: layout; classes.txt vs `num_classes`; each split file exists and is
    non-empty; every listed name has an image and a mask; no two files share a name
    (``a.jpg`` and ``a.png``); every image decodes (grayscale/RGBA/16-bit images are
    reported as warnings: they are converted to RGB); every mask decodes, is
    single-channel, matches its image's size and holds only ``0..num_classes-1`` and 255;
    binary 0/255 masks and near-binary ones (resampled edges, `NEAR_BINARY_SHARE`) over every
    mask. Warnings: images without masks and masks without images, a class in fewer than
    `MIN_CLASS_IMAGES` images of a split (none: its IoU there is undefined), and an
    evaluation split of fewer than `MIN_EVAL_IMAGES` images.

    Args:
        root: dataset root.
        num_classes: expected classes (default: classes.txt; without it, value checks
            only flag > 255 and the binary pattern).
        splits: split names to check (default: every ``*.txt`` in ImageSets/Segmentation).
        per_class: when given, filled with split -> the number of images holding each class.

    Returns:
        A list of `Problem` (empty = clean).
    """
    probs: list[Problem] = []
    try:
        voc = resolve_voc_root(root)
    except FileNotFoundError as exc:
        return [Problem("error", str(root), str(exc))]
    try:
        names = read_class_names(voc)
    except DatasetError as exc:
        probs.append(Problem("error", str(voc / "classes.txt"), str(exc)))
        names = None
    if num_classes is None and names is not None:
        num_classes = len(names)
    elif names is not None and num_classes != len(names):
        probs.append(Problem("error", str(voc / "classes.txt"),
                             f"lists {len(names)} classes but num_classes={num_classes}; make them agree"))
    if not (voc / "SegmentationClass").is_dir():
        probs.append(Problem("error", str(voc / "SegmentationClass"), "folder missing; masks go in SegmentationClass/<name>.png"))
    images, clashes = _scan_folder(voc / "JPEGImages", IMAGE_EXTS)
    masks, mask_clashes = _scan_folder(voc / "SegmentationClass", (".png",))
    for a, b in clashes + mask_clashes:
        probs.append(Problem("error", str(b), _clash_message(a, b)))
    split_ids = _check_split_files(voc, root, splits, images, masks, probs)
    listed = set().union(*split_ids.values()) if split_ids else set()
    for n in sorted(set(images) - set(masks)):
        if n not in listed:
            probs.append(Problem("warning", str(images[n]), "image has no mask (not listed in any split)"))
    for n in sorted(set(masks) - set(images)):
        if n not in listed:
            probs.append(Problem("warning", str(masks[n]), "mask has no image (not listed in any split)"))
    counts, value_errors = _check_files(images, masks, num_classes, probs)
    _check_binary_masks(voc, root, counts, num_classes, value_errors, probs)
    values = {n: set(np.flatnonzero(c).tolist()) for n, c in counts.items()}
    _check_split_contents(voc, root, split_ids, values, num_classes, names, probs, per_class)
    return probs


def _check_split_files(voc: Path, root, splits, images: dict, masks: dict, probs: list[Problem]) -> dict[str, list[str]]:
    """Read each split file, report missing/empty files and unknown names; return split -> names."""
    split_dir = voc / "ImageSets" / "Segmentation"
    if splits is None:
        splits = sorted(p.stem for p in split_dir.glob("*.txt")) if split_dir.is_dir() else []
        if not splits:
            probs.append(Problem("error", str(split_dir), f"no split files; write them with `segkit data split {root}`"))
    out: dict[str, list[str]] = {}
    for sp in splits:
        path = split_dir / f"{sp}.txt"
        if not path.is_file():
            probs.append(Problem("error", str(path), f"split file missing; write it with `segkit data split {root}`"))
            continue
        try:
            ids = split_names(read_text(path))
        except DatasetError as exc:
            probs.append(Problem("error", str(path), str(exc)))
            continue
        if not ids and sp != "test":  # an empty test split is normal (the reference's 9:1)
            probs.append(Problem("error", str(path), f"split file is empty; regenerate it with `segkit data split {root}`"))
        dup = sorted({d[0] for d in duplicate_names(ids)})
        if dup:
            probs.append(Problem("warning", str(path),
                                 f"lists {len(dup)} name(s) more than once ({', '.join(map(repr, dup[:5]))}"
                                 f"{' ...' if len(dup) > 5 else ''}): those images count twice; training refuses "
                                 "it: remove the repeated lines"))
        for n in dict.fromkeys(ids):
            if n not in images:
                probs.append(Problem("error", str(voc / "JPEGImages" / f"{n}.jpg"),
                                     f"listed in {path.name} but the image does not exist; add it or remove the name"))
            if n not in masks:
                probs.append(Problem("error", str(voc / "SegmentationClass" / f"{n}.png"),
                                     f"listed in {path.name} but the mask does not exist; add it or remove the name"))
        out[sp] = ids
    return out


def _check_files(images: dict, masks: dict, num_classes: int | None,
                 probs: list[Problem]) -> tuple[dict[str, np.ndarray], list[Problem]]:
    """Decode every image and mask; return (name -> pixels per value of its mask (readable masks only),
    the value errors of 0/255 masks: reported one by one only when the set is not a 0/255 export)."""
    counts: dict[str, np.ndarray] = {}
    value_errors: list[Problem] = []
    converted: dict[str, list[Path]] = {}  # image mode -> files read as RGB: one line per mode, not per image
    for n in sorted(set(images) | set(masks)):
        size = None
        if n in images:
            try:
                img, mode = read_image(images[n], return_mode=True)
                size = img.size
                if mode != "RGB":
                    converted.setdefault(mode, []).append(images[n])
                orientation = image_orientation(images[n])
                if orientation != 1:
                    probs.append(Problem("warning", str(images[n]),
                                         f"carries EXIF orientation {orientation}: it is read turned upright "
                                         f"({img.size[0]}x{img.size[1]} WxH), as viewers and annotation tools "
                                         "show it; its mask must match that view (re-save the image upright "
                                         "to silence this)"))
            except (DatasetError, OSError) as exc:
                probs.append(Problem("error", str(images[n]), str(exc)))
        if n in masks:
            try:
                m = read_mask(masks[n])
                counts[n] = np.bincount(m.ravel(), minlength=256)
                if size is not None and (m.shape[1], m.shape[0]) != size:
                    probs.append(Problem("error", str(masks[n]),
                                         f"mask is {m.shape[1]}x{m.shape[0]} but image {images[n].name} is "
                                         f"{size[0]}x{size[1]} (WxH); re-export the mask at the image size"))
                if num_classes is not None:
                    check_mask_values(m, masks[n], num_classes)
            except DatasetError as exc:
                exported = n in counts and binary_kind(counts[n], num_classes)
                (value_errors if exported else probs).append(Problem("error", str(masks[n]), str(exc)))
    for mode, files in converted.items():
        probs.append(Problem("warning", str(files[0]),
                             f"{len(files)} image(s) of mode {mode}{' (grayscale)' if mode in ('L', 'I;16', 'I') else ''}"
                             f" (this one first) are converted to 8-bit RGB at load; convert the files to RGB to "
                             "silence this"))
    return counts, value_errors


def _check_binary_masks(voc: Path, root, counts: dict[str, np.ndarray], num_classes: int | None,
                        value_errors: list[Problem], probs: list[Problem]) -> None:
    kind = binary_export(list(counts.values()), num_classes)
    if kind == "near-binary":  # one line for the whole set instead of one value error per mask
        near = [c for c in counts.values() if binary_kind(c, num_classes)]
        share = sum(c[0] + c[VOID] for c in near) / sum(c.sum() for c in near)
        probs.append(Problem("error", str(voc / "SegmentationClass"),
                             f"{len(near)} of {len(counts)} mask(s) are near-binary 0/255: {share:.2%} of their "
                             f"pixels are 0 or 255 (at least {NEAR_BINARY_SHARE:.0%}), the others are edges "
                             "smoothed by resizing. Fix: " + fix_binary_hint(root, kind) +
                             " (>= 128 -> 1, the rest -> 0)"))
        return
    probs.extend(value_errors)
    n_binary = sum(binary_kind(c) == "binary" for c in counts.values())
    if kind == "binary" or (n_binary and num_classes == 2):
        probs.append(Problem("error", str(voc / "SegmentationClass"),
                             f"{n_binary} of {len(counts)} mask(s) are binary 0/255 and no mask holds another class: "
                             f"255 is read as void, so the foreground is ignored. Fix: `segkit data fix-binary {root}` "
                             "(rewrites 255 -> 1)"))
    elif n_binary:
        probs.append(Problem("warning", str(voc / "SegmentationClass"),
                             f"{n_binary} mask(s) contain only 0 and 255 (background + void); if 255 is meant as "
                             f"a class, run `segkit data fix-binary {root} --force`"))


def _check_split_contents(voc: Path, root, split_ids: dict[str, list[str]], values: dict[str, set[int]],
                          num_classes: int | None, names: list[str] | None, probs: list[Problem],
                          per_class: dict[str, list[int]] | None) -> None:
    """Warn about classes absent from a split or in too few of its images, and evaluation splits too
    small to measure with; fill `per_class` with the images holding each class per split."""
    split_dir = voc / "ImageSets" / "Segmentation"
    listed = set().union(*split_ids.values()) if split_ids else set()
    for sp, ids in split_ids.items():
        if not ids:
            continue
        path = str(split_dir / f"{sp}.txt")
        evaluated = sp not in ("train", "trainval")
        if evaluated and len(ids) < MIN_EVAL_IMAGES:
            probs.append(Problem("warning", path,
                                 f"the {sp} split has only {len(ids)} image(s): its metrics move by whole points with "
                                 f"one image; use at least {MIN_EVAL_IMAGES} (e.g. `segkit data split --val 0.2`)"))
        if num_classes is None:
            continue
        held = _images_per_class(ids, values, num_classes)
        if per_class is not None:
            per_class[sp] = held
        for c, k in enumerate(held):
            if k >= MIN_CLASS_IMAGES:
                continue
            label = f"class {c}" + (f" ({names[c]})" if names and c < len(names) else "")
            in_all = _images_per_class(listed, values, num_classes)[c]
            fix = _few_images_fix(root, sp, k, in_all)
            if k == 0:
                why = ("the model cannot learn it" if not evaluated else
                       "its IoU there is undefined (NaN; 0 with absent='zero') and mIoU averages fewer classes")
                probs.append(Problem("warning", path, f"{label} has no pixel in the {len(ids)} image(s) of the {sp} "
                                                      f"split: {why}; {fix}"))
            else:
                probs.append(Problem("warning", path, f"{label} is in only {k} image(s) of the {sp} split (fewer "
                                                      f"than {MIN_CLASS_IMAGES}): its scores there rest on {k} "
                                                      f"image(s); {fix}"))


def _few_images_fix(root: Path | str, split: str, held: int, in_all: int) -> str:
    """What gives a class more images of `split`: the stratified split puts a class of >= 3 images in
    every split, but only a larger evaluation split (or more images) gives it more there."""
    if in_all < MIN_CLASS_IMAGES:
        return f"add images that contain it (it is in {in_all} in all)"
    if held == 0:
        return f"`segkit data split {root} --stratify --force` puts it in every split"
    if split in ("val", "test"):
        return (f"a larger {split} split gives it more (it is in {in_all} images in all), e.g. "
                f"`segkit data split {root} --{split} 0.2 --force`")
    return f"add images that contain it (it is in {in_all} in all)"


def _images_per_class(ids, values: dict[str, set[int]], num_classes: int) -> list[int]:
    """How many of the images `ids` hold each class."""
    return [sum(c in values.get(n, ()) for n in ids) for c in range(num_classes)]
