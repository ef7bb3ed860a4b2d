"""Rewrite 0/255 masks (a common export format) to class indices 0/1."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..palette import save_mask
from ..voc import VOID, DatasetError, _index_folder, read_mask, resolve_voc_root


def fix_binary_masks(root: str | Path, dry_run: bool = False, force: bool = False) -> list[Path]:
    """Rewrite binary 0/255 masks as 0/1 (class 1 = foreground), in place.

    Refuses when some masks hold other values too (then 255 probably is void), unless
    ``force=True``.

    Returns:
        The masks that were (or, with `dry_run`, would be) rewritten.
    """
    voc = resolve_voc_root(root)
    paths = sorted(_index_folder(voc / "SegmentationClass", (".png",)).values())
    binary, other = [], []
    for p in paths:
        u = set(np.unique(read_mask(p)).tolist())
        if VOID in u and u <= {0, VOID}:
            binary.append(p)
        elif not u <= {0, 1}:
            other.append(p)
    if other and binary and not force:
        raise DatasetError(
            f"{len(other)} mask(s) hold values other than 0/255 (e.g. {other[0]}), so 255 may be void there; "
            "not rewriting. Pass force=True (--force) to rewrite every 0/255 mask anyway")
    if not dry_run:
        for p in binary:
            m = read_mask(p)
            m[m == VOID] = 1
            save_mask(m, p)
    return binary
