"""Rewrite 0/255 masks (a common export format) to class indices 0/1."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..colors import save_mask
from ..files import VOID, DatasetError, _index_folder, binary_kind, read_class_names, read_mask, resolve_voc_root


def binarize(mask: np.ndarray, threshold: int = 128) -> np.ndarray:
    """The foreground of a black-and-white mask as a bool array: values ``>= threshold``.

    A 0/1 mask is its own foreground (every threshold above 1 would empty it).
    """
    return mask == 1 if mask.max(initial=0) <= 1 else mask >= threshold


def fix_binary_masks(root: str | Path, dry_run: bool = False, force: bool = False, threshold: int | None = None,
                     log: Callable[[str], object] | None = None) -> list[Path]:
    """Rewrite binary 0/255 masks as 0/1 (class 1 = foreground), in place.

    Without `threshold` only exact 0/255 masks are rewritten (255 -> 1). With it, also masks
    holding 255 and values in between (0/255 masks resized with smoothing, see `binary_kind`):
    values ``>= threshold`` become 1, the rest 0. Refuses when some masks hold class values
    too (then 255 probably is void), unless ``force=True``.

    Args:
        log: told why, when no mask is rewritten.

    Returns:
        The masks that were (or, with `dry_run`, would be) rewritten.

    Raises:
        DatasetError: other masks hold class values (without `force`), masks with values between
            0 and 255 and no `threshold`, or a `threshold` outside 1..255.
    """
    if threshold is not None and not 1 <= threshold <= 255:
        raise DatasetError(f"threshold={threshold} must be in 1..255 (values >= it become 1), e.g. 128")
    voc = resolve_voc_root(root)
    names = read_class_names(voc)
    first_stray = max(len(names) if names else 2, 2)  # values from here to 254 are no class index
    paths = sorted(_index_folder(voc / "SegmentationClass", (".png",)).values())
    counts = {p: np.bincount(read_mask(p).ravel(), minlength=256) for p in paths}
    exact = [p for p, c in counts.items() if binary_kind(c) == "binary"]
    grey = [p for p, c in counts.items() if c[VOID] and c[first_stray:VOID].any()]  # 255 and values in between
    if grey and threshold is None:
        near = sum(binary_kind(counts[p], first_stray) == "near-binary" for p in grey)
        raise DatasetError(
            f"{len(grey)} mask(s) hold 255 and values in between (e.g. {grey[0]}; {near} of them near-binary: "
            f"almost every pixel 0 or 255), as a black-and-white mask resized with smoothing does, so they are "
            f"not rewritten as they are. Fix: `segkit data fix-binary {root} --threshold 128` (>= 128 -> 1, "
            "the rest -> 0)")
    binary = sorted(exact + grey)
    other = [p for p, c in counts.items() if p not in binary and c[2:].any()]  # more than 0/1
    if other and binary and not force:
        raise DatasetError(
            f"{len(other)} mask(s) hold values other than 0/255 (e.g. {other[0]}), so 255 may be void there; "
            "not rewriting. Pass force=True (--force) to rewrite every 0/255 mask anyway")
    if not binary and log:
        void = [p for p in other if counts[p][VOID]]
        log(f"nothing to rewrite: {len(void)} mask(s) hold 255 beside class indices (void there, e.g. {void[0]})"
            if void else "nothing to rewrite: no mask holds 255 (they hold class indices 0..K-1 already)")
    if not dry_run:
        for p in binary:
            save_mask(binarize(read_mask(p), threshold or VOID).astype(np.uint8), p)
    return binary
