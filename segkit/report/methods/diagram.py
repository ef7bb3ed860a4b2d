"""`plot_architecture`: the block diagram of a described model, drawn with matplotlib patches.

DeepLabV3+ is laid out as the paper figures it: the encoder's stages top to bottom on the left,
the ASPP-like head's branches to the right of the deepest stage, and the decoder on the row of
the low-level stage (shortcut conv, concatenation with the upsampled head output, 3x3 convs,
classifier, upsampling). Inserted and stitched modules are marks on the left, each joined to
its host by a dashed line and named at its module path.
"""
from __future__ import annotations

from typing import Any

from segkit.report.methods._draw import Canvas
from segkit.report.methods.architecture import Architecture, Node

__all__ = ["plot_architecture"]

P = 0.85  # row pitch
BH = 0.62  # box height
WS = 3.3  # stage box width
WM = 3.3  # mark box width
WB = 3.3  # branch / fusion width
WC = 3.0  # shortcut / merge width
WE = 3.1  # decoder conv width
R = 0.22  # operator radius
GAP = 0.4  # extra space between the input and the first stage (the encoder panel's title)


def _height(text: dict[str, str]) -> float:
    """Box height for a label of n lines."""
    return max(BH, 0.26 * (text["en"].count("\n") + 1) + 0.14)


def _mark_text(marks: list, lang: str) -> str:
    lines = []
    for m in marks:
        count = f" ×{m.count}" if m.count > 1 else ""
        how = ((" (stitched)" if lang == "en" else "（拼接插入）") if m.stitched else "")
        lines += [f"{m.name}{count}{how}", m.path]
    return "\n".join(lines)


def _marks(cv: Canvas, arch: Architecture, boxes: dict[str, tuple[float, float, float, float]], x: float) -> None:
    """Marks of stage hosts in the column at `x`; marks of other hosts above their node."""
    by_host: dict[str, list] = {}
    for m in arch.marks:
        by_host.setdefault(m.host, []).append(m)
    stage_keys = {n.key for n in arch.stages}
    above = 0
    for host, marks in by_host.items():
        if host not in boxes:
            continue
        hx, hy, hw, hh = boxes[host]
        text = _mark_text(marks, cv.lang)
        h = 0.3 + 0.24 * text.count("\n") + 0.12
        if host in stage_keys:
            mx, my = x, hy + hh / 2 - h / 2
            cv.box(mx, my, WM, h, text, "mark", size=cv.fontsize * 0.9)
            cv.arrow([(mx + WM, hy + hh / 2), (hx, hy + hh / 2)], dashed=True, color="#C77C00", head=False)
        else:
            above += 1
            mx, my = hx + hw / 2 - WM / 2, hy - P - h / 2 - 0.1
            cv.box(mx, my, WM, h, text, "mark", size=cv.fontsize * 0.9)
            cv.arrow([(hx + hw / 2, my + h), (hx + hw / 2, hy)], dashed=True, color="#C77C00", head=False)


def _row(i: int) -> float:
    """Top of row `i` of the encoder column (row 0 is the input)."""
    return i * P + (GAP if i else 0.0)


def _column(cv: Canvas, x: float, nodes: list[Node], width: float = WS) -> dict[str, tuple[float, float, float, float]]:
    """Nodes top to bottom at `x`, joined by arrows; returns their boxes by key."""
    boxes = {}
    for i, n in enumerate(nodes):
        boxes[n.key] = cv.box(x, _row(i), width, BH, n.text, n.role)
        if i:
            cv.arrow([(x + width / 2, _row(i - 1) + BH), (x + width / 2, _row(i))])
    return boxes


def plot_architecture(arch: Architecture, lang: str | None = None, title: str | dict[str, str] | None = None,
                      fontsize: float = 7.0):
    """Draw an :class:`Architecture` as a block diagram; returns the matplotlib Figure.

    Args:
        arch: from :func:`segkit.report.methods.describe_architecture`.
        lang: "en" or "zh" labels (None: the language of ``use_style``; Chinese falls back to
            English with a warning when no CJK font is installed).
        title: optional title above the diagram.
        fontsize: base font size in points (the figure is sized to keep it at print size).
    """
    cv = Canvas(lang, fontsize=fontsize)
    has_stage_marks = any(m.host in {n.key for n in arch.stages} for m in arch.marks)
    x0 = WM + 0.6 if has_stage_marks else 0.0
    if arch.kind == "chain":  # any label length: the column is as wide as its longest line
        nodes = [arch.input, *arch.stages, arch.output]
        width = max([WS] + [cv.text_width(line) + 0.3 for n in nodes for line in n.text[cv.lang].split("\n")])
        boxes = _column(cv, x0, nodes, width)
        _marks(cv, arch, boxes, 0.0)
        return cv.finish(title)
    boxes = _column(cv, x0, [arch.input, *arch.stages])
    bb = arch.backbone or "backbone"
    top = _row(1) - 0.15
    cv.panel(x0 - 0.15, top, WS + 0.3, len(arch.stages) * P + 0.05,
             {"en": f"Encoder: {bb}", "zh": f"编码器：{bb} 主干"}, "stage")
    if arch.kind == "deeplabv3plus":
        _deeplabv3plus(cv, arch, boxes, x0)
    else:
        _deeplabv3(cv, arch, boxes, x0)
    _marks(cv, arch, boxes, 0.0)
    return cv.finish(title)


