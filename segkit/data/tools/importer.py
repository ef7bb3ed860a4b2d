"""`import_dataset`: the common layouts of defect data, written in the VOC layout segkit trains on.

Layouts (``fmt``; ``"auto"`` picks one from what `src` holds):

* ``"folders"``: one folder per class, each with images and a black-and-white mask per
  image; the folder names the class. A folder without masks, or whose masks are all black,
  holds defect-free images (background only). Image names become ``<folder>_<stem>``.
* ``"flat"``: images and masks in one folder, mask values mapped to classes by a class map
  (``background,crack`` = values 0, 1; ``0=background,255=crack`` = explicit values).
* ``"labelme"``: Labelme ``*.json`` polygons (`convert_labelme`).

A mask is found beside its image as ``<stem>.png`` (next to a ``.jpg``) or
``<stem>_mask.*`` / ``_label.*`` / ``_gt.*``; an image without one is background only.
Black-and-white masks (folders, and a flat map of two classes) are cut at `threshold`,
so edges smoothed by resizing land on one side (`binarize`). The source is only read. The
destination must be new, empty, or an earlier import (``import.json``), whose files are
replaced; a failed import removes what it wrote.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ..colors import save_mask
from ..files import IMAGE_EXTS, VOID, DatasetError, read_mask
from .binary import binarize
from .labelme import convert_labelme
from .splits import write_splits

__all__ = ["import_dataset", "detect_layout", "parse_class_map", "LAYOUTS", "IMPORT_FILE"]

LAYOUTS = ("auto", "folders", "flat", "labelme")
IMPORT_FILE = "import.json"  # marks a folder made by import_dataset and lists the names it wrote
MASK_SUFFIXES = ("_mask", "_label", "_gt")


# ----------------------------------------------------------------------------- helpers
def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def detect_layout(src: Path) -> str:
    """``"labelme"`` when `src` holds ``*.json``, ``"folders"`` when a subfolder holds images, else ``"flat"``."""
    if any(src.glob("*.json")):
        return "labelme"
    if any(_image_files(d) for d in src.iterdir() if d.is_dir()):
        return "folders"
    return "flat"


def _mask_stem(stem: str) -> str | None:
    """The image stem a mask file's stem names (``a_mask`` -> ``a``), or None."""
    low = stem.lower()
    return next((stem[: -len(s)] for s in MASK_SUFFIXES if low.endswith(s) and len(stem) > len(s)), None)


def pair_files(folder: Path) -> list[tuple[str, Path, Path | None]]:
    """``(stem, image, mask or None)`` for every image in `folder` (not its subfolders)."""
    images: dict[str, list[Path]] = {}
    masks: dict[str, Path] = {}
    for p in _image_files(folder):
        target = _mask_stem(p.stem)
        if target is not None:
            masks[target] = p
        else:
            images.setdefault(p.stem, []).append(p)
    out = []
    for stem, files in images.items():
        if len(files) == 2 and sum(f.suffix.lower() == ".png" for f in files) == 1 and stem not in masks:
            image, mask = sorted(files, key=lambda f: f.suffix.lower() == ".png")  # x.jpg + x.png: x.png is the mask
            out.append((stem, image, mask))
        elif len(files) == 1:
            out.append((stem, files[0], masks.pop(stem, None)))
        else:
            raise DatasetError(f"{files[0]} and {files[1]} share the name {stem!r} and neither is a mask "
                               f"({stem}.png beside {stem}.jpg, or {stem}_mask.png); rename one of them")
        masks.pop(stem, None)
    if masks:
        stem, mask = next(iter(masks.items()))
        raise DatasetError(f"{mask} is a mask with no image {stem}.* beside it; add the image or move the mask away")
    return sorted(out)


def parse_class_map(text: str | Path) -> tuple[list[str], dict[int, int]]:
    """(class names, mask value -> class index) of ``--classes``: ``NAME`` or ``VALUE=NAME`` entries,
    comma-separated, or one per line in a file. A bare name's value is its position."""
    path = Path(str(text))
    entries = (path.read_text(encoding="utf-8-sig").splitlines() if path.is_file() else str(text).split(","))
    names, values = [], {}
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        value, sep, name = entry.partition("=")
        if not sep:
            value, name = str(len(names)), entry
        if not value.strip().isdigit() or not 0 <= int(value) <= 255 or not name.strip():
            raise DatasetError(f"class map entry {entry!r} (in {text}) must be NAME or VALUE=NAME with VALUE in "
                               "0..255, e.g. --classes background,crack or --classes 0=background,255=crack")
        values[int(value)] = len(names)
        names.append(name.strip())
    if len(names) < 2:
        raise DatasetError(f"the class map {str(text)!r} names {len(names)} class(es); give background and at least "
                           "one defect class, e.g. --classes background,crack")
    return names, values


