"""`plot_ir_ggca`: the inverted-residual block with GGCA, and GGCA's inside, with the block's real shapes.

MobileNetV2's inverted residual (Sandler et al., "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018, https://arxiv.org/abs/1801.04381) with the Global Grouped Coordinate
Attention after its depthwise conv, as the Improved MobileNetV2 places it (docs/models.md).
"""
from __future__ import annotations

import torch.nn as nn

from segkit.report.methods._draw import Canvas
from segkit.report.methods._flow import shape_text, t, vchain

__all__ = ["plot_ir_ggca", "find_attention_block"]


def find_attention_block(model: nn.Module) -> str:
    """Path of the first inverted-residual block carrying an attention module, one with a residual
    when there is such a block (the figure then shows the shortcut too).

    Raises:
        ValueError: the model has no inverted-residual block with attention (build e.g.
            ``improved-mobilenetv2``).
    """
    from segkit.models.backbones import InvertedResidual

    found = [(p, m) for p, m in model.named_modules() if isinstance(m, InvertedResidual) and m.attn is not None]
    if not found:
        raise ValueError("the model has no inverted-residual block with an attention module; build one with GGCA, "
                         "e.g. build_model('improved-mobilenetv2')")
    return next((p for p, m in found if m.use_res_connect), found[0][0])


def plot_ir_ggca(model: nn.Module, path: str | None = None, input_size: int = 512, lang: str | None = None,
                 fontsize: float = 7.0):
    """The block at `path` (default: :func:`find_attention_block`) and its GGCA, with the shapes of a
    forward pass of a 1x3xHxW input; returns the Figure.

    Args:
        model: a model holding MobileNetV2 blocks with attention (``improved-mobilenetv2``, ``sff-wadeeplab``).
        path: module path of the block, e.g. ``"backbone.features.12"``.
        input_size: side of the probe input.
        lang: "en" or "zh" (None: ``use_style``'s; English without a CJK font).
    """
    from segkit.stitch import probe_modules

    path = path or find_attention_block(model)
    block = model.get_submodule(path)
    attn = block.attn
    probes = probe_modules(model, (1, 3, input_size, input_size))
    shp = {i: probes[f"{path}.conv.{i}"].out_shape for i in range(len(block.conv))}
    x_in = probes[path].in_shape
    ai = block.attn_index
    dw = block.conv[ai - 3]
    cv = Canvas(lang, fontsize=fontsize)
    items = [(t(f"Input X\n{shape_text(x_in)}", f"输入 X\n{shape_text(x_in)}"), "input")]
    if ai > 3:  # t != 1: the 1x1 expansion
        items.append((t(f"1×1 conv (expand) · BN · ReLU6\n{shape_text(shp[2])}",
                        f"1×1 卷积（扩展）· BN · ReLU6\n{shape_text(shp[2])}"), "stage"))
    s, d = dw.stride[0], dw.dilation[0]
    items.append((t(f"3×3 DW conv (s={s}, d={d}) · BN · ReLU6\n{shape_text(shp[ai - 1])}",
                    f"3×3 深度卷积（s={s}，d={d}）· BN · ReLU6\n{shape_text(shp[ai - 1])}"), "stage"))
    name = type(attn).__name__
    items.append((t(f"{name} (G={getattr(attn, 'num_groups', '-')}, r={getattr(attn, 'reduction', '-')})\n"
                    f"{shape_text(probes[path + '.attn'].out_shape)}",
                    f"{name}（G={getattr(attn, 'num_groups', '-')}，r={getattr(attn, 'reduction', '-')}）\n"
                    f"{shape_text(probes[path + '.attn'].out_shape)}"), "attention"))
    items.append((t(f"1×1 conv (project) · BN\n{shape_text(shp[len(block.conv) - 1])}",
                    f"1×1 卷积（投影）· BN\n{shape_text(shp[len(block.conv) - 1])}"), "stage"))
    w = 4.7
    boxes = vchain(cv, 0.6, 0.0, w, items)
    last = boxes[-1]
    cx = 0.6 + w / 2
    y_out = last[1] + last[3] + 0.5
    if block.use_res_connect:
        cv.op(cx, y_out, "+", 0.2)
        cv.arrow([(cx, last[1] + last[3]), (cx, y_out - 0.2)])
        y0 = boxes[0][1] + boxes[0][3] / 2
        cv.arrow([(0.6, y0), (0.2, y0), (0.2, y_out), (cx - 0.2, y_out)])
        cv.text(0.08, (y0 + y_out) / 2, t("identity shortcut", "恒等捷径"), size=cv.fontsize * 0.85, rotation=90,
                ha="right", color="#333333")
        y_out += 0.2
    out_shape = probes[path].out_shape
    cv.box(0.6, y_out + 0.35, w, 0.6, t(f"Output\n{shape_text(out_shape)}", f"输出\n{shape_text(out_shape)}"), "output")
    cv.arrow([(cx, y_out if not block.use_res_connect else y_out), (cx, y_out + 0.35)])
    cv.text(cx, -0.35, t(f"{path} (inverted residual)", f"{path}（倒残差块）"), va="bottom", fontweight="bold")
    if hasattr(attn, "group_channels"):
        _ggca_detail(cv, attn, probes[path + ".attn"].in_shape, boxes[-2], x=0.6 + w + 1.0)
    return cv.finish()


