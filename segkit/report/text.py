"""Text-ready paragraphs, in English and Chinese, filled from results tables.

Every sentence is derived from the numbers passed in. A gain or a loss against the baseline
is stated only when both of its 95 % intervals (over seeds and over test images, see
``segkit.report.stats``) exclude zero; every other difference is reported as within noise,
with its intervals. Speed and size sentences state measured FPS and parameter counts.

The paragraphs are Markdown (notebooks show them with ``Markdown``): every name in them (model,
run, class) is escaped with ``md_escape``, so a name is shown as written and never runs as HTML.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import pandas as pd

from segkit._utils import counted
from segkit.report.stats import Difference
from segkit.report.tables import md_escape

__all__ = ["comparison_paragraph", "ablation_paragraph", "claims_paragraph", "training_paragraph",
           "dataset_paragraph", "save_paragraphs", "join_paragraphs", "signed", "best_single_sentence"]

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


def _claims(differences: Sequence[Difference] | None, baseline: str, base_text: str, what: str,
            lang: Lang) -> list[str]:
    """Sentences on the differences from the baseline: gains and losses only where supported."""
    zh = lang == "zh"
    what = _ZH_WHAT.get(what, what) if zh else what
    baseline = md_escape(baseline)
    out = [f"基线 {baseline} 的 mIoU 为 {base_text}。" if zh else f"The baseline, {baseline}, reaches {base_text}."]
    if not differences:
        out.append("未对差异进行统计检验，因此不声称任何提升。" if zh else
                   "No interval was computed for the differences, so no gain or loss is claimed.")
        return out
    if max(d.n_seeds for d in differences) < 2:
        out.append("仅有一个随机种子，无法估计训练噪声，因此以下差异均不作为提升或下降。" if zh else
                   "With a single seed, training noise cannot be estimated, so no difference is claimed as a "
                   "gain or a loss.")
    out += _not_learned_claims(differences, what, lang)
    differences = [d for d in differences if d.comparable]
    if not differences:
        return out
    gains = sorted((d for d in differences if d.supported and d.delta > 0), key=lambda d: -d.delta)
    losses = sorted((d for d in differences if d.supported and d.delta < 0), key=lambda d: d.delta)
    noise = [d for d in differences if not d.supported]

    def item(d: Difference) -> str:
        name = md_escape(d.name)
        ci = "; ".join(x for x in (f"{'种子' if zh else 'seeds'} {d.seeds.format()}" if d.seeds else "",
                                   f"{'测试图像' if zh else 'test images'} {d.images.format()}" if d.images else "") if x)
        return f"{name}（{signed(d.delta)}，95% CI {ci}）" if zh else f"{name} ({signed(d.delta)}, 95% CI {ci})"

    n = len(differences)
    if gains:
        out.append(f"{n} 个{what}中有 {len(gains)} 个优于基线，且 95% 置信区间不含零：" + "，".join(map(item, gains))
                   + f"（单位：百分点）；提升最大的是 {md_escape(gains[0].name)}。" if zh else
                   f"{len(gains)} of {n} {what}s {'improves' if len(gains) == 1 else 'improve'} on it, with 95 % "
                   "intervals that exclude zero: " + ", ".join(map(item, gains))
                   + f" mIoU points; the largest such gain is that of {md_escape(gains[0].name)}.")
    if losses:
        out.append("低于基线且区间不含零的有：" + "，".join(map(item, losses)) + "。" if zh else
                   "Lower than the baseline beyond noise: " + ", ".join(map(item, losses)) + ".")
    if noise:
        out.append("与基线的差异在噪声范围内（区间包含零或种子不足）：" + "，".join(map(item, noise)) + "。" if zh else
                   "Within noise (an interval includes zero, or too few seeds): " + ", ".join(map(item, noise)) + ".")
    if not gains:
        out.append(f"没有{what}显著优于基线。" if zh else f"No {what} is shown to improve on the baseline.")
    return out


def join_paragraphs(*parts: Mapping[str, str]) -> dict[str, str]:
    """Per language, the non-empty texts of `parts` (``{"en": ..., "zh": ...}`` each) as one paragraph:
    joined by a space in English, directly in Chinese (its sentences end in "。")."""
    out: dict[str, str] = {}
    for part in parts:
        for lang, text in part.items():
            if text:
                out[lang] = ("" if lang == "zh" else " ").join(t for t in (out.get(lang, ""), text) if t)
    return out


def class_paragraph(differences: Sequence[Difference], lang: Lang = "en") -> str:
    """One sentence on the per-class IoU differences from the baseline
    (``segkit.report.compare.class_differences``): those both intervals support, or that none is.

    Differences involving a model that has not learned a class are left out (no evidence)."""
    from segkit.report.compare import class_of

    zh = lang == "zh"
    usable = [d for d in differences if d.comparable]
    if not usable:
        return ""
    shown = [d for d in usable if d.supported]
    if not shown:
        return ("各类别 IoU 与基线的差异均未得到两个 95% 区间的支持。" if zh else
                "No per-class IoU difference from the baseline is supported by both 95 % intervals.")
    items = [f"{md_escape(d.name)} {md_escape(class_of(d))} {signed(d.delta)}（95% CI 种子 {d.seeds.format()}；"
             f"测试图像 {d.images.format()}）" if zh else
             f"{md_escape(d.name)} {md_escape(class_of(d))} {signed(d.delta)} (95% CI seeds {d.seeds.format()}; "
             f"test images {d.images.format()})" for d in sorted(shown, key=lambda d: -abs(d.delta))]
    return ("两个区间都支持的类别 IoU 差异（百分点）：" + "，".join(items) + "；其余在噪声范围内。" if zh else
            "Per class, the IoU differences from the baseline that both intervals support (points): "
            + ", ".join(items) + "; the others are within noise.")


def _not_learned_claims(differences: Sequence[Difference], what: str, lang: Lang) -> list[str]:
    """Which models have not learned which classes: they are named, never compared or ranked."""
    zh = lang == "zh"
    rule = "IoU 低于 5%" if zh else "IoU under 5 % on the scored images"
    out = []
    base = differences[0].baseline_not_learned
    if base:
        classes = md_escape(", ".join(base))
        out.append(f"基线未学会 {classes}（{rule}），因此不与其比较任何{what}。" if zh else
                   f"The baseline has not learned {classes} ({rule}), so no {what} is compared with it.")
    missed = [d for d in differences if d.variant_not_learned]
    if missed:
        items = [f"{md_escape(d.name)}（{md_escape(', '.join(d.variant_not_learned))}）" if zh else
                 f"{md_escape(d.name)} ({md_escape(', '.join(d.variant_not_learned))})" for d in missed]
        out.append(f"未学会的类别（{rule}），这些模型不参与比较：" + "，".join(items) + "。" if zh else
                   f"Not learned ({rule}), so these are not compared: " + ", ".join(items) + ".")
    return out


def comparison_paragraph(
    df: pd.DataFrame,
    differences: Sequence[Difference] | None = None,
    baseline: str | None = None,
    name_col: str = "Model",
    miou_col: str = "mIoU(%)",
    fps_col: str | None = "FPS(f/s)",
    params_col: str | None = "Parameter(M)",
    lang: Lang = "en",
    what: str = "model",
) -> str:
    """A paragraph comparing models on accuracy (against a baseline), speed and size.

    Accuracy gains and losses are claimed only for differences whose 95 % intervals exclude
    zero (:attr:`Difference.supported`); the rest are called noise, with their intervals.
    Speed and size sentences state the measured FPS and parameter counts.

    Args:
        df: one row per model (``results_table`` output): mIoU in percent (an optional
            ``"<mIoU col> std"`` column), FPS in frames/s, parameters in M.
        differences: ``segkit.report.compare.baseline_differences`` for `baseline`.
        baseline: the row the differences are taken against (None: no accuracy claims).
        lang: "en" or "zh".
        what: what one row is ("backbone", "attention variant"); used in sentences.

    Raises:
        ValueError: missing columns, an empty table, an unknown baseline or language.
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"lang={lang!r}; use 'en' or 'zh'.")
    _check(df, [c for c in (name_col, miou_col, fps_col, params_col) if c])
    d = df.reset_index(drop=True)
    names = d[name_col].astype(str).tolist()
    if baseline is not None and baseline not in names:
        raise ValueError(f"baseline={baseline!r} is not a row of the table; rows are {names}.")
    d[name_col] = [md_escape(n) for n in names]
    out: list[str] = []
    if baseline is not None:
        out += _claims(differences, baseline, _value(d.loc[names.index(baseline)], miou_col, d, lang), what, lang)
    else:
        values = ", ".join(f"{r[name_col]} {_value(r, miou_col, d, lang)}" for r in d.to_dict("records"))
        out.append(f"各{what}的 mIoU：{values}（未指定基线，不声称差异）。" if lang == "zh" else
                   f"mIoU of each {what}: {values} (no baseline given, so no difference is claimed).")
    out += _speed_size(d, name_col, miou_col, fps_col, params_col, lang)
    return ("" if lang == "zh" else " ").join(out)