def _check_size(image: Path, mask: np.ndarray, mask_path: Path) -> None:
    try:
        with Image.open(image) as im:
            w, h = im.size
    except OSError as exc:
        raise DatasetError(f"cannot read image {image} ({exc}); re-export it or move it out of the source") from None
    if mask.shape != (h, w):
        raise DatasetError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but image {image} is {w}x{h} "
                           "(WxH); re-export the mask at the image size")


def _flat_mask(path: Path, values: dict[int, int], threshold: int) -> np.ndarray:
    """A flat layout's mask as class indices: two classes are black and white (cut at `threshold`),
    more are mapped value by value (255 not in the map stays void)."""
    raw = read_mask(path)
    if len(values) == 2:
        return binarize(raw, threshold).astype(np.uint8)
    lut = np.full(256, -1, np.int16)
    lut[VOID] = VOID
    for value, index in values.items():
        lut[value] = index
    out = lut[raw]
    if (out < 0).any():
        bad = sorted(set(np.unique(raw[out < 0]).tolist()))[:8]
        raise DatasetError(f"mask {path} holds values {bad} that the class map {sorted(values)} does not name; add "
                           "them to --classes as VALUE=NAME")
    return out.astype(np.uint8)


# ----------------------------------------------------------------------------- the destination
def _claim(root: Path, src: Path) -> list[str]:
    """Refuse a destination segkit did not make; return the names an earlier import wrote there."""
    if root.resolve() == src.resolve() or root.resolve().is_relative_to(src.resolve()):
        raise DatasetError(f"the destination {root} is inside the source {src}; importing never writes into the "
                           "source: choose a folder outside it")
    if not root.exists():
        return []
    marker = root / IMPORT_FILE
    if marker.is_file():
        return list(json.loads(marker.read_text(encoding="utf-8")).get("names", []))
    theirs = sorted(p.name for p in root.iterdir())
    if theirs:
        shown = ", ".join(theirs[:4]) + (", ..." if len(theirs) > 4 else "")
        raise DatasetError(f"{root} is not empty ({shown}) and was not made by `segkit data import`; importing "
                           "would mix with those files: choose a new or empty folder")
    return []


def _remove_names(root: Path, names: Sequence[str]) -> None:
    for folder in ("JPEGImages", "SegmentationClass"):
        for name in names:
            for p in (root / folder).glob(f"{name}.*"):
                p.unlink()


# ----------------------------------------------------------------------------- the layouts
def _write_pair(root: Path, name: str, image: Path, mask: np.ndarray) -> None:
    shutil.copyfile(image, root / "JPEGImages" / f"{name}{image.suffix.lower()}")  # the bytes as they are
    save_mask(mask, root / "SegmentationClass" / f"{name}.png")


def _import_pairs(root: Path, pairs: Sequence[tuple[str, Path, Path | None]], to_classes: Callable[[Path], np.ndarray],
                  written: list[str], plain: list[Path]) -> None:
    """Write each (name, image, mask) pair; an image without a mask is background only."""
    for name, image, mask_path in pairs:
        if mask_path is None:
            with Image.open(image) as im:
                mask = np.zeros(im.size[::-1], np.uint8)
            plain.append(image)
        else:
            mask = to_classes(mask_path)
            _check_size(image, mask, mask_path)
        written.append(name)
        _write_pair(root, name, image, mask)


def _has_defect(pairs: Sequence[tuple[str, Path, Path | None]], threshold: int) -> bool:
    """Whether any mask of a class folder marks a pixel: a folder of all-black masks holds defect-free images."""
    return any(m is not None and binarize(read_mask(m), threshold).any() for _, _, m in pairs)


def _import_folders(src: Path, root: Path, threshold: int, written: list[str], plain: list[Path],
                    empty: list[str]) -> list[str]:
    loose = _image_files(src)
    if loose:
        raise DatasetError(f"{loose[0]} lies beside the class folders of {src}; move it into a class folder (or a "
                           "folder of defect-free images)")
    folders = [(d, pair_files(d)) for d in sorted(p for p in src.iterdir() if p.is_dir())]
    classes = ["background"] + [d.name for d, pairs in folders if _has_defect(pairs, threshold)]
    empty.extend(d.name for d, pairs in folders if any(m for _, _, m in pairs) and d.name not in classes)
    for d, pairs in folders:
        index = classes.index(d.name) if d.name in classes else 0
        named = [(f"{d.name}_{stem}", image, mask) for stem, image, mask in pairs]
        _import_pairs(root, named, lambda p: binarize(read_mask(p), threshold).astype(np.uint8) * index,
                      written, plain)
    if len(classes) < 2:
        raise DatasetError(f"no folder of {src} holds masks (<name>.png beside <name>.jpg, or <name>_mask.png); "
                           "each class folder needs one mask per defect image")
    return classes


