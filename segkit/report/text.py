"""Text-ready paragraphs, in English and Chinese, filled from a results table.

Every sentence is derived from the numbers passed in: the best model, gains in points over
a baseline, and the speed/size trade-off. A sentence is only written when the numbers
support it (a "gain" is only called a gain when it is positive; "fastest" is only said of
the model with the highest FPS), so the paragraphs can be pasted into a manuscript after
checking the numbers, not the claims.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd

__all__ = ["comparison_paragraph", "ablation_paragraph", "training_paragraph", "dataset_paragraph",
           "save_paragraphs", "signed"]

Lang = Literal["en", "zh"]


def signed(x: float, digits: int = 2) -> str:
    """'+1.23' / '-0.40' / '±0.00'."""
    if round(x, digits) == 0:
        return f"±{0:.{digits}f}"
    return f"{x:+.{digits}f}"


def _check(df: pd.DataFrame, cols: list[str], arg: str = "df") -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{arg} lacks columns {missing}; it has {list(df.columns)}.")
    if df.empty:
        raise ValueError(f"{arg} is empty; there is nothing to describe.")


def comparison_paragraph(
    df: pd.DataFrame,
    name_col: str = "Model",
    miou_col: str = "mIoU(%)",
    f1_col: str | None = "F1 Score(%)",
    fps_col: str | None = "FPS(f/s)",
    params_col: str | None = "Parameter(M)",
    baseline: str | None = None,
    lang: Lang = "en",
    what: str | None = None,
) -> str:
    """A paragraph comparing models (rows) on accuracy, speed and size.

    Args:
        df: one row per model; metric columns in percent, FPS in frames/s, params in M.
        name_col: the column with model names.
        baseline: a model name to state gains against (e.g. "MobileNetV2"); None skips it.
        lang: "en" or "zh".
        what: what the rows are ("backbones", "attention modules"); used in the first sentence.

    Raises:
        ValueError: missing columns, an empty table, an unknown baseline or language.
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"lang={lang!r}; use 'en' or 'zh'.")
    cols = [c for c in (name_col, miou_col, f1_col, fps_col, params_col) if c]
    _check(df, cols)
    d = df.reset_index(drop=True)
    names = d[name_col].astype(str).tolist()
    if baseline is not None and baseline not in names:
        raise ValueError(f"baseline={baseline!r} is not a row of the table; rows are {names}.")
    n = len(d)
    best_i = int(d[miou_col].astype(float).idxmax())
    best = d.loc[best_i]
    what_en = what or "models"
    what_zh = {"backbones": "主干网络", "attention modules": "注意力模块", "models": "模型"}.get(what_en, what_en)
    s_en: list[str] = []
    s_zh: list[str] = []
    s_en.append(f"Across the {n} {what_en} compared, {best[name_col]} reaches the highest mIoU "
                f"({best[miou_col]:.2f}%" + (f", F1 {best[f1_col]:.2f}%" if f1_col else "") + ").")
    s_zh.append(f"在对比的 {n} 个{what_zh}中，{best[name_col]} 的 mIoU 最高（{best[miou_col]:.2f}%"
                + (f"，F1 为 {best[f1_col]:.2f}%" if f1_col else "") + "）。")
    if baseline is not None and baseline != best[name_col]:
        b = d.loc[names.index(baseline)]
        dm = float(best[miou_col]) - float(b[miou_col])
        parts_en = [f"{signed(dm)} mIoU points"]
        parts_zh = [f"mIoU {signed(dm)} 个百分点"]
        if f1_col:
            df1 = float(best[f1_col]) - float(b[f1_col])
            parts_en.append(f"{signed(df1)} F1 points")
            parts_zh.append(f"F1 {signed(df1)} 个百分点")
        s_en.append(f"Compared with the baseline {baseline}, that is {' and '.join(parts_en)}")
        s_zh.append(f"与基线 {baseline} 相比，{'、'.join(parts_zh)}")
        if params_col:
            dp = float(best[params_col]) - float(b[params_col])
            s_en[-1] += f", for {signed(dp)} M parameters"
            s_zh[-1] += f"，参数量变化 {signed(dp)} M"
        if fps_col:
            s_en[-1] += f", while FPS goes from {b[fps_col]:.2f} to {best[fps_col]:.2f}"
            s_zh[-1] += f"，FPS 由 {b[fps_col]:.2f} 变为 {best[fps_col]:.2f}"
        s_en[-1] += "."
        s_zh[-1] += "。"
    elif baseline is not None:
        s_en.append(f"The baseline {baseline} is itself the most accurate configuration here; no variant improves on it.")
        s_zh.append(f"基线 {baseline} 本身即为精度最高的配置，其余变体均未超过它。")
    if fps_col:
        fast = d.loc[int(d[fps_col].astype(float).idxmax())]
        if fast[name_col] == best[name_col]:
            s_en.append(f"It is also the fastest ({fast[fps_col]:.2f} FPS), so there is no speed/accuracy trade-off in this set.")
            s_zh.append(f"它同时也是速度最快的（{fast[fps_col]:.2f} FPS），该组中不存在速度与精度的权衡。")
        else:
            gap = float(best[miou_col]) - float(fast[miou_col])
            s_en.append(f"The fastest is {fast[name_col]} at {fast[fps_col]:.2f} FPS against {best[fps_col]:.2f} FPS "
                        f"for {best[name_col]}, at a cost of {gap:.2f} mIoU points.")
            s_zh.append(f"速度最快的是 {fast[name_col]}（{fast[fps_col]:.2f} FPS，而 {best[name_col]} 为 "
                        f"{best[fps_col]:.2f} FPS），但其 mIoU 低 {gap:.2f} 个百分点。")
    if params_col:
        small = d.loc[int(d[params_col].astype(float).idxmin())]
        if small[name_col] == best[name_col]:
            s_en.append(f"{small[name_col]} is also the smallest model ({small[params_col]:.2f} M parameters).")
            s_zh.append(f"{small[name_col]} 同时也是参数量最小的模型（{small[params_col]:.2f} M）。")
        else:
            s_en.append(f"The smallest is {small[name_col]} ({small[params_col]:.2f} M parameters, "
                        f"{small[miou_col]:.2f}% mIoU).")
            s_zh.append(f"参数量最小的是 {small[name_col]}（{small[params_col]:.2f} M，mIoU 为 {small[miou_col]:.2f}%）。")
        worst = d.loc[int(d[miou_col].astype(float).idxmin())]
        if n > 2 and worst[name_col] not in (best[name_col], small[name_col]):
            s_en.append(f"{worst[name_col]} scores lowest ({worst[miou_col]:.2f}% mIoU).")
            s_zh.append(f"{worst[name_col]} 的 mIoU 最低（{worst[miou_col]:.2f}%）。")
    return " ".join(s_en) if lang == "en" else "".join(s_zh)