def _ggca_detail(cv: Canvas, attn: nn.Module, shape: tuple, host: tuple, x: float) -> None:
    """GGCA's inside: groups, four directional poolings, the shared transform, gates and products."""
    _, c, h, w = shape
    g, cg, m = attn.num_groups, attn.group_channels, attn.hidden
    bw, gap = 2.1, 0.25
    width = 4 * bw + 3 * gap
    y = 0.0
    cv.box(x, y, width, 0.6, t(f"x: {c}×{h}×{w} → {g} groups of C_g = {cg} channels ((B·{g})×{cg}×{h}×{w})",
                               f"x：{c}×{h}×{w} → {g} 组，每组 C_g = {cg} 通道（(B·{g})×{cg}×{h}×{w}）"), "attention",
           bold_first=False)
    pools = [t(f"mean over W\n{cg}×{h}×1", f"沿 W 平均\n{cg}×{h}×1"), t(f"max over W\n{cg}×{h}×1", f"沿 W 最大\n{cg}×{h}×1"),
             t(f"mean over H\n{cg}×1×{w}", f"沿 H 平均\n{cg}×1×{w}"), t(f"max over H\n{cg}×1×{w}", f"沿 H 最大\n{cg}×1×{w}")]
    centres = [x + i * (bw + gap) + bw / 2 for i in range(4)]
    for cxp, label in zip(centres, pools):
        cv.box(cxp - bw / 2, y + 1.0, bw, 0.62, label, "plain", bold_first=False)
        cv.arrow([(cxp, y + 0.6), (cxp, y + 1.0)])
    ty = y + 2.0
    cv.box(x, ty, width, 0.62, t(f"T, shared by groups and descriptors: 1×1 conv {cg}→{m} · BN · ReLU · 1×1 conv {m}→{cg}",
                                 f"T（各组与四个描述共享）：1×1 卷积 {cg}→{m} · BN · ReLU · 1×1 卷积 {m}→{cg}"), "attention",
           bold_first=False)
    for cxp in centres:
        cv.arrow([(cxp, y + 1.62), (cxp, ty)])
    py = ty + 1.15
    sums = [((centres[0] + centres[1]) / 2, "h"), ((centres[2] + centres[3]) / 2, "w")]
    for sx, axis in sums:
        for cxp in (centres[:2] if axis == "h" else centres[2:]):
            cv.arrow([(cxp, ty + 0.62), (cxp, py - 0.45), (sx, py - 0.45), (sx, py - 0.2)])
        cv.op(sx, py, "+", 0.2)
        cv.op(sx, py + 0.75, "σ", 0.2, note=t(f"att_{axis}: {cg}×{h}×1" if axis == "h" else f"att_w: {cg}×1×{w}"))
        cv.arrow([(sx, py + 0.2), (sx, py + 0.55)])
    my = py + 1.6
    mx = x + width / 2
    cv.op(mx, my, "×", 0.22)
    for sx, _ in sums:
        cv.arrow([(sx, py + 0.95), (sx, my), (mx + (0.22 if sx > mx else -0.22), my)])
    cv.arrow([(x + width, 0.3), (x + width + 0.35, 0.3), (x + width + 0.35, my - 0.6), (mx, my - 0.6), (mx, my - 0.22)],
             label=t("x", "x"), label_at=1)
    cv.box(x, my + 0.55, width, 0.6, t(f"y = x ⊙ att_h ⊙ att_w (broadcast), regrouped to {c}×{h}×{w}; no residual",
                                       f"y = x ⊙ att_h ⊙ att_w（广播相乘），还原为 {c}×{h}×{w}；无残差"), "attention",
           bold_first=False)
    cv.arrow([(mx, my + 0.22), (mx, my + 0.55)])
    cv.panel(x - 0.2, -0.3, width + 0.8, my + 1.45, t(f"{type(attn).__name__}: global grouped coordinate attention",
                                                      f"{type(attn).__name__}：全局分组坐标注意力"), "attention")
    hx, hy, hw, hh = host
    cv.arrow([(hx + hw, hy + hh / 2), (x - 0.2, hy + hh / 2)], dashed=True, color="#C77C00", head=False)