def ablation_paragraph(
    df: pd.DataFrame,
    differences: Sequence[Difference] | None,
    baseline: str,
    name_col: str = "Model",
    miou_col: str = "mIoU(%)",
    lang: Lang = "en",
    what: str = "variant",
) -> str:
    """A paragraph for an ablation: which variants beat the baseline beyond noise, by how much.

    Raises:
        ValueError: missing columns, an empty table, an unknown baseline or language.
    """
    return comparison_paragraph(df, differences, baseline, name_col, miou_col, None, None, lang, what)


_ZH_WHAT = {"backbone": "主干网络", "attention variant": "注意力变体", "ASPP variant": "ASPP 变体", "group": "分组",
            "model": "模型", "variant": "变体", "training option": "训练选项",
            "combination": "组合", "remedy": "补救方案"}


def _value(row: Any, col: str, df: pd.DataFrame, lang: Lang = "en") -> str:
    """'33.38 ± 0.52 % mIoU (n = 3 seeds)' (zh: '33.38 ± 0.52 %（n = 3 个种子）') from a results_table row."""
    std = row.get(f"{col} std") if f"{col} std" in df.columns else None
    n = int(row["n"]) if "n" in df.columns else None
    text = f"{float(row[col]):.2f}" + (f" ± {float(std):.2f}" if std is not None and std == std else "") + " %"
    if lang == "zh":
        return text + (f"（n = {n} 个种子）" if n else "")
    return text + " mIoU" + (f" (n = {n} seeds)" if n else "")


