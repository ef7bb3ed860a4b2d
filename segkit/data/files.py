"""The VOC layout on disk: dataset roots, class names, split lists, and images and masks read
with their checks (EXIF orientation, size limits, label values, the 0/255 binary mistake).

No torch here: ``segkit data`` tools and the commands' input checks read datasets through
this module, so a wrong path is answered before torch is imported. The dataset class that
builds on it is `segkit.data.voc.VOCSegmentation`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "DatasetError", "resolve_voc_root", "read_class_names", "read_split",
    "read_image", "open_image", "max_image_pixels", "image_size", "image_orientation", "read_mask", "read_text",
    "split_names", "duplicate_names", "split_images", "mask_counts", "binary_kind",
    "binary_export", "fix_binary_hint", "check_mask_values", "IMAGE_EXTS", "VOID", "NEAR_BINARY_SHARE",
]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
VOID = 255
# A 0/255 mask resized or rotated with smoothing keeps almost every pixel at 0 or 255; its edges get
# values in between. At least this share of 0/255 pixels marks such a "near-binary" mask.
NEAR_BINARY_SHARE = 0.99


class DatasetError(ValueError):
    """A problem with a dataset file; the message names the file and the fix."""


# ----------------------------------------------------------------------------- file helpers
def read_text(path: str | Path) -> str:
    """A dataset text file as UTF-8 whatever the locale, without a byte-order mark (Notepad writes one)."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                           "save it as UTF-8") from None


def resolve_voc_root(root: str | Path) -> Path:
    """Return the folder holding ``JPEGImages`` (accepts the ``VOCdevkit/VOC2007`` nestings)."""
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"dataset root {root} does not exist; create it with "
                                f"`segkit data synth {root}` or point to your VOC-layout folder")
    for cand in (root, root / "VOC2007", root / "VOCdevkit" / "VOC2007"):
        if (cand / "JPEGImages").is_dir():
            return cand
    raise FileNotFoundError(
        f"no JPEGImages/ folder under {root} (also looked in VOC2007/ and VOCdevkit/VOC2007/); "
        "expected the VOC layout JPEGImages/, SegmentationClass/, ImageSets/Segmentation/")


def read_class_names(root: str | Path) -> list[str] | None:
    """Class names from ``classes.txt`` in the VOC folder or the given root (None if absent)."""
    root = Path(root)
    for cand in (root / "classes.txt", root.parent / "classes.txt", root.parent.parent / "classes.txt"):
        if cand.is_file():
            names = [ln.strip() for ln in read_text(cand).splitlines() if ln.strip()]
            if not names:
                raise DatasetError(f"{cand} is empty; write one class name per line (background first)")
            dup = duplicate_names(names)
            if dup:
                name, first, second = dup[0]
                raise DatasetError(
                    f"{cand} names class {name!r} twice (as class {first} and class {second}), "
                    "so their metrics would be reported under one name; give each class its own name")
            return names
    return None


def split_names(text: str) -> list[str]:
    """The image names of a split file's text: one name per line, surrounding whitespace
    stripped (inner spaces kept: ``rope 01``), a trailing image extension dropped
    (``rope_00000.jpg`` -> ``rope_00000``, any case), blank lines skipped."""
    out = []
    for line in text.splitlines():
        name = line.strip()
        if not name:
            continue
        stem, ext = os.path.splitext(name)
        out.append(stem if stem and ext.lower() in IMAGE_EXTS else name)
    return out


