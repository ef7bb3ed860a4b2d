"""Datasets of the two domains of an adaptation: labelled source, unlabelled target, pseudo-labels.

* `dataset_layout` / `labelled_dataset`: a VOC-layout folder (``JPEGImages/``) or a
  Cityscapes/DensePASS-layout folder (``leftImg8bit/``), opened the same way.
* `UnlabelledImages`: the images of a split and nothing else. Adaptation trains on the target
  through this class, so the target's masks (if the folder has any) are never read in
  training; only the evaluation on the target's labelled split reads them.
* `PseudoLabelled`: target images paired with pseudo-label PNGs (255 = unconfident),
  with the same augmentation and items as `VOCSegmentation`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .cityscapes import CityscapesSegmentation, image_stem, list_images
from .transforms import TrainAugment, letterbox
from .files import IMAGE_EXTS, VOID, _index_folder, read_image, read_split, resolve_voc_root
from .voc import VOCSegmentation, _check_pad_label

__all__ = ["dataset_layout", "has_split", "labelled_dataset", "UnlabelledImages", "PseudoLabelled"]


def dataset_layout(root: str | Path) -> Literal["voc", "cityscapes"]:
    """``"cityscapes"`` when `root` holds ``leftImg8bit/`` (Cityscapes, DensePASS), else ``"voc"``.

    Raises:
        FileNotFoundError: neither layout is found (the message names both).
    """
    root = Path(root)
    if (root / "leftImg8bit").is_dir():
        return "cityscapes"
    try:
        resolve_voc_root(root)
    except FileNotFoundError:
        raise FileNotFoundError(f"{root} holds neither JPEGImages/ (VOC layout) nor leftImg8bit/ (Cityscapes/DensePASS "
                                "layout); point to the dataset folder") from None
    return "voc"


def has_split(root: str | Path, split: str) -> bool:
    """Whether `root` has the split: a list ``ImageSets/Segmentation/<split>.txt`` (VOC) or a
    folder ``leftImg8bit/<split>`` (Cityscapes/DensePASS)."""
    if dataset_layout(root) == "cityscapes":
        return (Path(root) / "leftImg8bit" / split).is_dir()
    return (resolve_voc_root(root) / "ImageSets" / "Segmentation" / f"{split}.txt").is_file()


def labelled_dataset(root: str | Path, split: str, input_shape: Sequence[int], augment: bool = False,
                     num_classes: int | None = None, ignore_index: int = 255, seed: int = 0,
                     pad_label: int | None = None, check_binary: bool = True) -> VOCSegmentation:
    """`VOCSegmentation` or `CityscapesSegmentation` of `split`, whichever layout `root` has."""
    shape = tuple(int(v) for v in input_shape)
    if dataset_layout(root) == "cityscapes":
        return CityscapesSegmentation(root, split, shape, augment=augment, ignore_index=ignore_index, seed=seed,
                                      pad_label=pad_label)
    return VOCSegmentation(root, split, shape, augment=augment, num_classes=num_classes, ignore_index=ignore_index,
                           seed=seed, pad_label=pad_label, check_binary=check_binary)


class UnlabelledImages(Dataset):
    """The images of one split, without labels (the target domain's training images).

    Args:
        root: VOC-layout folder (the split list names the images) or Cityscapes/DensePASS
            layout (every image under ``leftImg8bit/<split>``).
        split: split name.
        input_shape: ``(H, W)`` of the letterboxed tensors ``__getitem__`` returns.

    Attributes:
        ids, image_paths, split, input_shape.
    """

    def __init__(self, root: str | Path, split: str = "train", input_shape: Sequence[int] = (512, 512)) -> None:
        self.root, self.split = Path(root), split
        self.input_shape = tuple(int(v) for v in input_shape)
        if dataset_layout(root) == "cityscapes":
            folder = self.root / "leftImg8bit" / split
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} not found; the target split {split!r} must be a folder under "
                                        f"{self.root / 'leftImg8bit'}")
            self.image_paths = list_images(folder)
            self.ids = [image_stem(p) for p in self.image_paths]
        else:
            voc = resolve_voc_root(root)
            self.ids = read_split(voc, split)
            images = _index_folder(voc / "JPEGImages", IMAGE_EXTS)
            missing = [n for n in self.ids if n not in images]
            if missing:
                raise FileNotFoundError(f"{len(missing)} name(s) of split {split!r} have no image in "
                                        f"{voc / 'JPEGImages'} (first: {missing[0]!r})")
            self.image_paths = [images[n] for n in self.ids]
        if not self.image_paths:
            raise FileNotFoundError(f"split {split!r} of {self.root} has no images")

    def __len__(self) -> int:
        return len(self.image_paths)

    def load_image(self, index: int) -> np.ndarray:
        """RGB uint8 ``(h, w, 3)`` at the original size."""
        return np.asarray(read_image(self.image_paths[index]), np.uint8)

    def __getitem__(self, index: int) -> torch.Tensor:
        canvas, _ = letterbox(self.load_image(index), self.input_shape)
        return torch.from_numpy(np.array(canvas)).permute(2, 0, 1).float().div_(255.0)

    def __repr__(self) -> str:
        return f"UnlabelledImages(root={str(self.root)!r}, split={self.split!r}, n={len(self)})"


class PseudoLabelled(VOCSegmentation):
    """Target images with pseudo-label masks, as `VOCSegmentation` items (augmented or letterboxed).

    Args:
        image_paths, mask_paths: paired files (masks: class indices, 255 = unconfident).
        ids: image ids.
        class_names: the model's classes.
        input_shape, augment, ignore_index, seed, pad_label: as `VOCSegmentation`.
    """

    def __init__(self, image_paths: Sequence[Path], mask_paths: Sequence[Path], ids: Sequence[str],
                 class_names: Sequence[str], input_shape: Sequence[int] = (512, 512),
                 augment: bool | TrainAugment = False, ignore_index: int = 255, seed: int = 0,
                 pad_label: int | None = None) -> None:
        if not len(image_paths) == len(mask_paths) == len(ids):
            raise ValueError(f"got {len(image_paths)} images, {len(mask_paths)} pseudo-labels and {len(ids)} ids; "
                             "they must pair up")
        self.image_paths, self.mask_paths = [Path(p) for p in image_paths], [Path(p) for p in mask_paths]
        self.ids = list(ids)
        self.root = self.voc_root = self.image_paths[0].parent if self.image_paths else Path(".")
        self.split = "pseudo"
        self.input_shape = tuple(int(v) for v in input_shape)
        self.class_names, self.num_classes = list(class_names), len(class_names)
        self.ignore_index, self.seed, self.epoch = int(ignore_index), int(seed), 0
        self.pad_label = _check_pad_label(pad_label, self.num_classes)
        self.mask_fill = VOID if pad_label is None else int(pad_label)
        self._warned_mode = False
        if isinstance(augment, TrainAugment):
            self.augment = augment
        else:
            self.augment = TrainAugment(self.input_shape, mask_fill=self.mask_fill) if augment else None

    def __repr__(self) -> str:
        return f"PseudoLabelled(n={len(self)}, input_shape={self.input_shape}, augment={self.augment is not None})"