def ablation_paragraph(
    df: pd.DataFrame,
    name_col: str,
    baseline: str,
    miou_col: str = "mIoU(%)",
    lang: Lang = "en",
    what: str = "variant",
) -> str:
    """A paragraph for an ablation: which variants beat the baseline, by how many points.

    Raises:
        ValueError: missing columns, an empty table, an unknown baseline or language.
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"lang={lang!r}; use 'en' or 'zh'.")
    _check(df, [name_col, miou_col])
    d = df.reset_index(drop=True)
    names = d[name_col].astype(str).tolist()
    if baseline not in names:
        raise ValueError(f"baseline={baseline!r} is not a row of the table; rows are {names}.")
    base = float(d.loc[names.index(baseline), miou_col])
    deltas = [(nm, float(v) - base) for nm, v in zip(names, d[miou_col].astype(float)) if nm != baseline]
    better = sorted([x for x in deltas if round(x[1], 2) > 0], key=lambda x: -x[1])
    worse = [x for x in deltas if round(x[1], 2) < 0]
    same = [x for x in deltas if round(x[1], 2) == 0]
    if lang == "en":
        out = [f"The baseline, {baseline}, reaches {base:.2f}% mIoU."]
        if better:
            out.append(f"{len(better)} of {len(deltas)} {what}s improve on it: "
                       + ", ".join(f"{nm} ({signed(dv)})" for nm, dv in better) + " mIoU points.")
            out.append(f"The largest gain comes from {better[0][0]}.")
        else:
            out.append(f"None of the {len(deltas)} {what}s improves on it in this run.")
        if worse:
            out.append(f"Lower than the baseline: " + ", ".join(f"{nm} ({signed(dv)})" for nm, dv in worse) + ".")
        if same:
            out.append("Unchanged to two decimals: " + ", ".join(nm for nm, _ in same) + ".")
        return " ".join(out)
    out = [f"基线 {baseline} 的 mIoU 为 {base:.2f}%。"]
    if better:
        out.append(f"{len(deltas)} 个变体中有 {len(better)} 个优于基线："
                   + "，".join(f"{nm}（{signed(dv)}）" for nm, dv in better) + "（单位：百分点）。")
        out.append(f"提升最大的是 {better[0][0]}。")
    else:
        out.append(f"本次实验中 {len(deltas)} 个变体均未超过基线。")
    if worse:
        out.append("低于基线的有：" + "，".join(f"{nm}（{signed(dv)}）" for nm, dv in worse) + "。")
    if same:
        out.append("保持不变（两位小数）的有：" + "，".join(nm for nm, _ in same) + "。")
    return "".join(out)


def training_paragraph(history: pd.DataFrame, lang: Lang = "en", miou_col: str = "miou",
                       loss_col: str = "train_loss") -> str:
    """A paragraph on one training run: epochs, loss change, best mIoU and where it peaked.

    ``history`` is a run's ``history.csv`` (one row per epoch, 1-based ``epoch`` column or
    the row order). mIoU values are fractions or percent; both are shown in percent.

    Raises:
        ValueError: an empty history, a missing loss column or an unknown language.
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"lang={lang!r}; use 'en' or 'zh'.")
    _check(history, [loss_col], arg="history")
    h = history.reset_index(drop=True)
    epochs = h["epoch"].tolist() if "epoch" in h.columns else list(range(1, len(h) + 1))
    l0, l1 = float(h[loss_col].iloc[0]), float(h[loss_col].iloc[-1])
    n = len(h)
    en = [f"The model was trained for {n} epochs; the training loss went from {l0:.3f} to {l1:.3f}"
          + (" (a decrease)." if l1 < l0 else " (no decrease: train longer or check the learning rate).")]
    zh = [f"模型共训练 {n} 个轮次，训练损失由 {l0:.3f} 变为 {l1:.3f}"
          + ("（下降）。" if l1 < l0 else "（未下降：需要更长的训练或检查学习率）。")]
    if miou_col in h.columns and h[miou_col].notna().any():
        m = h[miou_col].astype(float)
        scale = 100.0 if m.max() <= 1.0 else 1.0
        i = int(m.idxmax())
        best, last = m.iloc[i] * scale, m.dropna().iloc[-1] * scale
        en.append(f"Validation mIoU peaked at {best:.2f}% at epoch {epochs[i]}")
        zh.append(f"验证集 mIoU 在第 {epochs[i]} 轮达到最高 {best:.2f}%")
        if round(last, 2) < round(best, 2):
            en[-1] += f" and ended at {last:.2f}%, so the best checkpoint, not the last one, should be reported."
            zh[-1] += f"，最终为 {last:.2f}%，因此应报告最佳检查点而非最后一轮的结果。"
        else:
            en[-1] += ", at the last evaluation."
            zh[-1] += "，即最后一次评估。"
    return " ".join(en) if lang == "en" else "".join(zh)


