"""Cityscapes / DensePASS-layout dataset (19 train ids) for the panoramic part of the zoo.

Layout::

    leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png
    gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png   (preferred)
    gtFine/<split>/<city>/<stem>_gtFine_labelIds.png        (mapped to train ids)

The DensePASS layout (Yang et al., "DensePASS: Dense Panoramic Semantic Segmentation via
Unsupervised Domain Adaptation with Attention-Augmented Context Exchange", ITSC 2021; the
labelled set used by Trans4PASS, https://github.com/jamycheung/Trans4PASS) is read too::

    leftImg8bit/<split>/<folder>/<stem>_.png
    gtFine/<split>/<folder>/<stem>_labelTrainIds.png     (or <stem>_labelIds.png)

DensePASS labels use the same 19 Cityscapes train ids (its ``labelIds`` files the same
id -> train id table, `LABEL_TO_TRAIN_ID`), so a model trained on Cityscapes predicts
DensePASS classes index for index: the 19-class mapping between the two is the identity on
train ids. When a split holds no ``*_leftImg8bit.png``, every ``*.png`` under it is an image
(the DensePASS naming). Unlabelled ids map to 255 = void, returned as `ignore_index`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .transforms import TrainAugment
from .files import VOID, DatasetError, read_image, read_mask
from .voc import VOCSegmentation, _check_pad_label

__all__ = ["CityscapesSegmentation", "CITYSCAPES_CLASSES", "CITYSCAPES_PALETTE", "LABEL_TO_TRAIN_ID", "labelids_to_trainids",
           "image_stem", "list_images"]

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic_light", "traffic_sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)
CITYSCAPES_PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)
# cityscapesScripts labels.py: id -> trainId (255 = ignored in evaluation)
LABEL_TO_TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}
_LUT = np.full(256, 255, np.uint8)
for _k, _v in LABEL_TO_TRAIN_ID.items():
    _LUT[_k] = _v


def labelids_to_trainids(label_ids: np.ndarray) -> np.ndarray:
    """Map Cityscapes label ids (0..33, -1) to the 19 train ids (others -> 255)."""
    a = np.asarray(label_ids)
    if a.min(initial=0) < 0 or a.max(initial=0) > 255:
        a = np.where((a < 0) | (a > 255), 0, a)  # license plate (-1) etc. -> unlabeled
    return _LUT[a.astype(np.uint8)]


_CS_SUFFIX = "_leftImg8bit.png"


def image_stem(img: Path) -> str:
    """The image id: ``aachen_000000_000019`` (Cityscapes) or ``100`` (DensePASS ``100_.png``)."""
    name = img.name
    if name.endswith(_CS_SUFFIX):
        return name[: -len(_CS_SUFFIX)]
    return Path(name).stem.rstrip("_")


def list_images(img_root: Path) -> list[Path]:
    """``*_leftImg8bit.png`` under `img_root` (any depth), else every ``*.png`` (DensePASS naming)."""
    images = sorted(img_root.rglob(f"*{_CS_SUFFIX}"))
    return images or sorted(img_root.rglob("*.png"))


def _find_label(img: Path, img_root: Path, gt_root: Path) -> tuple[Path | None, str]:
    rel = img.relative_to(img_root)
    stem = image_stem(img)
    folder = gt_root / rel.parent
    for suffix, kind in (("_gtFine_labelTrainIds.png", "train"), ("_labelTrainIds.png", "train"),
                         ("_gtFine_labelIds.png", "label"), ("_labelIds.png", "label")):
        cand = folder / f"{stem}{suffix}"
        if cand.is_file():
            return cand, kind
    return None, ""


class CityscapesSegmentation(VOCSegmentation):
    """Cityscapes/DensePASS-layout dataset with the same items and transforms as
    `VOCSegmentation` (19 classes, void -> `ignore_index`).

    Args:
        root: folder holding ``leftImg8bit/`` and ``gtFine/``.
        split: ``train``, ``val`` or ``test`` (the sub-folder name).
        input_shape: ``(H, W)`` of the returned tensors.
        augment: True / False / a `TrainAugment` (as in `VOCSegmentation`).
        ignore_index: label given to void pixels.
        seed: augmentation seed.
        pad_label: label of padded areas (None: `ignore_index`, not learnt; 0: the reference).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "val",
        input_shape: int | Sequence[int] = (512, 1024),
        augment: bool | TrainAugment = False,
        ignore_index: int = 255,
        seed: int = 0,
        pad_label: int | None = None,
    ) -> None:
        self.root = self.voc_root = Path(root)
        self.split = split
        self.input_shape = (input_shape, input_shape) if isinstance(input_shape, int) else tuple(int(v) for v in input_shape)
        self.num_classes = len(CITYSCAPES_CLASSES)
        self.class_names = list(CITYSCAPES_CLASSES)
        self.ignore_index, self.seed, self.epoch = int(ignore_index), int(seed), 0
        self.pad_label = _check_pad_label(pad_label, self.num_classes)
        self.mask_fill = VOID if pad_label is None else int(pad_label)  # in the uint8 mask, where void = 255
        self._warned_mode = False
        if isinstance(augment, TrainAugment):
            self.augment = augment
        else:
            self.augment = TrainAugment(self.input_shape, mask_fill=self.mask_fill) if augment else None
        img_root = self.root / "leftImg8bit" / split
        gt_root = self.root / "gtFine" / split
        if not img_root.is_dir():
            raise FileNotFoundError(f"{img_root} not found; expected leftImg8bit/<split>/<city>/*_leftImg8bit.png "
                                    f"(Cityscapes) or leftImg8bit/<split>/<folder>/*_.png (DensePASS) under {self.root}")
        images = list_images(img_root)
        if not images:
            raise DatasetError(f"no *_leftImg8bit.png or *.png files under {img_root}")
        self.image_paths, self.mask_paths, self._kinds, self.ids = [], [], [], []
        for p in images:
            lab, kind = _find_label(p, img_root, gt_root)
            if lab is None:
                raise DatasetError(f"no label for {p} in {gt_root / p.relative_to(img_root).parent} "
                                   "(looked for <id>_gtFine_labelTrainIds.png, _gtFine_labelIds.png, _labelTrainIds.png and "
                                   "_labelIds.png); "
                                   "generate trainIds with cityscapesScripts' createTrainIdLabelImgs")
            self.image_paths.append(p)
            self.mask_paths.append(lab)
            self._kinds.append(kind)
            self.ids.append(image_stem(p))

    def load_raw(self, index: int) -> tuple[Image.Image, np.ndarray]:
        img = read_image(self.image_paths[index])
        if self._kinds[index] == "label":
            with Image.open(self.mask_paths[index]) as im:
                mask = labelids_to_trainids(np.asarray(im))
        else:
            mask = read_mask(self.mask_paths[index], self.num_classes)
        if (mask.shape[1], mask.shape[0]) != img.size:
            raise DatasetError(
                f"label {self.mask_paths[index]} is {mask.shape[1]}x{mask.shape[0]} but image "
                f"{self.image_paths[index]} is {img.size[0]}x{img.size[1]}; labels must have the image's size")
        return img, mask

    def __repr__(self) -> str:
        return (f"CityscapesSegmentation(root={str(self.root)!r}, split={self.split!r}, n={len(self)}, "
                f"input_shape={self.input_shape}, augment={self.augment is not None})")
