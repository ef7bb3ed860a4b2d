"""One figure style for every segkit plot, bilingual labels, and figure saving.

``use_style(lang)`` sets matplotlib's rcParams once (sizes, grid, colour cycle, and for
Chinese a CJK font found on the system); ``save_figure`` writes the same figure as a
300-dpi PNG and a vector PDF (or SVG) under ``figures/`` with a small JSON of the
parameters that produced it beside them, so every figure is traceable.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import matplotlib

from segkit.data.palette import class_colors

__all__ = [
    "PALETTE",
    "CJK_FONT_CANDIDATES",
    "CJKFontNotFoundError",
    "find_cjk_font",
    "use_style",
    "label",
    "save_figure",
    "class_colors",
]

Lang = Literal["en", "zh"]

# Colour-blind friendly cycle (Okabe-Ito), used for lines, bars and markers.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

# Fonts tried, in order, for Chinese labels (Linux Noto/WenQuanYi, Windows, macOS).
CJK_FONT_CANDIDATES = (
    "Noto Sans CJK SC",
    "Noto Serif CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "SimSun",
    "PingFang SC",
    "Heiti SC",
    "Arial Unicode MS",
)

# Axis and legend labels in both languages; notebooks call ``label(key, lang)``.
_LABELS: dict[str, tuple[str, str]] = {
    "epoch": ("Epoch", "训练轮次"),
    "loss": ("Loss", "损失"),
    "train_loss": ("Train loss", "训练损失"),
    "val_loss": ("Validation loss", "验证损失"),
    "lr": ("Learning rate", "学习率"),
    "miou": ("mIoU (%)", "平均交并比 mIoU (%)"),
    "mpa": ("mPA (%)", "平均像素精度 mPA (%)"),
    "f1": ("F1 score (%)", "F1 分数 (%)"),
    "fps": ("FPS (frames/s)", "帧率 FPS (帧/秒)"),
    "params": ("Parameters (M)", "参数量 (M)"),
    "flops": ("GFLOPs", "计算量 GFLOPs"),
    "iou": ("IoU (%)", "交并比 IoU (%)"),
    "recall": ("Recall / PA (%)", "召回率 / PA (%)"),
    "precision": ("Precision (%)", "精确率 (%)"),
    "class": ("Class", "类别"),
    "pixel_share": ("Pixel share (%)", "像素占比 (%)"),
    "images_per_class": ("Images containing the class", "包含该类别的图像数"),
    "object_area": ("Object area (pixels)", "目标面积 (像素)"),
    "count": ("Count", "数量"),
    "ground_truth": ("Ground truth", "真实标签"),
    "prediction": ("Prediction", "预测结果"),
    "image": ("Image", "图像"),
    "overlay": ("Overlay", "叠加显示"),
    "model": ("Model", "模型"),
    "latency": ("Latency (ms)", "延迟 (毫秒)"),
    "latency_share": ("Share of the latency (%)", "延迟占比 (%)"),
    "flops_share": ("Share of the FLOPs (%)", "计算量占比 (%)"),
    "width": ("Width (px)", "宽度 (像素)"),
    "height": ("Height (px)", "高度 (像素)"),
    "ours": ("ours", "本文复现"),
    "paper": ("paper", "论文"),
    "confusion_matrix": ("Confusion matrix (row-normalised, %)", "混淆矩阵 (按行归一化, %)"),
    "gradcam": ("Grad-CAM", "Grad-CAM 热力图"),
}

_state: dict[str, Any] = {"lang": "en", "font": None}


class CJKFontNotFoundError(RuntimeError):
    """Raised when Chinese labels are requested but no CJK font is installed."""


def find_cjk_font(candidates: Iterable[str] = CJK_FONT_CANDIDATES) -> str | None:
    """Return the first installed CJK font family name from ``candidates``, or None.

    Also accepts any installed font whose family name contains "CJK" as a last resort.
    """
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in candidates:
        if name in installed:
            return name
    extra = sorted(n for n in installed if "CJK" in n)
    return extra[0] if extra else None


def use_style(lang: Lang = "en", font_scale: float = 1.0) -> None:
    """Apply segkit's figure style to matplotlib (call once per notebook).

    Args:
        lang: "en" for English labels or "zh" for Chinese ones (needs a CJK font).
        font_scale: multiplies every font size (e.g. 1.2 for slides).

    Raises:
        ValueError: ``lang`` is neither "en" nor "zh".
        CJKFontNotFoundError: ``lang="zh"`` and no CJK font is installed; the message says
            which package to install.
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"lang={lang!r} is not supported; use 'en' or 'zh'.")
    import matplotlib.pyplot as plt
    from cycler import cycler

    font = None
    if lang == "zh":
        font = find_cjk_font()
        if font is None:
            raise CJKFontNotFoundError(
                "Chinese labels (lang='zh') need a CJK font, and none was found. Install one, "
                "e.g. `apt-get install fonts-noto-cjk` (Debian/Ubuntu), `conda install -c conda-forge "
                "font-ttf-noto-cjk`, or use Microsoft YaHei / SimHei on Windows; then clear matplotlib's "
                "font cache (rm -rf ~/.cache/matplotlib) and restart the kernel. Or use lang='en'."
            )
    s = font_scale
    plt.rcdefaults()
    rc: dict[str, Any] = {
        "figure.dpi": 100,
        "savefig.dpi": 300,
        "savefig.bbox": "tight",
        "font.size": 10 * s,
        "axes.titlesize": 11 * s,
        "axes.labelsize": 10 * s,
        "xtick.labelsize": 9 * s,
        "ytick.labelsize": 9 * s,
        "legend.fontsize": 9 * s,
        "legend.frameon": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "grid.linestyle": "--",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=PALETTE),
        "lines.linewidth": 1.6,
        "lines.markersize": 5,
        "image.cmap": "viridis",
        "pdf.fonttype": 42,  # embed TrueType so text stays editable in the PDF
        "svg.fonttype": "none",
        "axes.unicode_minus": False,
    }
    if font:
        rc["font.sans-serif"] = [font, "DejaVu Sans"]
        rc["font.family"] = "sans-serif"
    matplotlib.rcParams.update(rc)
    _state.update(lang=lang, font=font)


