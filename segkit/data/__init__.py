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
from __future__ import annotations

import importlib
from typing import Any

# the submodule -> the public names it defines; each is imported on first use, so `segkit data`
# tools and the commands' input checks load only what they use (segkit.data.files needs no torch)
_MODULES: dict[str, tuple[str, ...]] = {
    ".files": ("DatasetError", "read_image", "read_mask"),
    ".voc": ("VOCSegmentation",),
    ".cityscapes": ("CityscapesSegmentation", "CITYSCAPES_CLASSES", "labelids_to_trainids"),
    ".domains": ("UnlabelledImages", "PseudoLabelled", "dataset_layout", "labelled_dataset"),
    ".panorama": ("make_panoramic_dataset", "warp_to_panorama"),
    ".synthetic": ("make_synthetic_wirerope", "render_wirerope", "WIREROPE_CLASSES", "WIREROPE_PALETTE"),
    ".transforms": ("LetterboxInfo", "TrainAugment", "letterbox", "letterbox_mask", "to_tensor_pair"),
    ".tools": ("make_splits", "write_splits", "fix_binary_masks", "labelme_to_mask", "convert_labelme",
               "augment_dataset", "sharpness", "check_dataset", "Problem", "import_dataset"),
    ".colors": ("voc_palette", "colorize_mask", "save_mask"),
    ".palette": ("mask_palette",),
    ".stats": ("DatasetStats", "dataset_stats", "overlay", "sample_grid", "plot_class_distribution",
               "plot_object_sizes"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

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


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    else:  # a submodule (``segkit.data.stats``) reached as an attribute
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
