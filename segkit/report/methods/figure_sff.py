"""`plot_sff`: the shallow feature fusion (SFF) block with the shapes of one forward pass.

Two shallow taps F1 and F2 are compressed by 1x1 convs, refined by depthwise-separable convs,
F2 is upsampled to F1's size, both are concatenated, fused by a depthwise-separable conv,
dropped out and re-weighted by CBAM (Woo et al., "CBAM: Convolutional Block Attention Module",
ECCV 2018, https://arxiv.org/abs/1807.06521): channel attention, then spatial attention.
"""
from __future__ import annotations

import torch.nn as nn

from segkit.report.methods._draw import Canvas
from segkit.report.methods._flow import shape_text, t, vchain

__all__ = ["plot_sff"]


def plot_sff(model: nn.Module, input_size: int = 512, lang: str | None = None, fontsize: float = 7.0):
    """The SFF module of `model` (``model.fusion``, e.g. ``sff-wadeeplab``) as a figure; returns the Figure.

    Raises:
        ValueError: the model has no shallow feature fusion.
    """
    from segkit.stitch import probe_modules

    fusion = getattr(model, "fusion", None)
    if fusion is None or not hasattr(fusion, "reduce1"):
        raise ValueError("the model has no shallow feature fusion (model.fusion); build one with fusion='sff2', "
                         "e.g. build_model('sff-wadeeplab')")
    pr = probe_modules(model, (1, 3, input_size, input_size))

    def s(path: str, which: str = "out") -> str:
        p = pr[f"fusion.{path}" if path else "fusion"]
        return shape_text(p.out_shape if which == "out" else p.in_shape)

    a, b = model.fusion_taps
    r, out = fusion.reduce1.out_channels, fusion.out_channels
    cv = Canvas(lang, fontsize=fontsize)
    w, gap = 3.4, 1.0
    x1, x2 = 0.0, w + gap
    left = vchain(cv, x1, 0.0, w, [
        (t(f"F1 = features[:{a}]\n{s('reduce1', 'in')}", f"F1 = features[:{a}]\n{s('reduce1', 'in')}"), "stage"),
        (t(f"1×1 conv → {r} (no BN)\n{s('reduce1')}", f"1×1 卷积 → {r}（无 BN）\n{s('reduce1')}"), "fusion"),
        (t(f"DS conv {r}→{r}\n{s('ds1')}", f"深度可分离卷积 {r}→{r}\n{s('ds1')}"), "fusion")])
    right = vchain(cv, x2, 0.0, w, [
        (t(f"F2 = features[{a}:{b}]\n{s('reduce2', 'in')}", f"F2 = features[{a}:{b}]\n{s('reduce2', 'in')}"), "stage"),
        (t(f"1×1 conv → {r} (no BN)\n{s('reduce2')}", f"1×1 卷积 → {r}（无 BN）\n{s('reduce2')}"), "fusion"),
        (t(f"DS conv {r}→{r}\n{s('ds2')}", f"深度可分离卷积 {r}→{r}\n{s('ds2')}"), "fusion")])
    up_y = right[-1][1] + right[-1][3] + 0.45
    cx2 = x2 + w / 2
    cv.op(cx2, up_y, "↑", 0.2, note=t(f"bilinear to {s('ds1')}", f"双线性上采样至 {s('ds1')}"))
    cv.arrow([(cx2, right[-1][1] + right[-1][3]), (cx2, up_y - 0.2)])
    cx = (x1 + x2 + w) / 2
    cat_y = up_y + 0.75
    cv.op(cx, cat_y, "C", 0.22, note=t(f"{2 * r} channels", f"{2 * r} 通道"), note_side="above")
    cx1 = x1 + w / 2
    cv.arrow([(cx1, left[-1][1] + left[-1][3]), (cx1, cat_y), (cx - 0.22, cat_y)])
    cv.arrow([(cx2, up_y + 0.2), (cx2, cat_y), (cx + 0.22, cat_y)])
    wf = 5.4
    fx = cx - wf / 2
    fuse = vchain(cv, fx, cat_y + 0.55, wf, [
        (t(f"DS conv {2 * r}→{out}\n{s('fuse')}", f"深度可分离卷积 {2 * r}→{out}\n{s('fuse')}"), "fusion"),
        (t(f"Dropout p={fusion.dropout.p:g}", f"Dropout p={fusion.dropout.p:g}"), "fusion"),
        (t(f"Channel attention: σ(MLP(GAP) + MLP(GMP)) ⊙\n{s('cbam.ca', 'in')}",
           f"通道注意力：σ(MLP(GAP) + MLP(GMP)) ⊙\n{s('cbam.ca', 'in')}"), "attention"),
        (t(f"Spatial attention: σ(conv7×7[mean; max]) ⊙\n{s('cbam')}",
           f"空间注意力：σ(conv7×7[mean; max]) ⊙\n{s('cbam')}"), "attention"),
        (t(f"Low-level feature for the decoder\n{s('')}", f"送入解码器的低层特征\n{s('')}"), "output")])
    cv.arrow([(cx, cat_y + 0.22), (cx, cat_y + 0.55)])
    cbam_top, cbam_bottom = fuse[2][1], fuse[3][1] + fuse[3][3]
    cv.panel(fx - 0.2, cbam_top - 0.15, wf + 0.4, cbam_bottom - cbam_top + 0.3, t("CBAM"), "attention",
             title_side="right")
    cv.text(cx, fuse[-1][1] + fuse[-1][3] + 0.2, t("DS conv = 3×3 depthwise conv → 1×1 pointwise conv → BN → ReLU",
                                                    "深度可分离卷积 = 3×3 深度卷积 → 1×1 逐点卷积 → BN → ReLU"),
            size=cv.fontsize * 0.85, va="top", color="#333333")
    return cv.finish(t(f"SFF: shallow feature fusion (reduced {r}, out {out})", f"SFF 浅层特征融合（压缩 {r}，输出 {out}）"))
