"""`plot_aspp_head`: the ASPP-like head of a DeepLab model, branch by branch, with real shapes.

For the MobileViT-attention heads (MSA-ASPP, the paper's final head) the MobileViT block
(Mehta and Rastegari, "MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision
Transformer", ICLR 2022, https://arxiv.org/abs/2110.02178) and the channel gate (an SE-style
gate with biases; Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018,
https://arxiv.org/abs/1709.01507) are drawn as well.
"""
from __future__ import annotations

import torch.nn as nn

from segkit.report.methods._draw import Canvas
from segkit.report.methods._flow import shape_text, t, vchain

__all__ = ["plot_aspp_head"]

BW, BG = 2.7, 0.35  # branch width and gap


def plot_aspp_head(model: nn.Module, input_size: int = 512, lang: str | None = None, fontsize: float = 7.0):
    """The head at ``model.aspp`` (e.g. of ``sff-wadeeplab``) as a figure; returns the Figure."""
    from segkit.models.heads.mvit_aspp import AG_ASPP_MViT, _MViTASPPBase
    from segkit.report.methods.architecture import _branches, _head_key
    from segkit.report.names import display_name
    from segkit.stitch import probe_modules

    head = getattr(model, "aspp", None)
    if head is None:
        raise ValueError("the model has no ASPP-like head (model.aspp); build a DeepLab model, "
                         "e.g. build_model('sff-wadeeplab')")
    pr = probe_modules(model, (1, 3, input_size, input_size))
    x_shape, y_shape = pr["aspp"].in_shape, pr["aspp"].out_shape
    cv = Canvas(lang, fontsize=fontsize)
    branches, merge = _branches(head, "aspp")
    n = len(branches)
    width = n * BW + (n - 1) * BG
    cv.box(width / 2 - 1.6, 0.0, 3.2, 0.6, t(f"x (deep feature)\n{shape_text(x_shape)}",
                                             f"x（深层特征）\n{shape_text(x_shape)}"), "stage")
    bus = 0.95
    cv.arrow([(width / 2, 0.6), (width / 2, bus)], head=False)
    cv.arrow([(BW / 2, bus), (width - BW / 2, bus)], head=False)
    mvit = isinstance(head, _MViTASPPBase)
    bottoms = []
    for i, (label, path) in enumerate(branches):
        x = i * (BW + BG)
        items = _branch_items(head, i, label, pr, mvit)
        boxes = vchain(cv, x, bus + 0.35, BW, items, pitch=0.8, h=0.58, arrow_in=True)
        bottoms.append(boxes[-1][1] + boxes[-1][3])
    low = max(bottoms)
    cat_y = low + 0.6
    cv.op(width / 2, cat_y, "C", 0.22, note=t(f"{n}×{y_shape[1]} channels", f"{n}×{y_shape[1]} 通道"),
          note_side="below-right")
    for i, b in enumerate(bottoms):
        cx = i * (BW + BG) + BW / 2
        cv.arrow([(cx, b), (cx, cat_y), (width / 2 + (0.22 if cx > width / 2 else -0.22), cat_y)]
                 if abs(cx - width / 2) > 0.01 else [(cx, b), (cx, cat_y - 0.22)])
    vchain(cv, width / 2 - 1.8, cat_y + 0.6, 3.6, [
        (t(f"1×1 conv · BN · ReLU\n{shape_text(y_shape)}", f"1×1 卷积 · BN · ReLU\n{shape_text(y_shape)}"), "aspp")])
    cv.arrow([(width / 2, cat_y + 0.22), (width / 2, cat_y + 0.6)])
    title = display_name(_head_key(head))
    right = width + 0.6
    if mvit:
        bottom = _mvit_detail(cv, head.mvit[0], pr, right)
        if isinstance(head, AG_ASPP_MViT):
            _gate_detail(cv, head.gates[0], right, bottom + 0.65)
    how = {k: v.replace("\n", " ") for k, v in merge.items()}
    return cv.finish(t(f"{title}: x → {n} branches → {how['en'][0].lower()}{how['en'][1:]}",
                       f"{title}：x → {n} 个分支 → {how['zh']}"))