def _speed_size(d: pd.DataFrame, name_col: str, miou_col: str, fps_col: str | None, params_col: str | None,
                lang: Lang) -> list[str]:
    zh = lang == "zh"
    out = []
    if fps_col:
        fast = d.loc[int(d[fps_col].astype(float).idxmax())]
        slow = d.loc[int(d[fps_col].astype(float).idxmin())]
        out.append(f"速度最快的是 {fast[name_col]}（{fast[fps_col]:.2f} FPS），最慢的是 {slow[name_col]}（{slow[fps_col]:.2f} FPS）。"
                   if zh else f"The fastest is {fast[name_col]} at {fast[fps_col]:.2f} FPS, the slowest "
                   f"{slow[name_col]} at {slow[fps_col]:.2f} FPS (batch 1, this machine).")
    if params_col:
        small = d.loc[int(d[params_col].astype(float).idxmin())]
        out.append(f"参数量最小的是 {small[name_col]}（{small[params_col]:.2f} M）。" if zh else
                   f"The smallest is {small[name_col]} ({small[params_col]:.2f} M parameters).")
    return out


# metric -> (claim, what measures it) per language; docs/metrics.md defines the metrics
_CLAIMS = {
    "small_detection": {"en": ("The small-target claim", "the share of small objects found, pooled over the defect "
                                                         "classes (size bins in metrics.json)"),
                        "zh": ("小目标结论", "小目标检出率（各缺陷类别合计，尺寸划分见 metrics.json）")},
    "boundary_miou_fg": {"en": ("The edge claim", "the boundary IoU, mean over the classes but the background"),
                         "zh": ("边缘结论", "边界 IoU（除背景外各类别的平均）")},
    "boundary_miou": {"en": ("The edge claim", "the boundary IoU, mean over all classes"),
                      "zh": ("边缘结论", "边界 IoU（所有类别的平均）")},
}