def label(key: str, lang: Lang | None = None) -> str:
    """Axis/legend label for ``key`` in ``lang`` (defaults to the language of ``use_style``).

    Unknown keys are returned unchanged, so a plain string also works.
    """
    lang = lang or _state["lang"]
    pair = _LABELS.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "zh" else pair[0]


def save_figure(
    fig: Any,
    name: str,
    out_dir: str | Path = "figures",
    formats: Iterable[str] = ("png", "pdf"),
    dpi: int = 300,
    params: Mapping[str, Any] | None = None,
    close: bool = False,
) -> list[Path]:
    """Save ``fig`` as ``<out_dir>/<name>.<fmt>`` for every format (PNG at ``dpi``, PDF/SVG vector).

    Args:
        fig: a matplotlib Figure.
        name: file stem, e.g. "backbone_miou_vs_fps" (no extension, no directory).
        out_dir: folder, created if missing (the repository's top-level ``figures/`` by default).
        formats: any of "png", "pdf", "svg".
        dpi: raster resolution for PNG.
        params: parameters that produced the figure; written to ``<name>.json`` beside it.
        close: close the figure after saving (keeps memory flat in long notebooks).

    Returns:
        The written paths, in ``formats`` order (plus the JSON when ``params`` is given).

    Raises:
        ValueError: an unknown format, or a ``name`` containing a path separator or suffix.
    """
    formats = tuple(formats)
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad:
        raise ValueError(f"formats={formats!r} contains {bad}; use 'png', 'pdf' or 'svg'.")
    if not name or "/" in name or "\\" in name or Path(name).suffix in (".png", ".pdf", ".svg"):
        raise ValueError(f"name={name!r} must be a bare file stem such as 'training_curves' (no folder, no extension).")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        p = out / f"{name}.{fmt}"
        fig.savefig(p, dpi=dpi if fmt == "png" else None, format=fmt)
        paths.append(p)
    if params is not None:
        p = out / f"{name}.json"
        p.write_text(json.dumps(dict(params), indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(p)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return paths
