"""Train/val(/test) split lists: grouped by source image, or the reference's random draw."""
from __future__ import annotations

import csv
import json
import random
from datetime import datetime
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..files import IMAGE_EXTS, VOID, DatasetError, _index_folder, mask_counts, read_class_names, resolve_voc_root

SOURCES_FILE = "sources.csv"  # written by augment_dataset: the source image of every copy


def _read_sources(voc: Path) -> dict[str, str]:
    path = voc / SOURCES_FILE
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        return {row["name"]: row["source"] for row in csv.DictReader(f)}


def _read_dropped(voc: Path) -> set[str]:
    path = voc / SOURCES_FILE
    if not path.is_file():
        return set()
    with path.open(newline="", encoding="utf-8-sig") as f:
        return {row["name"] for row in csv.DictReader(f) if row["op"] == "dropped_blurry"}


def make_splits(
    names: Sequence[str],
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    groups: dict[str, str] | Callable[[str], str] | None = None,
    method: str = "grouped",
    strata: dict[str, frozenset[int]] | None = None,
) -> dict[str, list[str]]:
    """Split `names` into train/val/test lists.

    Args:
        names: image names (stems).
        val_fraction: share of the validation split (0.1 for 9:1 and 8:1:1).
        test_fraction: share of the test split (0 for 9:1, 0.1 for 8:1:1).
        seed: shuffle seed.
        groups: name -> source id (dict or function). Names of one group always land in
            the same split. None = every name is its own group.
        method: ``"grouped"`` (numpy shuffle of groups) or ``"reference"`` (the
            reference's ``random.seed(seed); random.sample`` over sorted names; ignores groups).
        strata: name -> the classes its mask holds (grouped method only). Each class held by at
            least `MIN_STRATUM` groups is first given one group in every split, rarest class
            first, so no split misses it; the split sizes stay those of the unstratified split.

    Returns:
        ``{"train", "val", "test", "trainval"}`` -> sorted name lists.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction + test_fraction must be in [0, 1), got {val_fraction} + {test_fraction}")
    if method not in ("grouped", "reference"):
        raise ValueError(f"method must be 'grouped' or 'reference', got {method!r}")
    names = sorted(names)
    n = len(names)
    if method == "reference":
        trainval_percent = 1.0 - test_fraction
        train_percent = (1.0 - val_fraction - test_fraction) / trainval_percent
        random.seed(seed)
        tv = int(n * trainval_percent)
        tr = int(tv * train_percent)
        trainval = set(random.sample(range(n), tv))
        train = set(random.sample(sorted(trainval), tr))
        out = {"train": [names[i] for i in range(n) if i in train],
               "val": [names[i] for i in range(n) if i in trainval and i not in train],
               "test": [names[i] for i in range(n) if i not in trainval]}
    else:
        key = (groups.get if isinstance(groups, dict) else groups) if groups is not None else None
        by_group: dict[str, list[str]] = {}
        for nm in names:
            g = (key(nm) if key else None) or nm
            by_group.setdefault(g, []).append(nm)
        order = sorted(by_group)
        perm = np.random.default_rng(seed).permutation(len(order))
        want_val, want_test = round(n * val_fraction), round(n * test_fraction)
        if val_fraction > 0 and want_val == 0 and n > 1:
            want_val = 1
        want = {"val": want_val, "test": want_test, "train": n}
        out = {"train": [], "val": [], "test": []}
        shuffled = [by_group[order[k]] for k in perm]
        if strata is not None:
            shuffled = _cover_classes(shuffled, strata, want, out)
        for members in shuffled:  # fill val, then test, then train, group by group
            if len(out["val"]) < want_val:
                out["val"] += members
            elif len(out["test"]) < want_test:
                out["test"] += members
            else:
                out["train"] += members
    out = {k: sorted(v) for k, v in out.items()}
    out["trainval"] = sorted(out["train"] + out["val"])
    return out


MIN_STRATUM = 3  # a class in this many groups can be in train, val and test


def _cover_classes(groups: list[list[str]], strata: dict[str, frozenset[int]], want: dict[str, int],
                   out: dict[str, list[str]]) -> list[list[str]]:
    """Give every class held by at least `MIN_STRATUM` groups one group in each split (rarest class
    first, the first such group of the shuffled order), within the splits' sizes; return the rest."""
    held = [frozenset().union(*(strata.get(n, frozenset()) for n in g)) for g in groups]
    per_class: dict[int, int] = {}
    for classes in held:
        for c in classes:
            per_class[c] = per_class.get(c, 0) + 1
    free = list(range(len(groups)))
    for c in sorted((c for c, k in per_class.items() if k >= MIN_STRATUM), key=lambda c: (per_class[c], c)):
        for split in ("val", "test", "train"):
            placed = any(c in strata.get(n, ()) for n in out[split])
            if placed or not want[split] or len(out[split]) >= want[split]:
                continue
            pick = next((i for i in free if c in held[i]), None)
            if pick is not None:
                out[split] += groups[pick]
                free.remove(pick)
    return [groups[i] for i in free]


