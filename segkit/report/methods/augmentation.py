"""The training augmentation of a recipe: the transform training really applies, in words and as a figure.

`training_transform` builds the training set the way a run does (``segkit.training.build.run_datasets``,
then ``setup_rare``, which swaps in the defect-aware crop when ``train_crop`` is on), so the text
and the figure describe what trained, from the transform object's own parameters.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from segkit.report.methods._flow import t

__all__ = ["training_transform", "augmentation_text", "plot_augmentations", "EXAMPLE_LABELS"]


def training_transform(cfg: Any, data_root: str | Path) -> tuple[Any, Any]:
    """``(training dataset, rare-class setup or None)`` as a run with `cfg` builds them; the
    dataset's ``augment`` is the transform training applies (None: letterbox only)."""
    from segkit.training.build import run_datasets
    from segkit.training.rare_setup import setup_rare

    train_ds, _, _ = run_datasets(cfg, data_root, (None, None, None))
    k = int(cfg.num_classes or train_ds.num_classes)
    rare = setup_rare(cfg, train_ds, k, list(train_ds.class_names))
    return train_ds, rare


def _pad_words(ds: Any, lang: str) -> str:
    fill = getattr(ds, "mask_fill", 255)
    names = list(getattr(ds, "class_names", []))
    if fill == 255 or fill >= len(names):
        return "ignored by the loss" if lang == "en" else "不参与损失计算"
    return f"labelled {names[fill]}" if lang == "en" else f"标为 {names[fill]}"


def augmentation_text(cfg: Any, train_ds: Any, rare: Any = None) -> dict[str, str]:
    """The augmentation sentences, ``{"en": ..., "zh": ...}``, from the transform on `train_ds`.

    Args:
        cfg: the run's ``TrainConfig`` (input size, sampling).
        train_ds, rare: from :func:`training_transform`.
    """
    from segkit.data.rare import RareCrop
    from segkit.data.transforms import TrainAugment

    aug = getattr(train_ds, "augment", None)
    h, w = cfg.input_shape
    pad_en, pad_zh = _pad_words(train_ds, "en"), _pad_words(train_ds, "zh")
    if isinstance(aug, TrainAugment):
        j, (lo, hi), (hh, ss, vv) = aug.jitter, aug.scale, aug.hsv
        en = [f"aspect-ratio jitter (factor U({1 - j:g}, {1 + j:g}) / U({1 - j:g}, {1 + j:g}))",
              f"a random scale U({lo:g}, {hi:g}) of the {h}×{w} input (bicubic for the image, nearest for the mask)",
              "a horizontal flip with probability 0.5",
              f"pasting at a random offset on a grey {h}×{w} canvas (cropping what falls outside; padding {pad_en})"]
        zh = [f"宽高比抖动（因子 U({1 - j:g}, {1 + j:g}) / U({1 - j:g}, {1 + j:g})）",
              f"随机缩放 U({lo:g}, {hi:g}) 倍输入尺寸 {h}×{w}（图像双三次插值，标签最近邻插值）",
              "以 0.5 的概率水平翻转",
              f"随机位置粘贴到 {h}×{w} 的灰色画布上（超出部分裁掉，填充区域{pad_zh}）"]
        if aug.blur_p > 0:
            en.append(f"a 5×5 Gaussian blur with probability {aug.blur_p:g}")
            zh.append(f"以 {aug.blur_p:g} 的概率做 5×5 高斯模糊")
        if aug.rotate_p > 0:
            en.append(f"a rotation by an integer angle in [-{aug.max_angle}°, {aug.max_angle}°] with probability "
                      f"{aug.rotate_p:g}")
            zh.append(f"以 {aug.rotate_p:g} 的概率旋转 [-{aug.max_angle}°, {aug.max_angle}°] 内的整数角度")
        en.append(f"an HSV jitter with gains 1 ± ({hh:g}, {ss:g}, {vv:g}) for hue, saturation and value")
        zh.append(f"HSV 颜色抖动（色调、饱和度、亮度增益 1 ± ({hh:g}, {ss:g}, {vv:g})）")
        text = {"en": "Training images are augmented online, in this order: " + "; ".join(en) + ".",
                "zh": "训练时在线增强，依次为：" + "；".join(zh) + "。"}
        val = {"en": f" Validation and test images are letterboxed to {h}×{w} (aspect kept, grey bars).",
               "zh": f"验证与测试图像保持宽高比缩放并居中填充到 {h}×{w}。"}
    elif isinstance(aug, RareCrop):
        s0, s1 = aug.scale
        base = ("the scale at which a crop covers half of the image" if aug.crop_scale == "auto"
                else f"{float(aug.crop_scale):g} times its resolution")
        base_zh = "使裁剪块覆盖图像一半的尺度" if aug.crop_scale == "auto" else f"{float(aug.crop_scale):g} 倍分辨率"
        text = {"en": f"Training uses {h}×{w} crops of each image at {base}: a random scale U({s0:g}, {s1:g}) on top "
                      f"of it, a horizontal flip with probability 0.5, and a crop that with probability "
                      f"{aug.rare_prob:g} is placed on a pixel of a class drawn with rare classes favoured, "
                      f"otherwise anywhere (padding grey, {pad_en}).",
                "zh": f"训练时在{base_zh}下裁剪 {h}×{w} 的图像块：在此基础上随机缩放 U({s0:g}, {s1:g})，以 0.5 的"
                      f"概率水平翻转；以 {aug.rare_prob:g} 的概率将裁剪块放在按稀有类别加权抽取的类别像素上，"
                      f"否则随机放置（灰色填充，{pad_zh}）。"}
        val = {"en": " Validation and test images are evaluated whole, at the same scale.",
               "zh": "验证与测试图像在相同尺度下整图评估。"}
    else:
        text = {"en": "No online augmentation is used.", "zh": "训练时不做在线数据增强。"}
        val = {"en": f" Every image is letterboxed to {h}×{w}.", "zh": f"所有图像保持宽高比缩放并填充到 {h}×{w}。"}
    if rare is not None and getattr(rare, "image_probs", None) is not None:
        text["en"] += (f" Training images are drawn with probabilities that favour the rare classes (rare-class "
                       f"sampling at temperature {rare.temperature:g}).")
        text["zh"] += f"训练图像按稀有类别加权的概率抽样（温度 {rare.temperature:g}）。"
    return {"en": text["en"] + val["en"], "zh": text["zh"] + val["zh"]}


