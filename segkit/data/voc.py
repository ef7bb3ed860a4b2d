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
file and reports all problems in one pass. The file helpers (roots, class names, splits, image
and mask reading) live in `segkit.data.files`, which needs no torch; they are importable from
here too.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .colors import first_mask_palette
from .files import (  # noqa: F401  (the file helpers are imported from here too)
    IMAGE_EXTS, NEAR_BINARY_SHARE, VOID, DatasetError, binary_export, binary_kind, duplicate_names, fix_binary_hint,
    image_orientation, image_size, mask_counts, max_image_pixels, open_image, read_class_names, read_image,
    read_mask, read_split, read_text, resolve_voc_root, split_images, split_names, _index_folder,
)
from .transforms import LetterboxInfo, TrainAugment, letterbox, letterbox_mask, to_tensor_pair

__all__ = [
    "VOCSegmentation", "DatasetError", "resolve_voc_root", "read_class_names", "read_split",
    "read_image", "open_image", "max_image_pixels", "image_size", "image_orientation", "read_mask", "read_text",
    "split_names", "duplicate_names", "split_images", "mask_counts", "binary_kind",
    "binary_export", "IMAGE_EXTS", "NEAR_BINARY_SHARE",
]


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