def _head(cv: Canvas, arch: Architecture, boxes: dict, x0: float, first_row: float) -> tuple[float, float, float]:
    """The ASPP head's branches from `first_row` down, fed by the deepest stage; returns (merge x, y, right)."""
    xb = x0 + WS + 1.2
    xc = xb + WB + 0.7
    pitch = 0.75
    ys = [first_row + i * pitch for i in range(len(arch.branches))]
    last = boxes[arch.stages[-1].key]
    y_deep = last[1] + BH / 2
    bus = xb - 0.35
    cv.arrow([(x0 + WS, y_deep), (bus, y_deep)], head=False,
             label={"en": "deep", "zh": "深层特征"}, label_offset=(0.0, -0.1))
    lo, hi = min(ys + [y_deep - BH / 2]) + BH / 2, max(ys + [y_deep - BH / 2]) + BH / 2
    cv.arrow([(bus, lo), (bus, hi)], head=False)
    for n, y in zip(arch.branches, ys):
        boxes[n.key] = cv.box(xb, y, WB, BH * 0.8, n.text, "aspp", bold_first=False)
        cv.arrow([(bus, y + BH * 0.4), (xb, y + BH * 0.4)])
    ym = (ys[0] + ys[-1]) / 2 + BH * 0.4
    col = xb + WB + 0.3
    for y in ys:
        cv.arrow([(xb + WB, y + BH * 0.4), (col, y + BH * 0.4)], head=False)
    cv.arrow([(col, ys[0] + BH * 0.4), (col, ys[-1] + BH * 0.4)], head=False)
    cv.arrow([(col, ym), (xc, ym)])
    hm = _height(arch.merge.text)
    boxes[arch.merge.key] = cv.box(xc, ym - hm / 2, WC, hm, arch.merge.text, "aspp")
    cv.panel(xb - 0.15, ys[0] - 0.2, xc + WC - xb + 0.3, ys[-1] - ys[0] + BH * 0.8 + 0.4, arch.head.text, "aspp")
    return xc, ym, xc + WC


def _deeplabv3plus(cv: Canvas, arch: Architecture, boxes: dict, x0: float) -> None:
    low = boxes[arch.low]
    y_d = low[1] + BH / 2  # the decoder row: the low-level stage's
    last_row = boxes[arch.stages[-1].key][1]
    n = len(arch.branches)
    first = max(low[1] + 1.3, last_row - (n - 1) * 0.75 + 0.2)
    _, ym, right = _head(cv, arch, boxes, x0, first)
    xb = x0 + WS + 1.2
    xc = xb + WB + 0.7
    dec = {d.key: d for d in arch.decoder}
    # low-level path: the low stage (or SFF) -> shortcut conv
    if arch.fusion is not None:
        f1, f2 = (boxes[k] for k in arch.fusion_inputs)
        boxes["fusion"] = cv.box(xb, y_d - BH / 2 - 0.05, WB, BH + 0.1, arch.fusion.text, "fusion")
        cv.arrow([(x0 + WS, y_d - 0.15), (xb, y_d - 0.15)], label="F1", label_offset=(0.0, -0.04))
        y2 = f2[1] + BH / 2
        jog = xb - 0.7
        cv.arrow([(x0 + WS, y2), (jog, y2), (jog, y_d + 0.15), (xb, y_d + 0.15)], label="F2", label_offset=(0.0, -0.04))
        cv.arrow([(xb + WB, y_d), (xc, y_d)])
    else:
        cv.arrow([(x0 + WS, y_d), (xc, y_d)], label={"en": "low-level features", "zh": "低层特征"},
                 label_offset=(0.0, -0.1))
    boxes["shortcut"] = cv.box(xc, y_d - BH / 2, WC, BH, dec["shortcut"].text, "decoder")
    xd = xc + WC + 0.65
    cv.op(xd, y_d, "C", R, note=dec["concat"].text, note_side="above")
    boxes["concat"] = (xd - R, y_d - R, 2 * R, 2 * R)
    cv.arrow([(xc + WC, y_d), (xd - R, y_d)])
    # head output: right, up through the upsampling, into the concatenation
    xe = xd + 0.9
    h = _height(dec["cat_conv"].text)
    cls_bottom = y_d + h / 2 + 0.3 + BH * 0.8  # where the decoder's frame ends (see _tail)
    yu = max((y_d + ym) / 2, min(cls_bottom + 0.35 + R, ym - R - 0.25))  # below the frame when there is room
    cv.arrow([(right, ym), (xd, ym), (xd, yu + R)])
    cv.op(xd, yu, "↑", R, note={"en": f"bilinear {dec['up1'].text['en']}", "zh": f"双线性上采样 {dec['up1'].text['zh']}"})
    cv.arrow([(xd, yu - R), (xd, y_d + R)])
    boxes["cat_conv"] = cv.box(xe, y_d - h / 2, WE, h, dec["cat_conv"].text, "decoder")
    cv.arrow([(xd + R, y_d), (xe, y_d)])
    bottom = _tail(cv, arch, boxes, xe, y_d + h / 2, dec)
    cv.panel(xc - 0.15, y_d - h / 2 - 0.2, xe + WE - xc + 0.3, bottom - y_d + h / 2 + 0.35,
             {"en": "Decoder", "zh": "解码器"}, "decoder")


