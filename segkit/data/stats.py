"""Dataset statistics for the dataset-analysis notebook.

`dataset_stats` reads every image and mask of a split once and returns a `DatasetStats`
with per-class pixel shares, images per class, per-instance object sizes (connected
components, `scipy.ndimage.label`), image sizes and channel mean/std. The plotting
helpers return matplotlib figures and save nothing (`segkit.report` saves figures).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from segkit.metrics.learned import is_background

from .palette import class_colors, mask_palette, overlay_mask
from .files import VOID
from .voc import VOCSegmentation
from .voc import as_dataset as _as_dataset

__all__ = [
    "DatasetStats", "dataset_stats", "mask_palette", "overlay", "sample_grid",
    "plot_class_distribution", "plot_object_sizes", "plot_image_sizes",
]


@dataclass
class DatasetStats:
    """Result of `dataset_stats`.

    Attributes:
        class_names: names in class-index order.
        classes: one row per class: ``class``, ``name``, ``pixels``, ``pixel_share``
            (share of labelled, non-void pixels), ``images`` (images containing the
            class), ``image_share``, ``objects`` (connected components; NaN for the background,
            whose regions are not objects).
        objects: one row per connected component: ``image``, ``class``, ``name``,
            ``area`` (pixels), ``height``, ``width`` (bounding box).
        images: one row per image: ``image``, ``height``, ``width``, ``classes``
            (the classes present, e.g. ``"0,2"``).
        mean, std: per-channel RGB mean and std in [0, 1].
        void_pixels: pixels marked void (255).
        palette: the dataset's class colours (``mask_palette``), which the figures use too.
    """

    class_names: list[str]
    classes: pd.DataFrame
    objects: pd.DataFrame
    images: pd.DataFrame
    mean: np.ndarray
    std: np.ndarray
    void_pixels: int = 0
    extra: dict = field(default_factory=dict)
    palette: np.ndarray | None = None

    def summary(self) -> str:
        """A short text summary (class shares, image counts, mean/std)."""
        lines = [f"{len(self.images)} images, sizes {self.size_summary()}"]
        for _, r in self.classes.iterrows():
            objects = "" if pd.isna(r["objects"]) else f"   objects {int(r['objects'])}"
            lines.append(f"  {r['name']:<16s} pixels {100 * r['pixel_share']:7.3f} %   images {int(r['images']):5d} "
                         f"({100 * r['image_share']:5.1f} %){objects}")
        lines.append(f"  mean {np.round(self.mean, 4).tolist()}  std {np.round(self.std, 4).tolist()}")
        return "\n".join(lines)

    def size_summary(self) -> str:
        counts = self.images.groupby(["width", "height"]).size().sort_values(ascending=False)
        return ", ".join(f"{w}x{h} ({n})" for (w, h), n in counts.head(3).items()) + (" ..." if len(counts) > 3 else "")

    def size_table(self, top: int = 8) -> pd.DataFrame:
        """The `top` most common image sizes (``Size`` as width x height, ``Images``, ``Share(%)``)
        and, when there are more, one row for all the others with their ranges: a dataset of
        many sizes gets a table of a few rows, not a row per size."""
        counts = self.images.groupby(["width", "height"]).size().rename("n").reset_index()
        counts = counts.sort_values(["n", "width", "height"], ascending=[False, True, True])
        rows = [(f"{w}x{h}", int(k)) for w, h, k in counts.head(top).itertuples(index=False)]
        rest = counts.iloc[top:]
        if len(rest):
            rows.append((f"{len(rest)} other sizes: width {rest['width'].min()}-{rest['width'].max()}, "
                         f"height {rest['height'].min()}-{rest['height'].max()}", int(rest["n"].sum())))
        table = pd.DataFrame(rows, columns=["Size", "Images"])
        table["Share(%)"] = 100.0 * table["Images"] / max(len(self.images), 1)
        return table

    def __repr__(self) -> str:
        return f"DatasetStats(\n{self.summary()}\n)"


def dataset_stats(
    data: str | Path | VOCSegmentation,
    split: str | None = None,
    num_classes: int | None = None,
    max_images: int | None = None,
    connectivity: int = 8,
) -> DatasetStats:
    """Compute the statistics of a dataset split in one pass.

    Args:
        data: dataset root or a `VOCSegmentation` (its split and classes are used).
        split: split name (default ``trainval`` when present, else ``train``).
        num_classes: override classes.txt.
        max_images: only the first N images (quick looks).
        connectivity: 4 or 8 for the connected components.

    Returns:
        A `DatasetStats`.
    """
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    ds = _as_dataset(data, split, num_classes)
    K = ds.num_classes
    background = {c for c, name in enumerate(ds.class_names) if is_background(name)}
    structure = np.ones((3, 3), bool) if connectivity == 8 else ndimage.generate_binary_structure(2, 1)
    pix = np.zeros(K, np.int64)
    img_count = np.zeros(K, np.int64)
    obj_count = np.zeros(K, np.int64)
    void = 0
    csum, csq, npx = np.zeros(3), np.zeros(3), 0
    objects, images = [], []
    n = len(ds) if max_images is None else min(len(ds), max_images)
    for i in range(n):
        img, mask = ds.load_raw(i)
        rgb = np.asarray(img, np.float64) / 255.0
        csum += rgb.sum((0, 1))
        csq += (rgb ** 2).sum((0, 1))
        npx += rgb.shape[0] * rgb.shape[1]
        counts = np.bincount(mask.ravel(), minlength=256)
        pix += counts[:K]
        void += int(counts[VOID])
        present = np.flatnonzero(counts[:K])
        img_count[present] += 1
        images.append((ds.ids[i], mask.shape[0], mask.shape[1], ",".join(map(str, present))))
        for c in present:
            if c in background:
                continue  # the background's regions are not objects
            lab, nobj = ndimage.label(mask == c, structure=structure)
            if nobj == 0:
                continue
            obj_count[c] += nobj
            areas = np.bincount(lab.ravel())[1:]
            for k, sl in enumerate(ndimage.find_objects(lab)):
                objects.append((ds.ids[i], int(c), ds.class_names[c], int(areas[k]),
                                sl[0].stop - sl[0].start, sl[1].stop - sl[1].start))
    total = max(int(pix.sum()), 1)
    classes = pd.DataFrame({
        "class": np.arange(K), "name": ds.class_names, "pixels": pix, "pixel_share": pix / total,
        "images": img_count, "image_share": img_count / max(n, 1),
        "objects": pd.array([pd.NA if c in background else int(k) for c, k in enumerate(obj_count)], dtype="Int64"),
    })
    mean = csum / max(npx, 1)
    std = np.sqrt(np.maximum(csq / max(npx, 1) - mean ** 2, 0))
    return DatasetStats(
        class_names=list(ds.class_names), classes=classes,
        objects=pd.DataFrame(objects, columns=["image", "class", "name", "area", "height", "width"]),
        images=pd.DataFrame(images, columns=["image", "height", "width", "classes"]),
        mean=mean, std=std, void_pixels=void, extra={"root": str(ds.root), "split": ds.split},
        palette=mask_palette(ds),
    )


# ----------------------------------------------------------------------------- colours and figures
def overlay(rgb: np.ndarray, mask: np.ndarray, palette: np.ndarray, alpha: float = 0.5,
            skip: Sequence[int] = (0, VOID)) -> np.ndarray:
    """Blend class colours over `rgb` (classes in `skip` stay uncoloured), rounded to the nearest
    value (`segkit.data.palette.overlay_mask`). Returns uint8."""
    return overlay_mask(rgb, mask, palette, alpha, skip=skip, rounding="nearest")


def sample_grid(
    data: str | Path | VOCSegmentation,
    n: int = 8,
    ncols: int = 4,
    seed: int = 0,
    alpha: float = 0.55,
    palette: np.ndarray | None = None,
    split: str | None = None,
    prefer_damage: bool = True,
    figsize_per: float = 2.6,
):
    """A grid of images with colour overlays of their masks and a class legend.

    Args:
        data: dataset root or `VOCSegmentation`.
        n: number of samples.
        ncols: grid columns.
        seed: which samples (seeded choice).
        alpha: overlay opacity.
        palette: ``(256,3)`` colours (default: `mask_palette`).
        split: split to sample from.
        prefer_damage: pick images that contain a class other than 0 first.
        figsize_per: inches per cell.

    Returns:
        A matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    ds = _as_dataset(data, split, None)
    pal = mask_palette(ds) if palette is None else np.asarray(palette, np.uint8)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ds))
    picked = []
    if prefer_damage:
        for i in order:
            _, m = ds.load_raw(int(i))
            if ((m > 0) & (m != VOID)).any():
                picked.append(int(i))
            if len(picked) == n:
                break
    for i in order:
        if len(picked) >= min(n, len(ds)):
            break
        if int(i) not in picked:
            picked.append(int(i))
    rows = int(np.ceil(len(picked) / ncols))
    fig, axes = plt.subplots(rows, ncols, figsize=(figsize_per * ncols, figsize_per * rows + 0.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    # class 0 stays uncoloured only when it is a background class (CamVid's 0 is "sky")
    first = 1 if is_background(ds.class_names[0]) else 0
    skip = (0, VOID) if first else (VOID,)
    for ax, i in zip(axes.ravel(), picked):
        img, m = ds.load_raw(i)
        ax.imshow(overlay(np.asarray(img), m, pal, alpha, skip=skip))
        ax.set_title(ds.ids[i], fontsize=7)
    handles = [Patch(color=pal[c] / 255.0, label=ds.class_names[c]) for c in range(first, ds.num_classes)]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def _class_colours(stats: DatasetStats) -> list[tuple[float, float, float]]:
    """Each class's colour in the figures: the dataset palette of the overlays (black drawn grey)."""
    colours = class_colors(len(stats.class_names), stats.palette)  # VOC colours when None
    return [(0.5, 0.5, 0.5) if c == (0, 0, 0) else tuple(v / 255.0 for v in c) for c in colours]


def plot_class_distribution(stats: DatasetStats):
    """Two bar charts: pixel share per class (log scale) and images containing each class, each
    bar in the class's overlay colour."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    df = stats.classes
    colours = _class_colours(stats)
    a.bar(df["name"], 100 * df["pixel_share"].clip(lower=1e-6), color=colours)
    a.set_yscale("log")
    a.set_ylabel("pixel share (%)")
    b.bar(df["name"], df["images"], color=colours)
    b.set_ylabel("images containing the class")
    for ax in (a, b):
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def plot_object_sizes(stats: DatasetStats, skip_background: bool = True):
    """Histogram of connected-component areas per class (log-spaced bins), in the overlay colours."""
    import matplotlib.pyplot as plt

    df = stats.objects
    if skip_background:
        df = df[~df["name"].map(is_background)]
    colours = _class_colours(stats)
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    if len(df):
        bins = np.logspace(0, np.log10(max(df["area"].max(), 10)), 30)
        for (c, name), g in df.groupby(["class", "name"], sort=True):
            ax.hist(g["area"], bins=bins, histtype="step", linewidth=1.6, color=colours[int(c)],
                    label=f"{name} (n={len(g)})")
        ax.set_xscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel("object area (pixels)")
    ax.set_ylabel("objects")
    fig.tight_layout()
    return fig


def plot_image_sizes(stats: DatasetStats):
    """Image width against height, one dot per size, its area proportional to the images of that size."""
    import matplotlib.pyplot as plt

    counts = stats.images.groupby(["width", "height"]).size().rename("n").reset_index()
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.scatter(counts["width"], counts["height"], s=12 * counts["n"] / max(counts["n"].min(), 1) ** 0.5,
               alpha=0.6, color="#4477aa", edgecolors="none")
    ax.set_xlabel("width (pixels)")
    ax.set_ylabel("height (pixels)")
    ax.set_title(f"{len(stats.images)} images, {len(counts)} size(s)", fontsize=9)
    fig.tight_layout()
    return fig
