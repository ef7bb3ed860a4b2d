"""Datasets, the synthetic wire-rope generator, transforms, dataset tools and statistics.

* `VOCSegmentation`: the reference workflow's VOC layout, training augmentation and
  letterbox validation (see ``docs/training.md``); `CityscapesSegmentation` for the
  Cityscapes/DensePASS layout; `UnlabelledImages` / `PseudoLabelled` for adaptation.
* `make_panoramic_dataset`: a synthetic pinhole -> panoramic domain shift of any VOC dataset.
* `make_synthetic_wirerope`: the embedded default dataset (steel wire rope, 3 classes).
* `letterbox` / `LetterboxInfo` / `TrainAugment`: paired image/mask transforms.
* tools: `import_dataset`, `write_splits`, `fix_binary_masks`, `convert_labelme`, `augment_dataset`,
  `check_dataset` (also ``segkit data ...``).
* colours: `mask_palette` (a dataset's own class colours), `voc_palette`, `colorize_mask`.
* statistics: `dataset_stats`, `sample_grid`, `plot_class_distribution`, `plot_object_sizes`.
"""
from .cityscapes import CITYSCAPES_CLASSES, CityscapesSegmentation, labelids_to_trainids
from .domains import PseudoLabelled, UnlabelledImages, dataset_layout, labelled_dataset
from .panorama import make_panoramic_dataset, warp_to_panorama
from .palette import colorize_mask, mask_palette, voc_palette
from .stats import DatasetStats, dataset_stats, overlay, plot_class_distribution, plot_object_sizes, sample_grid
from .synthetic import WIREROPE_CLASSES, WIREROPE_PALETTE, make_synthetic_wirerope, render_wirerope
from .tools import (
    Problem, augment_dataset, check_dataset, convert_labelme, fix_binary_masks, import_dataset, labelme_to_mask,
    make_splits, save_mask, sharpness, write_splits,
)
from .transforms import LetterboxInfo, TrainAugment, letterbox, letterbox_mask, to_tensor_pair
from .voc import DatasetError, VOCSegmentation, read_image, read_mask

__all__ = [
    "VOCSegmentation", "CityscapesSegmentation", "DatasetError", "read_image", "read_mask",
    "CITYSCAPES_CLASSES", "labelids_to_trainids",
    "UnlabelledImages", "PseudoLabelled", "dataset_layout", "labelled_dataset",
    "make_panoramic_dataset", "warp_to_panorama",
    "make_synthetic_wirerope", "render_wirerope", "WIREROPE_CLASSES", "WIREROPE_PALETTE",
    "LetterboxInfo", "TrainAugment", "letterbox", "letterbox_mask", "to_tensor_pair",
    "make_splits", "write_splits", "fix_binary_masks", "labelme_to_mask", "convert_labelme",
    "augment_dataset", "sharpness", "check_dataset", "Problem", "save_mask", "voc_palette", "import_dataset",
    "colorize_mask",
    "DatasetStats", "dataset_stats", "mask_palette", "overlay", "sample_grid",
    "plot_class_distribution", "plot_object_sizes",
]