def import_dataset(
    src: str | Path, root: str | Path, fmt: str = "auto", classes: str | Sequence[str] | None = None,
    threshold: int = 128, val_fraction: float = 0.1, test_fraction: float = 0.0, seed: int = 0,
    stratify: bool | None = True, skip_unknown: bool = False, allow_outside: bool = False,
    log: Callable[[str], object] | None = None,
) -> dict[str, list[str]]:
    """Import `src` (one of `LAYOUTS`) into the VOC layout at `root` and write its split lists.

    Args:
        src: the folder to import; only read.
        root: the dataset to write: JPEGImages/, SegmentationClass/, classes.txt,
            ImageSets/Segmentation/ (`write_splits`) and ``import.json``.
        fmt: ``"folders"``, ``"flat"``, ``"labelme"`` or ``"auto"`` (`detect_layout`).
        classes: the class map of ``"flat"`` and the class names of ``"labelme"``: a comma list,
            a file (`parse_class_map`) or a list of names. ``"folders"`` takes its classes
            from the folder names.
        threshold: black-and-white masks: values ``>= threshold`` are the class.
        val_fraction, test_fraction, seed, stratify: the split (`write_splits`).
        skip_unknown, allow_outside: Labelme options (`convert_labelme`).
        log: told what was decided (the layout, images imported without a mask).

    Returns:
        The split lists.

    Raises:
        DatasetError: a destination that is not empty and not an earlier import, or inside
            `src`; a missing class map; a mask without image, of another size, or with values
            the map does not name.
    """
    src, root = Path(src).expanduser(), Path(root).expanduser()
    if not src.is_dir():
        raise FileNotFoundError(f"source folder {src} does not exist")
    if fmt not in LAYOUTS:
        raise DatasetError(f"format {fmt!r} is not one of {', '.join(LAYOUTS)}")
    fmt = detect_layout(src) if fmt == "auto" else fmt
    text = ",".join(classes) if isinstance(classes, (list, tuple)) else classes
    if fmt == "folders" and text:
        raise DatasetError("--classes does not apply to the folders layout: the folder names are the classes")
    if fmt != "folders" and not text:
        raise DatasetError(f"the {fmt} layout of {src} needs the classes, background first: --classes "
                           "background,crack (or 0=background,255=crack, or a file with one entry per line)")
    earlier = _claim(root, src)
    made_root = not root.exists()
    written: list[str] = []
    plain: list[Path] = []
    empty: list[str] = []  # class folders whose masks are all background
    try:
        _remove_names(root, earlier)
        for sub in ("JPEGImages", "SegmentationClass"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        if fmt == "labelme":
            names, _ = parse_class_map(text)
            written += convert_labelme(src, root, names, skip_unknown=skip_unknown, allow_outside=allow_outside)
        elif fmt == "flat":
            names, values = parse_class_map(text)
            _import_pairs(root, pair_files(src), lambda p: _flat_mask(p, values, threshold), written, plain)
        else:
            names = _import_folders(src, root, threshold, written, plain, empty)
        if not written:
            raise DatasetError(f"no images in {src} (.jpg, .png, .bmp, .tif)")
        (root / "classes.txt").write_text("".join(f"{c}\n" for c in names), encoding="utf-8")
        record = {"source": str(src.resolve()), "format": fmt, "classes": names, "threshold": threshold,
                  "names": written}
        (root / IMPORT_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except BaseException:
        if made_root:  # everything there is this call's
            shutil.rmtree(root, ignore_errors=True)
        else:
            _remove_names(root, written)
        raise
    if log:
        log(f"{fmt} layout: {len(written)} image(s), classes {', '.join(names)}")
        if plain:
            log(f"{len(plain)} image(s) have no mask and are background only (e.g. {plain[0]})")
        for name in empty:
            log(f"folder {name}: every mask is background, so its images are defect-free (no class {name!r})")
    return write_splits(root, val_fraction, test_fraction, seed, force=True, stratify=stratify)