def claims_paragraph(differences: Sequence[Difference], lang: Lang = "en", about_claim: bool = True) -> str:
    """Whether the small-target and the edge claims hold between two models, one sentence each.

    A claim is *supported* only when its difference is (:attr:`Difference.supported`): both
    models learned every class, two or more seeds, and both 95 % intervals (over seeds and
    over test images) exclude zero on the side of a gain; a loss beyond noise *contradicts*
    it. Every other case says why nothing is claimed (not learned, one seed, no per-image
    counts, no value at all, or an interval that includes zero), with the numbers.

    Args:
        differences: ``segkit.report.compare.claim_differences(runs, model, baseline)``: one
            :class:`Difference` per claim metric (``small_detection``, ``boundary_miou_fg`` or
            ``boundary_miou``), in percent points.
        lang: "en" or "zh".
        about_claim: False where the models differ in something the claims are not about (the
            small-target claim is about the attention ASPP, the edge claim about shallow feature
            fusion; e.g. a backbone comparison): the same evidence is stated as a higher, lower or
            within-noise difference of the metric, never as support for a claim.

    Raises:
        ValueError: an unknown language or a difference of another metric.
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"lang={lang!r}; use 'en' or 'zh'.")
    bad = [d.metric for d in differences if d.metric not in _CLAIMS]
    if bad:
        raise ValueError(f"differences of {bad} test no claim; pass those of {sorted(_CLAIMS)} "
                         "(segkit.report.compare.claim_differences)")
    sentence = _claim_sentence if about_claim else _metric_sentence
    return ("" if lang == "zh" else " ").join(sentence(d, lang) for d in differences)


def _delta_text(d: Difference, zh: bool) -> str:
    """'Δ +1.20 points, 95 % CI seeds [..]; test images [..]' (zh: 'Δ +1.20，95% CI 种子 [..]；..')."""
    ci = "; ".join(x for x in (f"{'种子' if zh else 'seeds'} {d.seeds.format()}" if d.seeds else "",
                               f"{'测试图像' if zh else 'test images'} {d.images.format()}" if d.images else "") if x)
    delta = f"Δ {signed(d.delta)}" + ("" if zh else " points")
    if ci:
        delta += f"，95% CI {ci}" if zh else f", 95 % CI {ci}"
    return delta


def _who_not_learned(d: Difference, zh: bool) -> str:
    """'ours (wire) has' / 'ours (wire) and base (corrosion) have': who of `d` has not learned which classes."""
    who = [f"{md_escape(n)} ({md_escape(', '.join(c))})" for n, c in
           ((d.name, d.variant_not_learned), (d.baseline, d.baseline_not_learned)) if c]
    if zh:
        return "、".join(who)
    return " and ".join(who) + (" have" if len(who) > 1 else " has")


def _why_not_supported(d: Difference, zh: bool) -> str:
    """Why a comparable, finite difference is no evidence of a gain or a loss."""
    if d.n_seeds < 2:
        return "仅有一个随机种子，无法估计训练噪声" if zh else "a single seed cannot measure training noise"
    if d.images is None:
        return "运行没有逐图像计数，无法计算测试图像区间" if zh else \
            "the runs store no per-image counts for the interval over test images"
    return "区间包含零，差异在噪声范围内" if zh else "an interval includes zero, so the difference is within noise"


def _claim_sentence(d: Difference, lang: Lang) -> str:
    zh = lang == "zh"
    claim, what = _CLAIMS[d.metric][lang]
    name, base, delta = md_escape(d.name), md_escape(d.baseline), _delta_text(d, zh)
    if not d.comparable:
        who = _who_not_learned(d, zh)
        return (f"{claim}（{what}）无法检验（{name} 相对 {base}）：{who} 未学会这些类别（IoU 低于 5%）。" if zh else
                f"{claim} ({what}) cannot be tested for {name} against {base}: {who} not learned these classes "
                "(IoU under 5 %).")
    if not math.isfinite(d.delta):
        return (f"{claim}（{what}）无法检验（{name} 相对 {base}）：运行中没有该指标的数值"
                "（评估时尚未计算，或测试集中没有此类目标）。" if zh else
                f"{claim} ({what}) cannot be tested for {name} against {base}: the runs hold no value of it "
                "(they were evaluated before segkit computed it, or the test split has no such object).")
    if d.supported:
        if d.delta > 0:
            return (f"{claim}（{what}）得到支持：{name} 相对 {base} {delta}，两个区间均不含零。" if zh else
                    f"{claim} ({what}) is supported: {name} against {base}, {delta}; both intervals exclude zero.")
        return (f"{claim}（{what}）被否定：{name} 低于 {base}，{delta}，两个区间均不含零。" if zh else
                f"{claim} ({what}) is contradicted: {name} is below {base} beyond noise, {delta}.")
    why = _why_not_supported(d, zh)
    return (f"{claim}（{what}）未得到支持：{why}（{name} 相对 {base}，{delta}）。" if zh else
            f"{claim} ({what}) is not supported: {why} ({name} against {base}, {delta}).")


def _metric_sentence(d: Difference, lang: Lang) -> str:
    """A claim metric's difference between models the claim is not about: no verdict on the claim."""
    zh = lang == "zh"
    what = _CLAIMS[d.metric][lang][1]
    head = what if zh else what[:1].upper() + what[1:]
    name, base, delta = md_escape(d.name), md_escape(d.baseline), _delta_text(d, zh)
    if not d.comparable:
        who = _who_not_learned(d, zh)
        return (f"{head}：{name} 不与 {base} 比较，{who} 未学会这些类别（IoU 低于 5%）。" if zh else
                f"{head}: {name} is not compared with {base}, as {who} not learned these classes (IoU under 5 %).")
    if not math.isfinite(d.delta):
        return (f"{head}：{name} 与 {base} 的运行中没有该指标的数值。" if zh else
                f"{head}: the runs of {name} and {base} hold no value of it.")
    if d.supported:
        higher = d.delta > 0
        return (f"{head}：{name} {'高于' if higher else '低于'} {base}，{delta}，两个区间均不含零。" if zh else
                f"{head}: {name} is {'above' if higher else 'below'} {base} beyond noise, {delta}.")
    why = _why_not_supported(d, zh)
    return (f"{head}：{why}（{name} 相对 {base}，{delta}）。" if zh else
            f"{head}: {why} ({name} against {base}, {delta}).")


