"""Dataset tools: split lists, the 0/255 mask fix, Labelme conversion, offline
augmentation and a full dataset check (also as ``segkit data ...`` commands).

* `write_splits`: train/val(/test) lists, 9:1 or 8:1:1, seeded. ``method="grouped"``
  (default) keeps every augmented copy of a source image in the same split (sources are
  read from ``sources.csv`` written by `augment_dataset`); ``method="reference"``
  reproduces the reference's ``voc_annotation.py`` (``random.seed``, ``random.sample``),
  which gives 4324/481 on 4805 images. The choice is recorded in ``split.json``.
* `fix_binary_masks`: rewrites 0/255 masks to 0/1.
* `labelme_to_mask` / `convert_labelme`: Labelme JSON polygons -> palette PNG masks.
* `augment_dataset`: offline expansion (rotation, mirror, scale, brightness, blur) with
  the source of each copy in ``sources.csv`` (the paper's 970 -> 4805).
* `check_dataset`: every check on every file, all problems in one list.
* `import_dataset`: class folders, a flat folder with a class map, or Labelme -> VOC layout.
"""
from __future__ import annotations

from ..colors import save_mask, voc_palette
from .augment import AUG_OPS, augment_dataset, sharpness
from .binary import binarize, fix_binary_masks
from .check import MIN_CLASS_IMAGES, MIN_EVAL_IMAGES, Problem, check_dataset
from .importer import import_dataset
from .labelme import convert_labelme, labelme_to_mask
from .splits import SOURCES_FILE, make_splits, write_splits

__all__ = [
    "make_splits", "write_splits", "fix_binary_masks", "labelme_to_mask", "convert_labelme",
    "augment_dataset", "sharpness", "check_dataset", "Problem", "save_mask", "voc_palette", "import_dataset",
    "binarize",
]