def _branch_items(head: nn.Module, i: int, label: dict, pr: dict, mvit: bool) -> list:
    """The boxes of branch `i`."""
    from segkit.models.heads.mvit_aspp import AG_ASPP_MViT

    out = pr["aspp"].out_shape
    last = i == 4
    if last:
        norm = "GN" if getattr(head, "use_groupnorm", False) else "BN"
        return [(t("GAP → 1×1 conv", "全局平均池化 → 1×1 卷积"), "aspp"),
                (t(f"{norm} · ReLU\n{out[1]}×1×1", f"{norm} · ReLU\n{out[1]}×1×1"), "aspp"),
                (t(f"upsample\n{shape_text(out)}", f"上采样\n{shape_text(out)}"), "aspp")]
    if i == 0 or not mvit:
        return [(label, "aspp")]
    blk = head.mvit[i - 1]
    gated = isinstance(head, AG_ASPP_MViT)
    items = [(t(f"MobileViT block {blk.ph}×{blk.pw}\n{shape_text(pr[f'aspp.mvit.{i - 1}'].out_shape)}",
                f"MobileViT 模块 {blk.ph}×{blk.pw}\n{shape_text(pr[f'aspp.mvit.{i - 1}'].out_shape)}"), "attention"),
             (t(f"1×1 conv (no bias)\n{shape_text(pr[f'aspp.proj.{i - 1}'].out_shape)}",
                f"1×1 卷积（无偏置）\n{shape_text(pr[f'aspp.proj.{i - 1}'].out_shape)}"), "aspp")]
    if gated:
        items.append((t(f"Gate\n{shape_text(out)}", f"通道门控\n{shape_text(out)}"), "attention"))
    return items


def _mvit_detail(cv: Canvas, blk: nn.Module, pr: dict, x: float) -> float:
    """The MobileViT block: local convs, 2x2 patches, the transformer, folding, fusion with the input;
    returns the bottom of its frame."""
    c = blk.local_rep[0][0].in_channels
    d = blk.local_rep[1][0].out_channels
    layer = blk.transformer[0]
    heads, depth = layer.attn.heads, len(blk.transformer)
    mlp = layer.ffn[0].out_features
    h, w = pr["aspp.mvit.0"].out_shape[-2:]
    p = blk.ph * blk.pw
    axis = (t(f"within each {blk.ph}×{blk.pw} patch", f"{blk.ph}×{blk.pw} 块内")
            if blk.attn_axis == "intra_patch" else t("across patches", "跨块"))
    wd = 7.0
    boxes = vchain(cv, x, 0.35, wd, [
        (t(f"3×3 conv · BN · SiLU → 1×1 conv {c}→{d} · BN · SiLU", f"3×3 卷积 · BN · SiLU → 1×1 卷积 {c}→{d} · BN · SiLU"),
         "attention"),
        (t(f"unfold: {h * w // p} patches × {p} tokens × {d}", f"展开：{h * w // p} 块 × {p} token × {d}"), "attention"),
        (t(f"Transformer ×{depth}: LN → MHSA ({heads} heads, {axis['en']}) → +",
           f"Transformer ×{depth}：LN → MHSA（{heads} 头，{axis['zh']}）→ +"), "attention"),
        (t(f"LN → FFN {d}→{mlp}→{d} (SiLU) → +", f"LN → 前馈网络 {d}→{mlp}→{d}（SiLU）→ +"), "attention"),
        (t(f"fold → {d}×{h}×{w} → 1×1 conv {d}→{c} · BN · SiLU", f"折叠 → {d}×{h}×{w} → 1×1 卷积 {d}→{c} · BN · SiLU"),
         "attention"),
        (t(f"concat with x ({2 * c}) → 3×3 conv → {c} · BN · SiLU", f"与 x 拼接（{2 * c}）→ 3×3 卷积 → {c} · BN · SiLU"),
         "attention")], pitch=0.72, h=0.46, bold=False)
    bottom = boxes[-1][1] + boxes[-1][3] + 0.2
    cv.panel(x - 0.2, 0.15, wd + 0.4, bottom - 0.15, t("MobileViT block (branches 2–4)", "MobileViT 模块（分支 2–4）"),
             "attention")
    return bottom


def _gate_detail(cv: Canvas, gate: nn.Module, x: float, y: float) -> None:
    """The channel gate: Gate(X) = X ⊙ σ(FC(ReLU(FC(GAP(X)))))."""
    fc1, fc2 = gate.fc[0], gate.fc[2]
    wd = 7.0
    cv.box(x, y, wd, 0.55, t(f"GAP → FC {fc1.in_features}→{fc1.out_features} → ReLU → FC → {fc2.out_features} → σ → ⊙ X",
                             f"全局平均池化 → FC {fc1.in_features}→{fc1.out_features} → ReLU → FC → {fc2.out_features} → σ → ⊙ X"),
           "attention", bold_first=False)
    cv.panel(x - 0.2, y - 0.2, wd + 0.4, 0.95, t("Gate (after branches 2–4)", "通道门控（分支 2–4 之后）"), "attention")