def mask_classes(masks: dict[str, Path]) -> dict[str, frozenset[int]]:
    """name -> the class indices its mask holds (void 255 left out)."""
    return {n: frozenset(int(v) for v in np.flatnonzero(mask_counts(p)) if v != VOID) for n, p in masks.items()}


def write_splits(
    root: str | Path,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    method: str = "grouped",
    group_by: str | Callable[[str], str] | None = "auto",
    force: bool = False,
    stratify: bool | None = None,
) -> dict[str, list[str]]:
    """Write ``ImageSets/Segmentation/{train,val,test,trainval}.txt`` and ``split.json``.

    Lists every image that has a mask. ``val_fraction=0.1, test_fraction=0`` is the
    reference's 9:1; ``0.1, 0.1`` is the paper text's 8:1:1.

    Args:
        root: dataset root (VOC layout).
        val_fraction, test_fraction, seed, method: see `make_splits`.
        group_by: ``"auto"`` = group by ``sources.csv`` when present, ``None`` = no
            grouping, or a function name -> group id.
        force: replace split files that are already there; each is kept as
            ``<name>.<time>.bak`` next to the new one.
        stratify: keep every class in every split where it has at least `MIN_STRATUM` images
            (reads every mask; see `make_splits`'s `strata`). None: when ``classes.txt``
            exists. Applies to ``method="grouped"``.

    Returns:
        The split lists.

    Raises:
        ValueError: split files are there and `force` is False (nothing is written).
    """
    voc = resolve_voc_root(root)
    images = _index_folder(voc / "JPEGImages", IMAGE_EXTS)
    masks = _index_folder(voc / "SegmentationClass", (".png",))
    names = sorted(set(images) & set(masks))
    if not names:
        raise DatasetError(f"no image with a mask under {voc} (JPEGImages/<name>.jpg + SegmentationClass/<name>.png)")
    dropped = _read_dropped(voc)
    names = [n for n in names if n not in dropped]
    groups = _read_sources(voc) if group_by == "auto" else group_by
    if stratify is None:
        stratify = read_class_names(voc) is not None
    stratify = stratify and method == "grouped"
    strata = mask_classes({n: masks[n] for n in names}) if stratify else None
    splits = make_splits(names, val_fraction, test_fraction, seed, groups or None, method, strata)
    out_dir = voc / "ImageSets" / "Segmentation"
    _keep_old(out_dir, [f"{k}.txt" for k in splits] + ["split.json"], force)
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, v in splits.items():
        (out_dir / f"{k}.txt").write_text("".join(f"{x}\n" for x in v), encoding="utf-8")
    meta = dict(method=method, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                grouped=bool(groups) and method == "grouped", stratified=stratify,
                counts={k: len(v) for k, v in splits.items()})
    (out_dir / "split.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return splits


def _keep_old(folder: Path, names: Sequence[str], force: bool) -> None:
    """Refuse to replace split files a user may have made by hand; with `force`, rename each
    to ``<name>.<time>.bak`` first so none is lost."""
    old = [folder / n for n in names if (folder / n).is_file()]
    if not old:
        return
    if not force:
        raise ValueError(f"{folder} already holds split files ({', '.join(p.name for p in old)}); segkit data split "
                         "would replace them: pass --force to replace them (the old ones are kept as *.bak)")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for p in old:
        backup, k = p.with_name(f"{p.name}.{stamp}.bak"), 1
        while backup.exists():
            k += 1
            backup = p.with_name(f"{p.name}.{stamp}-{k}.bak")
        p.rename(backup)
