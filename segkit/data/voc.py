"""VOC-layout segmentation dataset (the reference workflow's format, ``docs/training.md``).

Layout (any of ``root``, ``root/VOC2007``, ``root/VOCdevkit/VOC2007``)::

    JPEGImages/<name>.jpg                   RGB images (.jpg/.jpeg/.png/.bmp accepted)
    SegmentationClass/<name>.png            single-channel masks, value = class index, 255 = void
    ImageSets/Segmentation/<split>.txt      one name per line (spaces inside kept, an image extension dropped)
    classes.txt                             optional, one class name per line

Cheap checks (layout, split file, every listed image and mask exists, one file per name,
binary 0/255 masks over every mask) run at construction; full checks (decoding, sizes,
label values) run per item. Text files are read as UTF-8 (a byte-order mark is dropped).
``segkit data check ROOT`` (`segkit.data.tools.check_dataset`) runs every check on every
file and reports all problems in one pass.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from .colors import first_mask_palette
from .transforms import LetterboxInfo, TrainAugment, letterbox, letterbox_mask, to_tensor_pair

__all__ = [
    "VOCSegmentation", "DatasetError", "resolve_voc_root", "read_class_names", "read_split",
    "read_image", "open_image", "max_image_pixels", "image_size", "image_orientation", "read_mask", "read_text",
    "split_names", "duplicate_names", "split_images", "mask_counts", "binary_kind",
    "binary_export", "IMAGE_EXTS", "NEAR_BINARY_SHARE",
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


def _check_pad_label(pad_label: int | None, num_classes: int) -> int | None:
    if pad_label is None:
        return None
    if isinstance(pad_label, bool) or not isinstance(pad_label, (int, np.integer)) or not 0 <= pad_label < num_classes:
        raise ValueError(f"pad_label={pad_label!r} must be a class index 0..{num_classes - 1} (0 = the reference's "
                         "background) or None (padding = ignore_index, not learnt)")
    return int(pad_label)


# ----------------------------------------------------------------------------- dataset
class VOCSegmentation(Dataset):
    """VOC-layout semantic-segmentation dataset with the reference's transforms.

    Items are ``(image, mask)``: image FloatTensor ``(3, H, W)`` = RGB/255 (no
    mean/std normalisation), mask LongTensor ``(H, W)`` of class indices with void
    pixels (value 255 in the PNG) set to `ignore_index`. With ``augment=True`` the
    reference's random training transform (`TrainAugment`) is applied, otherwise the
    letterbox to `input_shape`.

    Randomness is drawn from ``numpy.random.default_rng([seed, epoch, index])``, so a
    sample depends only on (seed, epoch, index), also with ``DataLoader(num_workers>0)``.
    Call `set_epoch` before each epoch for fresh augmentations (with
    ``persistent_workers=True`` the workers keep the epoch they were started with).

    Args:
        root: dataset folder (``root``, ``root/VOC2007`` or ``root/VOCdevkit/VOC2007``).
        split: name of the split file in ``ImageSets/Segmentation``.
        input_shape: ``(H, W)`` of the returned tensors.
        augment: True for the training transform, False for the letterbox, or a
            configured `TrainAugment`.
        num_classes: number of classes; defaults to the length of ``classes.txt``.
        ignore_index: label given to void pixels.
        seed: augmentation seed.
        pad_label: label of padded areas (letterbox bars, augmentation canvas and rotation
            borders). None (default): `ignore_index`, so the loss and the metrics skip
            them; 0: background, as the reference does (then class 0 is also learnt on the
            grey padding).
        check_binary: check every mask at construction for the 0/255 binary mistake
            (``--set check_binary=false`` on the command line turns it off).

    Attributes:
        root, voc_root, split, ids, class_names, num_classes, ignore_index.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        input_shape: int | Sequence[int] = (512, 512),
        augment: bool | TrainAugment = False,
        num_classes: int | None = None,
        ignore_index: int = 255,
        seed: int = 0,
        pad_label: int | None = None,
        check_binary: bool = True,
    ) -> None:
        self.root = Path(root)
        self.voc_root = resolve_voc_root(self.root)
        self.split = split
        self.input_shape = (input_shape, input_shape) if isinstance(input_shape, int) else tuple(int(v) for v in input_shape)
        if len(self.input_shape) != 2 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be (height, width) > 0, got {input_shape!r}")
        names = read_class_names(self.voc_root)
        if num_classes is None:
            if names is None:
                raise ValueError(f"num_classes is None and there is no classes.txt in {self.voc_root}; "
                                 "pass num_classes=K or write classes.txt (one name per line)")
            num_classes = len(names)
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if names is not None and len(names) != num_classes:
            raise ValueError(f"num_classes={num_classes} but classes.txt lists {len(names)} classes {names}; "
                             "pass num_classes=None to use classes.txt or fix the file")
        self.num_classes = int(num_classes)
        self.class_names = list(names) if names is not None else [f"class_{i}" for i in range(num_classes)]
        if 0 <= ignore_index < self.num_classes:
            raise ValueError(f"ignore_index={ignore_index} collides with a class index (0..{self.num_classes - 1}); "
                             "use 255 (default) or a negative value such as -100")
        self.ignore_index = int(ignore_index)
        self.seed = int(seed)
        self.epoch = 0
        self._warned_mode = False
        self.pad_label = _check_pad_label(pad_label, self.num_classes)
        self.mask_fill = VOID if pad_label is None else int(pad_label)  # in the uint8 mask, where void = 255
        if isinstance(augment, TrainAugment):
            self.augment = augment
        elif augment:
            self.augment = TrainAugment(self.input_shape, mask_fill=self.mask_fill)
        else:
            self.augment = None

        self.ids = read_split(self.voc_root, split)
        images = _index_folder(self.voc_root / "JPEGImages", IMAGE_EXTS)
        masks = _index_folder(self.voc_root / "SegmentationClass", (".png",))
        split_file = self.voc_root / "ImageSets" / "Segmentation" / f"{split}.txt"
        miss_img = [n for n in self.ids if n not in images]
        if miss_img:
            raise DatasetError(
                f"{len(miss_img)} name(s) in {split_file} have no image in {self.voc_root / 'JPEGImages'} "
                f"(first: {miss_img[0]!r}); add the images or regenerate the split with `segkit data split`")
        miss_mask = [n for n in self.ids if n not in masks]
        if miss_mask:
            raise DatasetError(
                f"{len(miss_mask)} image(s) listed in {split_file} have no mask "
                f"{self.voc_root / 'SegmentationClass'}/<name>.png (first: {miss_mask[0]!r}); "
                "add the masks or remove those names from the split")
        self.image_paths = [images[n] for n in self.ids]
        self.mask_paths = [masks[n] for n in self.ids]
        if check_binary:
            self._check_binary()

    def _check_binary(self) -> None:
        # every mask: a sample misses a set where a few masks are 0/255 and the rest background only
        counts = [mask_counts(p) for p in self.mask_paths]
        kind = binary_export(counts, self.num_classes)
        if kind:
            first = next(p for p, c in zip(self.mask_paths, counts) if c[VOID])
            n = sum(bool(c[VOID]) for c in counts)
            edges = ", with values in between at the edges" if kind == "near-binary" else ""
            raise DatasetError(
                f"masks in {self.voc_root / 'SegmentationClass'} look {kind} 0/255 ({n} of {len(counts)} hold 255"
                f"{edges}, e.g. {first}; the others only 0): 255 is read as void/ignore, so the foreground would "
                f"never be learnt. Fix: run {fix_binary_hint(self.root, kind)} (rewrites the foreground as 1), "
                "or, if 255 really marks void, pass check_binary=False (`segkit train --set check_binary=false`)")

    # --------------------------------------------------------------------- API
    @property
    def palette(self) -> np.ndarray:
        """``(256, 3)`` uint8 class colours: the masks' own palette when they carry one, else VOC's."""
        return first_mask_palette(self.mask_paths, self.num_classes)

    def __len__(self) -> int:
        return len(self.ids)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of `epoch` (call before iterating each epoch)."""
        self.epoch = int(epoch)

    def load_raw(self, index: int) -> tuple[Image.Image, np.ndarray]:
        """Validated ``(PIL RGB image, uint8 mask with void=255)`` at the original size."""
        img, mode = read_image(self.image_paths[index], return_mode=True)
        if mode != "RGB" and not self._warned_mode:
            self._warned_mode = True  # once per dataset (per worker), not once per file
            warnings.warn(f"image {self.image_paths[index]} is {mode}; converted to 8-bit RGB (other converted "
                          f"images are not reported; `segkit data check {self.root}` counts them)", stacklevel=2)
        mask = read_mask(self.mask_paths[index], self.num_classes)
        if (mask.shape[1], mask.shape[0]) != img.size:
            raise DatasetError(
                f"mask {self.mask_paths[index]} is {mask.shape[1]}x{mask.shape[0]} but image "
                f"{self.image_paths[index]} is {img.size[0]}x{img.size[1]} (WxH); masks must have the "
                "image's size: re-export the mask or resize it with NEAREST interpolation")
        return img, mask

    def load_original(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rgb uint8 (h,w,3), mask int64 (h,w))`` at the original resolution, void = ignore_index."""
        img, mask = self.load_raw(index)
        target = mask.astype(np.int64)
        target[mask == VOID] = self.ignore_index
        return np.asarray(img, dtype=np.uint8), target

    def letterbox_info(self, index: int) -> LetterboxInfo:
        """The `LetterboxInfo` of item `index` (reads only the image header)."""
        iw, ih = image_size(self.image_paths[index])
        return letterbox(np.zeros((ih, iw, 3), np.uint8), self.input_shape)[1]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index = index % len(self)
        img, mask = self.load_raw(index)
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            rgb, m = self.augment(img, mask, rng)
        else:
            rgb, info = letterbox(img, self.input_shape)
            m = letterbox_mask(mask, info, fill=self.mask_fill)
        return to_tensor_pair(rgb, m, self.ignore_index)

    def __repr__(self) -> str:
        return (f"VOCSegmentation(root={str(self.root)!r}, split={self.split!r}, n={len(self)}, "
                f"num_classes={self.num_classes}, input_shape={self.input_shape}, "
                f"augment={self.augment is not None}, ignore_index={self.ignore_index}, pad_label={self.pad_label})")


def as_dataset(data: str | Path | VOCSegmentation, split: str | None, num_classes: int | None) -> VOCSegmentation:
    """`data` itself when it is a `VOCSegmentation`, else the dataset at that root (split default:
    ``trainval`` when present, else ``train``; binary-mask check off, for statistics and figures)."""
    if isinstance(data, VOCSegmentation):
        return data
    root = Path(data)
    if split is None:
        seg = resolve_voc_root(root) / "ImageSets" / "Segmentation"
        split = "trainval" if (seg / "trainval.txt").is_file() else "train"
    return VOCSegmentation(root, split=split, num_classes=num_classes, check_binary=False)