def _tail(cv: Canvas, arch: Architecture, boxes: dict, xe: float, y: float, dec: dict[str, Node]) -> float:
    """Classifier, final upsampling and the prediction, down from the bottom (`y`) of the conv at `xe`;
    returns the classifier's bottom."""
    cx = xe + WE / 2
    y_cls = y + 0.3
    boxes["cls"] = cv.box(xe, y_cls, WE, BH * 0.8, dec["cls"].text, "decoder")
    cv.arrow([(cx, y), (cx, y_cls)])
    y_cls_end = y_cls + BH * 0.8
    yu = y_cls_end + 0.35 + 2 * R
    cv.op(cx, yu, "↑", R, note={"en": f"bilinear {dec['up2'].text['en']}", "zh": f"双线性上采样 {dec['up2'].text['zh']}"})
    cv.arrow([(cx, y_cls_end), (cx, yu - R)])
    boxes["output"] = cv.box(xe, yu + R + 0.3, WE, BH, arch.output.text, "output")
    cv.arrow([(cx, yu + R), (cx, yu + R + 0.3)])
    return y_cls_end


def _deeplabv3(cv: Canvas, arch: Architecture, boxes: dict, x0: float) -> None:
    """DeepLabV3: head -> 3x3 conv -> classifier -> upsampling -> prediction, left to right."""
    last_row = boxes[arch.stages[-1].key][1]
    n = len(arch.branches)
    first = max(P * 2, last_row - (n - 1) * 0.75 + 0.2)
    _, ym, right = _head(cv, arch, boxes, x0, first)
    dec = {d.key: d for d in arch.decoder}
    x = right + 0.7
    boxes["cat_conv"] = cv.box(x, ym - BH / 2, WE, BH, dec["cat_conv"].text, "decoder")
    cv.arrow([(right, ym), (x, ym)])
    x2 = x + WE + 0.6
    boxes["cls"] = cv.box(x2, ym - BH / 2, WE, BH, dec["cls"].text, "decoder")
    cv.arrow([(x + WE, ym), (x2, ym)])
    xo = x2 + WE + 0.6 + R
    cv.op(xo, ym, "↑", R, note={"en": f"bilinear {dec['up2'].text['en']}", "zh": f"双线性上采样 {dec['up2'].text['zh']}"},
          note_side="right")
    cv.arrow([(x2 + WE, ym), (xo - R, ym)])
    boxes["output"] = cv.box(xo - WE / 2, ym + P - BH / 2 + 0.2, WE, BH, arch.output.text, "output")
    cv.arrow([(xo, ym + R), (xo, ym + P - BH / 2 + 0.2)])


def architecture_params(arch: Architecture) -> dict[str, Any]:
    """What a saved diagram's JSON records: the model, the probe input and the marks."""
    return {"model": arch.name, "kind": arch.kind, "input": list(arch.input.shape or ()),
            "marks": [{"name": m.name, "path": m.path, "stitched": m.stitched} for m in arch.marks]}
