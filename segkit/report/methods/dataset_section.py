"""The dataset paragraph of a methods section: class counts, co-occurrence, objects, the split.

`dataset_facts` runs ``segkit.data.stats.dataset_stats`` on every split list of a VOC-layout
dataset (train, val, test) and merges them, counting each image once: images containing each
class, images holding several defect classes (or none), objects (8-connected regions) per class
with their sizes, and the split. `dataset_paragraphs` writes it in English and Chinese, with the
training augmentation described from the transform training really applies
(:func:`segkit.report.methods.augmentation.augmentation_text`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from segkit.metrics.learned import is_background

__all__ = ["DatasetFacts", "dataset_facts", "dataset_table", "dataset_paragraphs", "SPLITS"]

SPLITS = ("train", "val", "test")


@dataclass
class DatasetFacts:
    """The counts a dataset paragraph states (see :func:`dataset_facts`).

    Attributes:
        class_names: in class-index order.
        background: index of the background class (None: every class is a foreground class).
        splits: split name -> images listed (0 for an empty list).
        images: distinct images over the splits.
        classes: one row per class: ``class``, ``name``, ``images`` (images containing it),
            ``image_share``, ``objects`` (8-connected regions), ``area_median``, ``area_q1``,
            ``area_q3`` (pixels), ``area_share`` (median area / image area), ``box_median``
            (median bounding box, ``"h×w"``), ``pixel_share``.
        combinations: sorted defect-class names -> images holding exactly those defect classes.
        several: images holding two or more defect classes.
        none: images holding no defect class.
        sizes: ``"512×512"`` when every image has that size, else the most common sizes with
            their counts (``"512×512 (4000), 640×480 (805)"``).
    """

    class_names: list[str]
    background: int | None
    splits: dict[str, int]
    images: int
    classes: pd.DataFrame
    combinations: dict[tuple[str, ...], int] = field(default_factory=dict)
    several: int = 0
    none: int = 0
    sizes: str = ""


def _background(names: list[str]) -> int | None:
    return 0 if names and is_background(names[0]) else None


def dataset_facts(data_root: str | Path, splits: tuple[str, ...] = SPLITS, num_classes: int | None = None,
                  connectivity: int = 8) -> DatasetFacts:
    """Count a VOC-layout dataset over its split lists, each image once.

    Args:
        data_root: the dataset folder (``JPEGImages/``, ``SegmentationClass/``, ``ImageSets/Segmentation/``).
        splits: the list files to read; missing or empty ones count 0 images.
        num_classes: override ``classes.txt``.
        connectivity: 4 or 8, for the objects (connected regions).

    Raises:
        ValueError: none of the split lists exists or holds an image.
    """
    from segkit.data.stats import dataset_stats
    from segkit.data.voc import VOCSegmentation, resolve_voc_root

    lists = resolve_voc_root(data_root) / "ImageSets" / "Segmentation"
    counts, frames_img, frames_obj = {}, [], []
    names: list[str] = []
    for split in splits:
        path = lists / f"{split}.txt"
        if not path.is_file() or not path.read_text(encoding="utf-8").strip():
            counts[split] = 0
            continue
        ds = VOCSegmentation(data_root, split=split, num_classes=num_classes, check_binary=False)
        st = dataset_stats(ds, connectivity=connectivity)
        counts[split], names = len(ds), st.class_names
        frames_img.append(st.images)
        frames_obj.append(st.objects)
    if not frames_img:
        raise ValueError(f"no split list of {', '.join(splits)} holds an image under {lists}; write them with "
                         f"`segkit data split {data_root}`")
    images = pd.concat(frames_img).drop_duplicates("image")  # an image listed in two splits counts once
    objects = pd.concat(frames_obj)
    objects = objects[objects["image"].isin(images["image"])].drop_duplicates()
    return _facts(names, counts, images, objects)


def _facts(names: list[str], counts: dict[str, int], images: pd.DataFrame, objects: pd.DataFrame) -> DatasetFacts:
    k, n = len(names), len(images)
    bg = _background(names)
    present = [set(int(c) for c in str(s).split(",") if c != "") for s in images["classes"]]
    rows = []
    for c in range(k):
        obj = objects[objects["class"] == c]
        areas = obj["area"].to_numpy(dtype=float)
        hw = images.set_index("image").loc[obj["image"], ["height", "width"]].to_numpy(dtype=float) if len(obj) else \
            np.zeros((0, 2))
        share = np.median(areas / np.maximum(hw[:, 0] * hw[:, 1], 1)) if len(obj) else np.nan
        rows.append({"class": c, "name": names[c], "images": sum(c in p for p in present),
                     "image_share": sum(c in p for p in present) / max(n, 1),
                     "objects": pd.NA if c == bg else len(obj),  # the background's regions are not objects
                     "area_median": float(np.median(areas)) if len(obj) else np.nan,
                     "area_q1": float(np.percentile(areas, 25)) if len(obj) else np.nan,
                     "area_q3": float(np.percentile(areas, 75)) if len(obj) else np.nan,
                     "area_share": float(share),
                     "box_median": (f"{int(np.median(obj['height']))}×{int(np.median(obj['width']))}"
                                    if len(obj) else "")})
    defects = [set(p) - {bg} for p in present]
    combos: dict[tuple[str, ...], int] = {}
    for d in defects:
        key = tuple(names[c] for c in sorted(d))
        combos[key] = combos.get(key, 0) + 1
    sizes = images.groupby(["height", "width"]).size().sort_values(ascending=False)
    if len(sizes) == 1:
        size_text = "{}×{}".format(*sizes.index[0][::-1])
    else:
        size_text = ", ".join(f"{w}×{h} ({m})" for (h, w), m in sizes.head(3).items()) + (" …" if len(sizes) > 3 else "")
    return DatasetFacts(names, bg, counts, n, pd.DataFrame(rows), dict(sorted(combos.items(), key=lambda kv: -kv[1])),
                        several=sum(len(d) >= 2 for d in defects), none=sum(not d for d in defects), sizes=size_text)


def dataset_table(facts: DatasetFacts) -> pd.DataFrame:
    """One row per class for ``save_table``: images, share, objects, median area and box."""
    c = facts.classes
    return pd.DataFrame({"Class": c["name"], "Images": c["images"].astype(int), "Image share(%)": 100 * c["image_share"],
                         "Objects": c["objects"].astype("Int64"), "Median area(px)": c["area_median"],
                         "Median area(% of image)": 100 * c["area_share"], "Median box(h×w)": c["box_median"]})


def _split_text(splits: dict[str, int], lang: str) -> str:
    shown = {k: v for k, v in splits.items() if v}
    total = sum(shown.values())
    if lang == "zh":
        names = {"train": "训练集", "val": "验证集", "test": "测试集"}
        parts = "，".join(f"{names.get(k, k)} {v} 张" for k, v in shown.items())
        return f"划分为{parts}（{':'.join(str(round(10 * v / max(total, 1))) for v in shown.values())}）"
    parts = ", ".join(f"{v} {k}" for k, v in shown.items())
    ratio = ":".join(str(round(10 * v / max(total, 1))) for v in shown.values())
    return f"split into {parts} (about {ratio})" + ("; there is no test split" if not splits.get("test") else "")


def dataset_paragraphs(facts: DatasetFacts, augmentation: dict[str, str] | None = None) -> dict[str, str]:
    """The dataset paragraph, ``{"en": ..., "zh": ...}`` (Markdown; names escaped).

    Args:
        facts: from :func:`dataset_facts`.
        augmentation: the augmentation sentences (:func:`~segkit.report.methods.augmentation.augmentation_text`),
            appended when given.
    """
    from segkit.report.tables import md_escape

    c = facts.classes
    fg = c if facts.background is None else c[c["class"] != facts.background]
    n = facts.images
    single = "×" in facts.sizes and "(" not in facts.sizes
    en = [f"The dataset holds {n} images ({'all ' if single else 'sizes '}{facts.sizes} pixels), "
          f"{_split_text(facts.splits, 'en')}."]
    zh = [f"数据集共 {n} 张图像（{'均为 ' if single else '尺寸 '}{facts.sizes} 像素），{_split_text(facts.splits, 'zh')}。"]
    en.append("Images containing each class: " + ", ".join(
        f"{md_escape(r['name'])} {int(r['images'])} ({100 * r['image_share']:.1f}%)" for _, r in fg.iterrows()) + ".")
    zh.append("包含各类别的图像数：" + "，".join(
        f"{md_escape(r['name'])} {int(r['images'])} 张（{100 * r['image_share']:.1f}%）" for _, r in fg.iterrows()) + "。")
    if facts.background is not None and len(fg) > 1:
        multi = [(k, v) for k, v in facts.combinations.items() if len(k) >= 2]
        detail = "; ".join(f"{md_escape(' + '.join(k))}: {v}" for k, v in multi)
        detail_zh = "；".join(f"{md_escape(' + '.join(k))}：{v} 张" for k, v in multi)
        verb = "image contains" if facts.several == 1 else "images contain"
        none = "contains" if facts.none == 1 else "contain"
        en.append(f"{facts.several} {verb} more than one defect class" + (f" ({detail})" if multi else "")
                  + f", and {facts.none} {none} none (background only).")
        zh.append(f"{facts.several} 张图像同时包含多个缺陷类别" + (f"（{detail_zh}）" if multi else "")
                  + f"，{facts.none} 张不含缺陷（仅背景）。")
    obj = fg[fg["objects"] > 0]
    if len(obj):
        en.append("Counted as 8-connected regions, there are " + ", ".join(
            f"{int(r['objects'])} {md_escape(r['name'])} objects (median area {r['area_median']:.0f} px, "
            f"{100 * r['area_share']:.2f}% of the image; median box {r['box_median']} px)" for _, r in obj.iterrows())
            + ".")
        zh.append("按 8 连通区域计，" + "，".join(
            f"{md_escape(r['name'])} 目标 {int(r['objects'])} 个（面积中位数 {r['area_median']:.0f} 像素，占图像 "
            f"{100 * r['area_share']:.2f}%；外接框中位数 {r['box_median']} 像素）" for _, r in obj.iterrows()) + "。")
    if augmentation:
        en.append(augmentation["en"])
        zh.append(augmentation["zh"])
    return {"en": " ".join(en), "zh": "".join(zh)}
