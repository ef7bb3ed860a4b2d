"""`make_synthetic_wirerope`: render images and write them as a VOC-layout dataset with seeded splits.

``synthetic.json`` records the generator's arguments and every file it wrote (size and SHA-256),
so `synthetic_changes` can tell a generated dataset nobody touched (safe to generate again)
from one a user edited (never regenerated over); `ensure_dataset` generates the set only when a
folder lacks it or holds one made with other arguments.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from ..colors import save_mask
from .render import WIREROPE_CLASSES, WIREROPE_PALETTE, render_wirerope

META = "synthetic.json"


def _stratified_order(kinds: np.ndarray, n_val: int, n_test: int, rng: np.random.Generator) -> np.ndarray:
    """Image indexes ordered val first, then test, then train, each split drawn evenly across `kinds`.

    Indexes are shuffled within each kind and laid out kind after kind; val takes every
    (n / n_val)-th of them from a random offset (systematic sampling), test does the same on
    the rest, so every kind gets its share (rounded) in every split.
    """
    pool = np.concatenate([rng.permutation(np.flatnonzero(kinds == k)) for k in np.unique(kinds)])
    picked = []
    for n_take in (n_val, n_test):
        if n_take:
            step = len(pool) / n_take
            at = np.floor(rng.random() * step + np.arange(n_take) * step).astype(int)
            picked.append(pool[at])
            pool = np.delete(pool, at)
    return np.concatenate(picked + [rng.permutation(pool)])


def make_synthetic_wirerope(
    root: str | Path,
    n_images: int = 200,
    size: int | tuple[int, int] = 256,
    seed: int = 0,
    *,
    p_corrosion: float = 0.356,
    p_broken_wire: float = 0.620,
    p_both: float = 0.024,
    noise: float = 0.03,
    blur: float = 0.8,
    distractors: float = 1.0,
    damage_scale: float = 1.0,
    wire_width: float = 1.0,
    dark_wires: float = 0.3,
    wire_label_margin: float = 0.0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    jpeg_quality: int | tuple[int, int] = (80, 95),
    overwrite: bool = True,
) -> Path:
    """Write a synthetic steel-wire-rope damage dataset in the VOC layout.

    Layout written under `root`::

        JPEGImages/rope_00000.jpg ...      RGB photographs (JPEG)
        SegmentationClass/rope_00000.png   palette PNGs, values 0/1/2
        ImageSets/Segmentation/{train,val,trainval}.txt (and test.txt if test_fraction > 0)
        classes.txt                        background, corrosion, broken_wire
        synthetic.json                     the generator's arguments and the files it wrote

    Each image gets exactly one damage configuration: corrosion only (`p_corrosion`),
    broken wire only (`p_broken_wire`), both (`p_both`) or none (the rest). The defaults
    are the paper's composition (1828 corrosion, 3092 broken-wire, 115 both, of 4805).

    Args:
        root: output folder (created).
        n_images: number of images.
        size: image size, an int (square) or ``(height, width)``.
        seed: master seed; image ``i`` uses ``default_rng([seed, i])``, the split uses ``seed`` and
            is stratified by damage configuration (every split gets its share of each).
        p_corrosion: probability that an image shows corrosion only.
        p_broken_wire: probability that an image shows broken wires only.
        p_both: probability that an image shows both.
        noise: sensor-noise std in [0, 1] units (0 = clean).
        blur: maximum camera-blur sigma in px at 256 px (0 = sharp).
        distractors: rate of unlabelled look-alikes (grease/dirt patches, cables, glints).
        damage_scale: size multiplier of corrosion patches and wire ends.
        wire_width: width multiplier of the wire ends (see ``render_wirerope``).
        dark_wires: share of broken-wire events drawn dark and low-contrast.
        wire_label_margin: pixels around each wire end also labelled (see ``render_wirerope``).
        val_fraction: share of images in ``val.txt`` (0.1 = the reference's 9:1).
        test_fraction: share of images in ``test.txt`` (0.1 with val 0.1 = the paper's 8:1:1).
        jpeg_quality: JPEG quality, fixed int or a ``(lo, hi)`` range drawn per image.
        overwrite: when False, refuse to write into a non-empty `root`.

    Returns:
        The dataset root as a `Path`.

    Example:
        >>> root = make_synthetic_wirerope("data/wirerope", n_images=200, size=256, seed=0)
    """
    root = Path(root)
    hw = _check_args(root, n_images, size, (p_corrosion, p_broken_wire, p_both), val_fraction, test_fraction,
                     overwrite)
    render = dict(noise=noise, blur=blur, distractors=distractors, damage_scale=damage_scale, wire_width=wire_width,
                  dark_wires=dark_wires, wire_label_margin=wire_label_margin)
    names, kinds = _write_images(root, n_images, hw, seed, (p_corrosion, p_broken_wire, p_both), render,
                                 jpeg_quality)
    _write_splits(root, names, kinds, seed, val_fraction, test_fraction)
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in WIREROPE_CLASSES), encoding="utf-8")
    meta = dict(
        generator="segkit.data.make_synthetic_wirerope", n_images=n_images, size=list(hw), seed=seed,
        p_corrosion=p_corrosion, p_broken_wire=p_broken_wire, p_both=p_both, **render,
        val_fraction=val_fraction, test_fraction=test_fraction, jpeg_quality=jpeg_quality, files=_file_list(root),
    )
    (root / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return root


def _file_list(root: Path) -> dict[str, list]:
    """Every file under `root` but ``synthetic.json``: relative path -> [size, SHA-256]."""
    files = (p for p in sorted(root.rglob("*")) if p.is_file() and p != root / META)
    return {p.relative_to(root).as_posix(): [p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest()]
            for p in files}


def synthetic_changes(root: str | Path) -> list[str]:
    """How the files under `root` differ from those `make_synthetic_wirerope` wrote there
    (``["changed classes.txt", "added x.jpg"]``); empty when nobody changed them.

    A ``synthetic.json`` without the file list (an older segkit) counts as changed: edits
    cannot be ruled out.
    """
    root = Path(root)
    recorded = json.loads((root / META).read_text(encoding="utf-8")).get("files")
    if not isinstance(recorded, dict):
        return [f"{META} lists no files (an older segkit made it), so edits cannot be ruled out"]
    now = _file_list(root)
    out = []
    for what, names in (("changed", [n for n in recorded if n in now and now[n] != recorded[n]]),
                        ("added", [n for n in now if n not in recorded]),
                        ("removed", [n for n in recorded if n not in now])):
        if names:
            out.append(f"{what} {', '.join(names[:3])}" + (f" and {len(names) - 3} more" if len(names) > 3 else ""))
    return out


_SYNTHETIC_KEYS = ("n_images", "size", "seed", "val_fraction", "test_fraction")


def ensure_dataset(root: str | Path, n_images: int = 60, size: int = 96, seed: int = 0, val_fraction: float = 0.1,
                   test_fraction: float = 0.0, log: Callable[[str], Any] | None = None, **generator: Any) -> Path:
    """Return ``root``; generate the synthetic wire-rope dataset there first when needed.

    A folder with split lists and no ``synthetic.json`` (a user's own data) is used as it
    is. A synthetic folder generated with other arguments (``size 64 -> 96``, or any of the
    `generator` arguments of ``make_synthetic_wirerope`` given here, e.g. ``damage_scale``)
    is generated again, so a notebook never trains on data of another kind than it asked for,
    but only when its files are exactly those the generator wrote (``synthetic_changes``).

    Raises:
        ValueError: the dataset would be regenerated but someone changed its files.
    """
    root = Path(root)
    want = {"n_images": int(n_images), "size": [int(size), int(size)], "seed": int(seed),
            "val_fraction": float(val_fraction), "test_fraction": float(test_fraction), **generator}
    meta = root / "synthetic.json"
    if (root / "ImageSets" / "Segmentation" / "train.txt").is_file():
        if not meta.is_file():
            return root
        have = json.loads(meta.read_text(encoding="utf-8"))
        diff = [f"{k} {have.get(k)} -> {want[k]}" for k in (*_SYNTHETIC_KEYS, *generator) if have.get(k) != want[k]]
        if not diff:
            return root
        edits = synthetic_changes(root)
        if edits:
            raise ValueError(f"{root} holds synthetic data made with other arguments ({', '.join(diff)}) but its files "
                             f"were changed since ({'; '.join(edits)}), so it is not regenerated over them; delete "
                             f"{meta.name} to use the folder as your own dataset, or delete the folder (or give "
                             "another one) to have the synthetic data generated")
        if log:
            log(f"regenerating synthetic data in {root} ({', '.join(diff)})")
    if log and not meta.is_file():
        log(f"generating synthetic wire-rope data: {n_images} images at {size}x{size} -> {root}")
    return Path(make_synthetic_wirerope(root, n_images=n_images, size=size, seed=seed, val_fraction=val_fraction,
                                        test_fraction=test_fraction, overwrite=True, **generator))


def _check_args(root: Path, n_images: int, size, probs: tuple[float, float, float], val_fraction: float,
                test_fraction: float, overwrite: bool) -> tuple[int, int]:
    """Validate the generator's arguments; return ``(height, width)``."""
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    if min(probs) < 0 or sum(probs) > 1 + 1e-9:
        raise ValueError(f"p_corrosion, p_broken_wire, p_both must be >= 0 and sum to <= 1, got {probs}")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction + test_fraction must be in [0, 1), got {val_fraction} + {test_fraction}")
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if min(hw) < 32:
        raise ValueError(f"size must be >= 32 pixels, got {size}")
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise ValueError(f"{root} is not empty; pass overwrite=True or choose another root")
    return hw


def _write_images(root: Path, n_images: int, hw: tuple[int, int], seed: int, probs: tuple[float, float, float],
                  render: dict, jpeg_quality: int | tuple[int, int]) -> tuple[list[str], list[int]]:
    """Render and save every image and mask; return the names and each one's damage kind (0-3)."""
    p_corrosion, p_broken_wire, p_both = probs
    img_dir, mask_dir = root / "JPEGImages", root / "SegmentationClass"
    for d in (img_dir, mask_dir):
        d.mkdir(parents=True, exist_ok=True)
    names, kinds = [], []
    for i in range(n_images):
        rng = np.random.default_rng([seed, i])
        r = rng.random()
        corrosion = r < p_corrosion + p_both
        broken = (p_corrosion <= r < p_corrosion + p_both + p_broken_wire)
        rgb, mask = render_wirerope(rng, hw, corrosion=corrosion, broken_wire=broken, **render)
        q = jpeg_quality if isinstance(jpeg_quality, int) else int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
        name = f"rope_{i:05d}"
        Image.fromarray(rgb).save(img_dir / f"{name}.jpg", quality=q)
        save_mask(mask, mask_dir / f"{name}.png", WIREROPE_PALETTE)
        names.append(name)
        kinds.append(int(corrosion) + 2 * int(broken))
    return names, kinds


def _write_splits(root: Path, names: list[str], kinds: list[int], seed: int, val_fraction: float,
                  test_fraction: float) -> None:
    """Seeded split lists, stratified by damage kind so a small val set still holds every class."""
    n_images = len(names)
    n_val = int(round(n_images * val_fraction))
    n_test = int(round(n_images * test_fraction))
    if val_fraction > 0 and n_val == 0 and n_images > 1:
        n_val = 1
    order = _stratified_order(np.asarray(kinds), n_val, n_test, np.random.default_rng(seed))
    val = sorted(names[k] for k in order[:n_val])
    test = sorted(names[k] for k in order[n_val:n_val + n_test])
    train = sorted(names[k] for k in order[n_val + n_test:])
    splits = {"train": train, "val": val, "trainval": sorted(train + val)}
    if test_fraction > 0:
        splits["test"] = test
    split_dir = root / "ImageSets" / "Segmentation"
    split_dir.mkdir(parents=True, exist_ok=True)
    for split, items in splits.items():
        (split_dir / f"{split}.txt").write_text("".join(f"{n}\n" for n in items), encoding="utf-8")