EXAMPLE_LABELS: dict[str, dict[str, str]] = {
    "input": t("input (resized)", "输入（缩放后）"), "base": t("image at the base scale", "基准尺度下的图像"),
    "aspect": t("aspect jitter (max)", "宽高比抖动（最大）"),
    "scale_min": t("smallest scale", "最小缩放"), "scale_max": t("largest scale", "最大缩放"),
    "flip": t("horizontal flip", "水平翻转"), "blur": t("Gaussian blur 5×5", "5×5 高斯模糊"),
    "rotate": t("rotation (max)", "旋转（最大角度）"), "hsv": t("HSV jitter (max gains)", "HSV 抖动（最大增益）"),
    "crop_rare": t("crop on a rare class", "稀有类别处裁剪"), "crop_uniform": t("crop anywhere", "随机位置裁剪"),
    "draw": t("one random draw", "一次随机增强"),
}


def plot_augmentations(transform: Any, image: Any, mask: np.ndarray, palette: np.ndarray | None = None,
                       lang: str | None = None, ncols: int = 5, seeds: tuple[int, ...] = (0, 1)):
    """The same image under each training augmentation (mask classes overlaid), then whole random draws.

    Args:
        transform: ``TrainAugment`` or ``RareCrop`` (the dataset's ``augment``; see `training_transform`).
        image, mask: one training image (RGB) and its label mask (void 255).
        palette: (256, 3) class colours (the dataset's ``palette``); default VOC's.
        lang: "en" or "zh" titles (English without a CJK font).

    Raises:
        ValueError: `transform` has no ``examples`` (no online augmentation).
    """
    import matplotlib.pyplot as plt

    from segkit.data.palette import voc_palette
    from segkit.data.stats import overlay
    from segkit.report.methods._draw import pick, resolve_lang

    if not hasattr(transform, "examples"):
        raise ValueError(f"no online augmentation to show (transform={transform!r}); the recipe letterboxes only")
    lang, font = resolve_lang(lang)
    pal = np.asarray(palette if palette is not None else voc_palette(), np.uint8)
    panels = transform.examples(image, mask, seeds)
    rows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(rows, ncols, figsize=(1.9 * ncols, 2.05 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, rgb, m) in zip(axes.ravel(), panels):
        ax.imshow(overlay(np.asarray(rgb), m, pal, alpha=0.45))
        ax.set_title(pick(EXAMPLE_LABELS.get(name, t(name)), lang), fontsize=8, **font)
    fig.tight_layout()
    return fig