def dataset_paragraph(classes: pd.DataFrame, n_images: int, lang: Lang = "en") -> str:
    """A paragraph on class balance from ``DatasetStats.classes`` (shares as fractions).

    Names the rarest class by pixel share, how many images contain each class, and the
    ratio between the most and least frequent classes (only when both are non-zero).
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"lang={lang!r}; use 'en' or 'zh'.")
    _check(classes, ["name", "pixel_share", "images"], arg="classes")
    c = classes.reset_index(drop=True)
    share = c["pixel_share"].astype(float) * 100
    hi, lo = int(share.idxmax()), int(share.idxmin())
    en = [f"The split has {n_images} images. {c.loc[hi, 'name']} covers {share[hi]:.2f}% of the labelled pixels "
          f"and {c.loc[lo, 'name']} only {share[lo]:.3f}%."]
    zh = [f"该划分共有 {n_images} 张图像。{c.loc[hi, 'name']} 占已标注像素的 {share[hi]:.2f}%，"
          f"而 {c.loc[lo, 'name']} 仅占 {share[lo]:.3f}%。"]
    if share[lo] > 0:
        ratio = share[hi] / share[lo]
        en.append(f"That is a {ratio:.0f}:1 imbalance between the most and the least frequent class; losses that "
                  f"counter it (class weights, focal loss, Dice loss) are the usual remedy.")
        zh.append(f"最多与最少类别的像素比约为 {ratio:.0f}:1，类别极不均衡；类别加权、Focal 损失与 Dice 损失是常用的应对方法。")
    counts = ", ".join(f"{r['name']} {int(r['images'])}" for _, r in c.iterrows())
    counts_zh = "，".join(f"{r['name']} {int(r['images'])} 张" for _, r in c.iterrows())
    en.append(f"Images containing each class: {counts}.")
    zh.append(f"包含各类别的图像数：{counts_zh}。")
    return " ".join(en) if lang == "en" else "".join(zh)


def save_paragraphs(name: str, paragraphs: dict[str, str], out_dir: str | Path = "tables") -> Path:
    """Write ``<out_dir>/<name>_text.md`` with one section per language (``{"en": ..., "zh": ...}``)."""
    if not paragraphs:
        raise ValueError("paragraphs is empty; pass {'en': ..., 'zh': ...}.")
    heads = {"en": "English", "zh": "中文"}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}_text.md"
    body = "\n\n".join(f"### {heads.get(k, k)}\n\n{v}" for k, v in paragraphs.items())
    path.write_text(body + "\n", encoding="utf-8")
    return path