def duplicate_names(names: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(name, first index, repeat index)`` for each repeat of a name in `names`."""
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        if n in seen:
            out.append((n, seen[n], i))
        else:
            seen[n] = i
    return out


def read_split(voc: Path, split: str) -> list[str]:
    """Names listed in ``ImageSets/Segmentation/<split>.txt`` (errors name the file and fix)."""
    split_dir = voc / "ImageSets" / "Segmentation"
    path = split_dir / f"{split}.txt"
    if not path.is_file():
        have = sorted(p.stem for p in split_dir.glob("*.txt")) if split_dir.is_dir() else []
        raise DatasetError(
            f"split file {path} not found (available splits: {have or 'none'}); write it with "
            f"`segkit data split {voc}` or pass one of the available split names")
    ids = split_names(read_text(path))
    if not ids:
        raise DatasetError(f"split file {path} is empty; regenerate it with `segkit data split {voc}`")
    return ids


def split_images(root: str | Path, split: str | Path) -> list[Path]:
    """The image files a split lists: a split name (``ImageSets/Segmentation/<split>.txt``) or a
    ``.txt`` file of names, one per line."""
    voc = resolve_voc_root(root)
    path = Path(split)
    if path.suffix == ".txt" and path.is_file():
        ids = [ln.strip().split()[0] for ln in read_text(path).splitlines() if ln.strip()]
    else:
        ids, path = read_split(voc, str(split)), voc / "ImageSets" / "Segmentation" / f"{split}.txt"
    images = _index_folder(voc / "JPEGImages", IMAGE_EXTS)
    missing = [n for n in ids if n not in images]
    if missing:
        raise DatasetError(f"{len(missing)} name(s) in {path} have no image in {voc / 'JPEGImages'} (first: "
                           f"{missing[0]!r}); fix the list or pass the dataset it belongs to with --data-root")
    return [images[n] for n in ids]


def _scan_folder(folder: Path, exts: Sequence[str]) -> tuple[dict[str, Path], list[tuple[Path, Path]]]:
    """name -> file for the files of `folder` with one of `exts`, and the pairs of files that share a name."""
    out: dict[str, Path] = {}
    clashes: list[tuple[Path, Path]] = []
    if folder.is_dir():
        with os.scandir(folder) as it:
            for e in sorted(it, key=lambda e: e.name):
                stem, ext = os.path.splitext(e.name)
                if ext.lower() not in exts:
                    continue
                if stem in out:
                    clashes.append((out[stem], Path(e.path)))
                else:
                    out[stem] = Path(e.path)
    return out, clashes


def _clash_message(a: Path, b: Path) -> str:
    return (f"{a} and {b} have the same name {a.stem!r}, and split files name images without an extension, "
            "so which one is read would depend on the folder order; remove or rename one of them")


def _index_folder(folder: Path, exts: Sequence[str]) -> dict[str, Path]:
    """name -> file in `folder`; two files with one name (``a.jpg`` and ``a.png``) are an error."""
    out, clashes = _scan_folder(folder, exts)
    if clashes:
        raise DatasetError(_clash_message(*clashes[0]) + (f" ({len(clashes)} names clash)" if len(clashes) > 1 else ""))
    return out


def _full_scale(peak: float) -> float:
    """The white level of integer image data: the smallest of 8/10/12/14/16-bit full scales
    holding `peak` (camera data in 16-bit PNGs often uses only 10-14 bits)."""
    for bits in (8, 10, 12, 14, 16):
        if peak <= 2 ** bits - 1:
            return float(2 ** bits - 1)
    return float(peak)


def binary_kind(counts: np.ndarray, num_classes: int | None = None) -> str | None:
    """``"binary"`` for a 0/255 mask, ``"near-binary"`` for a 0/255 mask whose edges were resampled
    (values that are neither a class index nor 255 on under 1 - `NEAR_BINARY_SHARE` of its pixels),
    else None. `counts`: pixels per value (`mask_counts`); `num_classes` (default 2) tells class
    indices from resampled values."""
    if not counts[VOID]:
        return None
    total, black_white = counts.sum(), counts[0] + counts[VOID]
    if black_white == total:
        return "binary"
    stray = counts[max(num_classes or 2, 1):VOID].sum()  # class indices and void are not stray
    return "near-binary" if stray and black_white >= NEAR_BINARY_SHARE * total else None


def binary_export(counts: Sequence[np.ndarray], num_classes: int | None = None) -> str | None:
    """``"binary"`` or ``"near-binary"`` when the masks are a black-and-white export (each is 0/255,
    near-binary or background only), whose foreground the dataset would read as void; else None."""
    kinds = [binary_kind(c, num_classes) for c in counts]
    if not any(kinds) or not all(k or c.sum() == c[0] for k, c in zip(kinds, counts)):
        return None
    return "near-binary" if "near-binary" in kinds else "binary"


def fix_binary_hint(root: str | Path, kind: str | None) -> str:
    """The command that turns a `binary_export` of `kind` into class indices."""
    threshold = " --threshold 128" if kind == "near-binary" else ""
    return f"`segkit data fix-binary {root}{threshold}`"


EXIF_ORIENTATION = 0x0112
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485  # PIL's decompression-bomb limit (about 9459 x 9459)


def max_image_pixels() -> int:
    """The largest image (in pixels) segkit opens: ``SEGKIT_MAX_IMAGE_PIXELS`` or PIL's default."""
    text = os.environ.get("SEGKIT_MAX_IMAGE_PIXELS", "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(float(text))
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"SEGKIT_MAX_IMAGE_PIXELS={text!r} must be a positive number of pixels, e.g. 400000000")
    return value


def open_image(path: str | Path, kind: str = "image") -> Image.Image:
    """``Image.open`` (header only) with segkit's size limit: an image over `max_image_pixels`
    (a decompression bomb, or a genuine huge scan) is a `DatasetError` naming the file, its
    size, the limit and ``SEGKIT_MAX_IMAGE_PIXELS``, never PIL's traceback."""
    limit = max_image_pixels()
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # segkit's own check below replaces PIL's (whose message names no file)
    try:
        im = Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    w, h = im.size
    if w * h > limit:
        im.close()
        raise DatasetError(
            f"{kind} {path} is {w}x{h} ({w * h / 1e6:.0f} Mpixel), over the limit of {limit} pixels that guards "
            f"against decompression bombs; if the file is genuine, resize it or raise the limit with the "
            f"environment variable SEGKIT_MAX_IMAGE_PIXELS={w * h}")
    return im


def _orientation(im: Image.Image) -> int:
    """The EXIF Orientation tag of an open image (1 = as stored; 2..8 = flipped and/or rotated)."""
    try:
        return int(im.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception:  # a broken EXIF block: show the pixels as stored, as most viewers do
        return 1


def image_orientation(path: str | Path) -> int:
    """The EXIF Orientation tag of an image file (1 when absent); reads the header only."""
    with open_image(path) as im:
        return _orientation(im)


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image as displayed (EXIF rotation applied), from the header only."""
    with open_image(path) as im:
        w, h = im.size
        return (h, w) if _orientation(im) in (5, 6, 7, 8) else (w, h)


def read_image(path: str | Path, return_mode: bool = False):
    """Open an image as 8-bit RGB (grayscale, RGBA, palette and 16-bit are converted), turned
    upright by its EXIF orientation (as photo viewers, and annotation tools, show it).

    Every user image segkit reads (training, evaluation, prediction, CAM) goes through here.

    16-bit data is scaled by the bit depth it really uses (the smallest of 8, 10, 12, 14 and
    16 bits that holds its maximum), so 12-bit camera data in a 16-bit PNG keeps its brightness.

    Args:
        path: image file.
        return_mode: also return the file's original PIL mode (``"L"``, ``"RGBA"``, ...).

    Returns:
        PIL RGB image, or ``(image, mode)`` with `return_mode`.

    Raises:
        DatasetError: the file is missing, truncated or not an image.
    """
    path = Path(path)
    try:
        with open_image(path) as im:
            im.load()
            mode = im.mode
            orientation = _orientation(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.float64)
                hi = _full_scale(a.max(initial=0))  # 12-bit data / 65535 would load near-black
                im = Image.fromarray(np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8))
            elif im.mode == "F":
                a = np.asarray(im, dtype=np.float64)
                a = a / 255.0 if a.max() > 1.0 else a
                im = Image.fromarray(np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8))
            rgb = im.convert("RGB")
            if orientation != 1:
                rgb.getexif()[EXIF_ORIENTATION] = orientation
                rgb = ImageOps.exif_transpose(rgb)
            return (rgb, mode) if return_mode else rgb
    except FileNotFoundError:
        raise DatasetError(f"image {path} not found; add it or remove its name from the split file") from None
    except DatasetError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"cannot decode image {path} ({exc}); the file is corrupt or truncated: "
                           "re-export it or remove its name from the split files") from None


def read_mask(path: str | Path, num_classes: int | None = None) -> np.ndarray:
    """Read a class-index mask as uint8 ``(H, W)`` with void = 255, validating its values.

    Accepts palette (``P``), grayscale (``L``), 16-bit (``I;16``) and grey-valued RGB PNGs.

    Args:
        path: the mask file.
        num_classes: when given, values ``>= num_classes`` other than 255 are an error.

    Raises:
        DatasetError: missing/corrupt file, colour-coded RGB mask, or out-of-range values.
    """
    path = Path(path)
    try:
        with open_image(path, "mask") as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im)
    except FileNotFoundError:
        raise DatasetError(f"mask {path} not found; every listed image needs a mask "
                           "SegmentationClass/<name>.png (or remove the name from the split file)") from None
    except DatasetError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"cannot decode mask {path} ({exc}); re-export it as a single-channel PNG") from None
    if arr.ndim == 3:
        if mode in ("LA", "PA"):
            arr = arr[..., 0]
        elif (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
            arr = arr[..., 0]  # grey stored as RGB
        else:
            raise DatasetError(
                f"mask {path} is a colour ({mode}) image; masks must be single-channel class indices. "
                "Convert the colours to indices (e.g. save as a palette PNG whose index = class)")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.max(initial=0) > VOID:
        raise DatasetError(f"mask {path} has values up to {int(arr.max())}; class indices must fit in 0..254 "
                           "(255 = void); remap the mask")
    arr = arr.astype(np.uint8)
    if num_classes is not None:
        check_mask_values(arr, path, num_classes)
    return arr


def check_mask_values(arr: np.ndarray, path: str | Path, num_classes: int) -> None:
    """Raise `DatasetError` when a uint8 mask holds values other than ``0..num_classes-1`` and 255."""
    bad = (arr >= num_classes) & (arr != VOID)
    if bad.any():
        vals = np.unique(arr[bad])
        shown = ", ".join(str(int(v)) for v in vals[:8]) + (" ..." if len(vals) > 8 else "")
        kind = binary_kind(np.bincount(arr.ravel(), minlength=256), num_classes)
        hint = (f" It looks like a {kind} 0/255 mask: run {fix_binary_hint('ROOT', kind)}." if kind else
                " If it is a black-and-white mask resized with smoothing (255 and values in between), run "
                f"{fix_binary_hint('ROOT', 'near-binary')}." if (arr == VOID).any() else "")
        raise DatasetError(
            f"mask {path} has values {shown} >= num_classes={num_classes} (only 0..{num_classes - 1} "
            f"and 255=void are allowed). Fix: pass the right num_classes / classes.txt, or remap "
            f"the mask values.{hint}")


def mask_counts(path: str | Path) -> np.ndarray:
    """Pixels per value ``0..255`` of a mask file."""
    return np.bincount(read_mask(path).ravel(), minlength=256)