def best_single_sentence(d: Difference, lang: Lang = "en") -> str:
    """Whether a full model is shown to be below (or above) its best single module (`d`: full - best
    single), judged by both 95 % intervals; a model that has not learned a class is no evidence."""
    zh = lang == "zh"
    name, best, delta = md_escape(d.name), md_escape(d.baseline), _delta_text(d, zh)
    if not d.comparable:
        who = _who_not_learned(d, zh)
        return (f"完整模型 {name} 与最佳单模块 {best} 无法比较：{who} 未学会这些类别（IoU 低于 5%）。" if zh else
                f"The full model {name} cannot be compared with the best single module, {best}: {who} not "
                "learned these classes (IoU under 5 %).")
    if d.supported:
        below = d.delta < 0
        return (f"完整模型 {name} {'低于' if below else '高于'}最佳单模块 {best}，{delta}，两个区间均不含零。" if zh else
                f"The full model {name} is shown to be {'below' if below else 'above'} its best single module, "
                f"{best}: {delta}; both intervals exclude zero.")
    why = _why_not_supported(d, zh)
    return (f"完整模型 {name} 与最佳单模块 {best} 的差异未得到证实：{why}（{delta}）。" if zh else
            f"The full model {name} is not shown to be below (or above) its best single module, {best}: {why} "
            f"({delta}).")


def training_paragraph(history: pd.DataFrame, lang: Lang = "en", miou_col: str = "miou",
                       loss_col: str = "train_loss", hard_pixels: bool = False) -> str:
    """A paragraph on one training run: epochs, loss change, best mIoU and where it peaked.

    ``history`` is a run's ``history.csv`` (one row per epoch, 1-based ``epoch`` column or
    the row order). mIoU values are fractions or percent; both are shown in percent.
    `hard_pixels` (a run with ``ohem_thresh``): the loss is a mean over the pixels still
    wrong, which need not fall as the model improves, so no verdict is drawn from it.

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
    en = [f"The model was trained for {counted(n, 'epoch')}; the training loss went from {l0:.3f} to {l1:.3f}"]
    zh = [f"模型共训练 {n} 个轮次，训练损失由 {l0:.3f} 变为 {l1:.3f}"]
    if hard_pixels:  # OHEM: as the easy pixels drop out, the mean runs over ever harder ones
        en[0] += (" (OHEM: the mean over the pixels the model still gets wrong, which need not fall as it "
                  "improves; the validation mIoU below is the measure).")
        zh[0] += "（OHEM：仅对模型仍判错的像素取平均，模型变好时不一定下降；以下面的验证集 mIoU 为准）。"
    else:
        en[0] += " (a decrease)." if l1 < l0 else " (no decrease: train longer or check the learning rate)."
        zh[0] += "（下降）。" if l1 < l0 else "（未下降：需要更长的训练或检查学习率）。"
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


def dataset_paragraph(classes: pd.DataFrame, n_images: int, lang: Lang = "en", split: str | None = None) -> str:
    """A paragraph on class balance from ``DatasetStats.classes`` (shares as fractions) of the
    `split` it was counted on (named in the first sentence when given).

    Names the rarest class by pixel share, how many images contain each class, and the
    ratio between the most and least frequent classes (only when both are non-zero).
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"lang={lang!r}; use 'en' or 'zh'.")
    _check(classes, ["name", "pixel_share", "images"], arg="classes")
    c = classes.reset_index(drop=True)
    c["name"] = [md_escape(n) for n in c["name"]]
    share = c["pixel_share"].astype(float) * 100
    hi, lo = int(share.idxmax()), int(share.idxmin())
    where = f"The {md_escape(split)} split" if split else "The split"
    where_zh = f"{md_escape(split)} 划分" if split else "该划分"
    en = [f"{where} has {n_images} images. {c.loc[hi, 'name']} covers {share[hi]:.2f}% of the labelled pixels "
          f"and {c.loc[lo, 'name']} only {share[lo]:.3f}%."]
    zh = [f"{where_zh}共有 {n_images} 张图像。{c.loc[hi, 'name']} 占已标注像素的 {share[hi]:.2f}%，"
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
