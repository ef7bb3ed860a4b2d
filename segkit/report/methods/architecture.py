"""`describe_architecture`: a model as the blocks of a paper's architecture figure, with real shapes.

One forward pass of a ``1x3xHxW`` input with hooks on every module (``segkit.stitch.probe_modules``)
gives each block's output shape. A DeepLabV3+ (Chen et al., "Encoder-Decoder with Atrous
Separable Convolution for Semantic Image Segmentation", ECCV 2018,
https://arxiv.org/abs/1802.02611) is described as the paper draws it: encoder stages (width,
output stride, dilation), the shallow-feature fusion or low-level tap, the ASPP-like head with
its branches, and the decoder (shortcut, upsampling, concatenation, 3x3 convs, classifier).
DeepLabV3 drops the decoder; any other model becomes a chain of stages. Modules inserted by the
backbone's attention policy or stitched in with ``segkit.stitch`` are marks at their paths.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch.nn as nn

from segkit.report.methods._units import Mark, Stage, find_marks, group_stages, merge_marks, path_range, short_name, \
    units_of

__all__ = ["Node", "Architecture", "describe_architecture"]

Text = dict[str, str]


def _t(en: str, zh: str | None = None) -> Text:
    return {"en": en, "zh": zh if zh is not None else en}


@dataclass
class Node:
    """One box (or operator) of the diagram.

    Attributes:
        key: unique id inside the architecture.
        role: "input", "stage", "fusion", "aspp", "decoder", "output" or "op".
        text: the label, ``{"en": ..., "zh": ...}``; lines are separated by ``\\n``.
        paths: the module paths the box stands for ("" for a functional operation).
        shape: its output shape (B, C, H, W) from the forward pass.
    """

    key: str
    role: str
    text: Text
    paths: tuple[str, ...] = ()
    shape: tuple[int, ...] | None = None


@dataclass
class Architecture:
    """A model as a paper's block diagram (see :func:`describe_architecture`).

    Attributes:
        name: the model's name (registry name when built by ``build_model``).
        kind: "deeplabv3plus", "deeplabv3" or "chain" (any other model).
        input, output: the input tensor and the logits.
        stages: encoder stages in order (the whole network for "chain").
        backbone: the backbone's class name (DeepLab models).
        marks: inserted and stitched modules, each with the key of the node hosting it.
        low: key of the stage feeding the decoder's low-level branch (None: no decoder or fusion).
        fusion: the shallow-feature-fusion node and ``fusion_inputs`` its two source stages.
        head: the ASPP-like head's title node, ``branches`` its branches and ``merge`` how they end.
        decoder: the decoder's nodes in order (DeepLabV3+: shortcut, upsample, concat, convs,
            classifier, final upsample; DeepLabV3: head, classifier, upsample).
    """

    name: str
    kind: Literal["deeplabv3plus", "deeplabv3", "chain"]
    input: Node
    output: Node
    stages: list[Node]
    marks: list[Mark] = field(default_factory=list)
    backbone: str = ""
    low: str | None = None
    fusion: Node | None = None
    fusion_inputs: tuple[str, str] | None = None
    head: Node | None = None
    branches: list[Node] = field(default_factory=list)
    merge: Node | None = None
    decoder: list[Node] = field(default_factory=list)

    def nodes(self) -> list[Node]:
        """Every node, encoder first."""
        extra = [n for n in (self.fusion, self.head, self.merge) if n is not None]
        return [self.input, *self.stages, *extra, *self.branches, *self.decoder, self.output]

    def node(self, key: str) -> Node:
        return next(n for n in self.nodes() if n.key == key)

    def lines(self, lang: str = "en") -> list[str]:
        """The diagram as text, one line per block (what ``segkit describe`` could print)."""
        out = []
        for n in self.nodes():
            out.append(f"{n.role:8s} {n.text.get(lang, n.text['en']).replace(chr(10), ' | ')}")
        out += [f"mark     {m.name} at {m.path} (in {m.host})" for m in self.marks]
        return out


# ----------------------------------------------------------------------------- shapes

def _shape_text(shape: Any, input_hw: tuple[int, int], lang: str = "en", dilation: int = 1) -> str:
    if not (isinstance(shape, tuple) and len(shape) == 4):
        return ""
    _, c, h, w = shape
    stride = max(1, round(input_hw[0] / max(h, 1)))
    ch = "通道" if lang == "zh" else "ch"
    dil = ("，膨胀 " if lang == "zh" else ", d=") + str(dilation) if dilation > 1 else ""
    return f"{c} {ch} · 1/{stride}{dil} · {h}×{w}"


def _stage_node(i: int, stage: Stage, root: str, input_hw: tuple[int, int]) -> Node:
    types = [short_name(u.module) for u in stage.units]
    kinds = list(dict.fromkeys(types))
    what = f"{kinds[0]} ×{len(types)}" if len(kinds) == 1 and len(types) > 1 else ", ".join(kinds[:3]) + (
        " …" if len(kinds) > 3 else "")
    head = f"{path_range(stage.paths, root)} · {what}"
    d = stage.dilation()
    return Node(f"stage{i}", "stage", {lang: f"{head}\n{_shape_text(stage.out_shape, input_hw, lang, d)}"
                                       for lang in ("en", "zh")}, tuple(stage.paths), stage.out_shape)


# ----------------------------------------------------------------------------- ASPP heads

def _head_key(head: nn.Module) -> str:
    """The ASPP registry name of a built head (``msa_aspp`` for the final gated head)."""
    from segkit.models.heads import ASPP_HEADS, AG_ASPP_MViT, WA_ASPP

    if isinstance(head, AG_ASPP_MViT):
        return "msa_aspp" if head.gate_mode == "middle" and head.use_groupnorm else "ag_aspp_mvit"
    if isinstance(head, WA_ASPP):
        return "wa_aspp_gate" if head.gate is not None else "wa_aspp"
    for name in ASPP_HEADS.names():
        if ASPP_HEADS.get(name).cls is type(head):
            return name
    return type(head).__name__


def _branches(head: nn.Module, root: str) -> tuple[list[tuple[Text, str]], Text]:
    """[(label, path)] of a head's branches, and what merges them."""
    from segkit.models.heads import ASPP, WA_ASPP, WA_ASPPv2, AG_ASPP_MViT, WA_ASPP_MViT
    from segkit.models.heads.mvit_aspp import _MViTASPPBase

    pool = (_t("Image pooling", "全局池化分支"), f"{root}.b5_conv")
    concat = _t("Concat → 1×1 conv", "拼接 → 1×1 卷积")
    if isinstance(head, ASPP):
        rates = [head.branch2[0].dilation[0], head.branch3[0].dilation[0], head.branch4[0].dilation[0]]
        out = [(_t("1×1 conv", "1×1 卷积"), f"{root}.branch1")]
        out += [(_t(f"3×3 conv, rate {r}", f"3×3 空洞卷积，膨胀率 {r}"), f"{root}.branch{i + 2}")
                for i, r in enumerate(rates)]
        return out + [(pool[0], f"{root}.branch5_conv")], concat
    if isinstance(head, WA_ASPP):
        out = [(_t("1×1 conv", "1×1 卷积"), f"{root}.b1")]
        out += [(_t(f"W-MSA {ws}×{ws} → 1×1", f"窗口注意力 {ws}×{ws} → 1×1"), f"{root}.wtb.{i}")
                for i, ws in enumerate(head.window_size)]
        merge = _t("Cumulative sums → concat\n" + ("→ gate " if head.gate is not None else "") + "→ 1×1 conv",
                   "累加 → 拼接\n" + ("→ 门控 " if head.gate is not None else "") + "→ 1×1 卷积")
        return out + [pool], merge
    if isinstance(head, _MViTASPPBase):
        blk = head.mvit[0]
        gated = isinstance(head, AG_ASPP_MViT)
        norm = "GN" if head.use_groupnorm else "BN"
        mid = f"MobileViT {blk.ph}×{blk.pw} → 1×1" + (" → gate" if gated and head.gate_mode else "")
        mid_zh = f"MobileViT {blk.ph}×{blk.pw} → 1×1" + (" → 门控" if gated else "")
        out = [(_t("1×1 conv", "1×1 卷积"), f"{root}.b1")]
        out += [(_t(mid, mid_zh), f"{root}.mvit.{i}") for i in range(3)]
        out.append((_t(f"Image pooling ({norm})", f"全局池化分支（{norm}）"), f"{root}.b5_conv"))
        if isinstance(head, AG_ASPP_MViT) and head.gate_mode == "all":
            out = [(_t(en["en"] + (" → gate" if "gate" not in en["en"] else ""),
                       en["zh"] + (" → 门控" if "门控" not in en["zh"] else "")), p) for en, p in out]
        if isinstance(head, WA_ASPPv2):
            return out, _t("Softmax-weighted sum\n→ 1×1 conv", "Softmax 加权求和\n→ 1×1 卷积")
        if isinstance(head, WA_ASPP_MViT) and head.cumulative:
            return out, _t("Cumulative sums → concat\n→ 1×1 conv", "累加 → 拼接\n→ 1×1 卷积")
        return out, concat
    kids = [(n, c) for n, c in head.named_children()]
    return [(_t(type(c).__name__), f"{root}.{n}") for n, c in kids[:-1]], _t(type(kids[-1][1]).__name__)


# ----------------------------------------------------------------------------- models

def describe_architecture(model: nn.Module, input_size: int | tuple[int, int] = 512, name: str | None = None
                          ) -> Architecture:
    """Describe `model` block by block, with the shapes of one forward pass of a 1x3xHxW input.

    Args:
        model: any segkit model (registered, preset or stitched) or another ``nn.Module``
            taking an RGB image.
        input_size: H (square) or (H, W) of the probe input.
        name: the title; default the registry name of ``model.segkit_spec`` or the class name.

    Returns:
        An :class:`Architecture` (draw it with :func:`segkit.report.methods.plot_architecture`).
    """
    from segkit.models.deeplab import DeepLabV3, DeepLabV3Plus
    from segkit.stitch import probe_modules

    hw = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    probes = probe_modules(model, (1, 3, *hw))
    name = name or (getattr(model, "segkit_spec", None) or {}).get("name") or type(model).__name__
    inp = Node("input", "input", _t(f"Input\n3×{hw[0]}×{hw[1]}", f"输入图像\n3×{hw[0]}×{hw[1]}"), (), (1, 3, *hw))
    out_shape = probes[""].out_shape
    k = out_shape[1] if isinstance(out_shape, tuple) and len(out_shape) == 4 else "?"
    output = Node("output", "output", _t(f"Prediction\n{k}×{hw[0]}×{hw[1]}", f"预测结果\n{k}×{hw[0]}×{hw[1]}"), (),
                  out_shape if isinstance(out_shape, tuple) else None)
    if isinstance(model, (DeepLabV3Plus, DeepLabV3)):
        arch = _deeplab(model, probes, hw, name, inp, output)
    else:
        units = units_of(model, "", probes)
        while len(units) == 1 and any(True for _ in units[0].module.children()):
            units = units_of(units[0].module, units[0].path, probes)
        stages = [_stage_node(i, s, "", hw) for i, s in enumerate(group_stages(units))]
        arch = Architecture(name, "chain", inp, output, stages)
        arch.marks = find_marks(model, policy_root=None)
    _host_marks(arch)
    return arch


def _deeplab(model: nn.Module, probes: dict, hw: tuple[int, int], name: str, inp: Node, output: Node) -> Architecture:
    from segkit.models.deeplab import DeepLabV3Plus
    from segkit.report.names import display_name

    stages = group_stages(units_of(model.backbone, "backbone", probes))
    nodes = [_stage_node(i, s, "backbone", hw) for i, s in enumerate(stages)]
    plus = isinstance(model, DeepLabV3Plus)
    arch = Architecture(name, "deeplabv3plus" if plus else "deeplabv3", inp, output, nodes,
                        backbone=getattr(model.backbone, "name", type(model.backbone).__name__))
    aspp_shape = probes["aspp"].out_shape
    head, root = _unwrap(model.aspp, "aspp")
    hname = display_name(_head_key(head))
    arch.head = Node("head", "aspp", _t(f"{hname} ({aspp_shape[1]} ch)", f"{hname}（{aspp_shape[1]} 通道）"),
                     ("aspp",), aspp_shape)
    branches, merge = _branches(head, root)
    arch.branches = [Node(f"branch{i}", "aspp", label, (path,), probes.get(path).out_shape if path in probes else None)
                     for i, (label, path) in enumerate(branches)]
    arch.merge = Node("merge", "aspp", {lang: f"{merge[lang]}\n{_shape_text(aspp_shape, hw, lang)}"
                                        for lang in ("en", "zh")}, ("aspp",), aspp_shape)
    if plus:
        _decoder_plus(model, probes, hw, arch, stages)
    else:
        _decoder_v3(model, probes, hw, arch)
    arch.marks = find_marks(model)
    return arch


def _unwrap(module: nn.Module, path: str) -> tuple[nn.Module, str]:
    """The host module of a ``Stitched`` container (and its path), else the module itself."""
    from segkit.stitch import Stitched

    if isinstance(module, Stitched):
        return module.host, f"{path}.host"
    return module, path


def _stage_with(stages: list[Stage], nodes: list[Node], path: str | None = None, shape: Any = None) -> str:
    """Key of the stage that holds unit `path`, or the first whose output has `shape` (or its width, or size)."""
    for st, node in zip(stages, nodes):
        if path is not None and path in st.paths:
            return node.key
    if shape is not None:
        for same in (lambda o: o == shape, lambda o: o[1] == shape[1], lambda o: o[2:] == shape[2:]):
            for st, node in zip(stages, nodes):
                if same(st.out_shape):
                    return node.key  # exact shape, else the width (a tap inside a block), else the size
    return nodes[0].key


def _decoder_plus(model: nn.Module, probes: dict, hw: tuple[int, int], arch: Architecture, stages: list[Stage]) -> None:
    shortcut, cat_conv = _unwrap(model.shortcut_conv, "")[0], _unwrap(model.cat_conv, "")[0]
    s_ch, w_ch = shortcut[0].out_channels, cat_conv[0].out_channels
    p1, p2 = cat_conv[3].p, cat_conv[7].p
    low_shape = probes["shortcut_conv"].in_shape
    if model.fusion is not None:
        a, b = model.fusion_taps
        f1 = _stage_with(stages, arch.stages, path=f"backbone.features.{a - 1}", shape=low_shape)
        f2 = _stage_with(stages, arch.stages, path=f"backbone.features.{b - 1}")
        arch.fusion = Node("fusion", "fusion", {lang: ("SFF (shallow fusion)\n" if lang == "en" else
                                                       "SFF 浅层特征融合\n") + _shape_text(low_shape, hw, lang)
                                                for lang in ("en", "zh")}, ("fusion",), low_shape)
        arch.fusion_inputs, arch.low = (f1, f2), f1
    else:
        arch.low = _stage_with(stages, arch.stages, shape=low_shape)
    sc = probes["shortcut_conv"].out_shape
    aspp_hw = arch.head.shape[-1] if arch.head.shape else 1
    up1 = max(1, round(sc[-1] / max(aspp_hw, 1))) if sc else 1
    cat = probes["cat_conv"].out_shape
    up2 = max(1, round(hw[1] / max(cat[-1], 1))) if cat else 1
    arch.decoder = [
        Node("shortcut", "decoder", {lang: ("1×1 conv, " if lang == "en" else "1×1 卷积，") + f"{s_ch}\n"
                                     + _shape_text(sc, hw, lang) for lang in ("en", "zh")}, ("shortcut_conv",), sc),
        Node("up1", "op", _t(f"×{up1}", f"×{up1}"), (), None),
        Node("concat", "op", _t(f"{s_ch + arch.head.shape[1]} ch", f"{s_ch + arch.head.shape[1]} 通道"), (), None),
        Node("cat_conv", "decoder", {lang: (f"3×3 conv ×2, {w_ch}\ndropout {p1:g} / {p2:g}\n" if lang == "en" else
                                            f"3×3 卷积 ×2，{w_ch}\nDropout {p1:g} / {p2:g}\n")
                                     + _shape_text(cat, hw, lang) for lang in ("en", "zh")}, ("cat_conv",), cat),
        Node("cls", "decoder", _t(f"1×1 conv, {arch.output.shape[1]} classes", f"1×1 卷积，{arch.output.shape[1]} 类"),
             ("cls_conv",), probes["cls_conv"].out_shape),
        Node("up2", "op", _t(f"×{up2}"), (), None),
    ]


def _decoder_v3(model: nn.Module, probes: dict, hw: tuple[int, int], arch: Architecture) -> None:
    h_ch = probes["head"].out_shape[1]
    cls = probes["cls_conv"].out_shape
    up = max(1, round(hw[1] / max(cls[-1], 1))) if cls else 1
    arch.decoder = [
        Node("cat_conv", "decoder", _t(f"3×3 conv, {h_ch}\ndropout 0.1", f"3×3 卷积，{h_ch}\nDropout 0.1"),
             ("head",), probes["head"].out_shape),
        Node("cls", "decoder", _t(f"1×1 conv, {cls[1]} classes", f"1×1 卷积，{cls[1]} 类"), ("cls_conv",), cls),
        Node("up2", "op", _t(f"×{up}"), (), None),
    ]


def _host_marks(arch: Architecture) -> None:
    """Give every mark the key of the node whose module path holds it (the longest match), then merge."""
    best: dict[int, tuple[int, str]] = {}
    for node in arch.nodes():
        for p in node.paths:
            for i, m in enumerate(arch.marks):
                if p and (m.path == p or m.path.startswith(p + ".")) and len(p) > best.get(i, (-1, ""))[0]:
                    best[i] = (len(p), node.key)
    for i, m in enumerate(arch.marks):
        m.host = best.get(i, (0, arch.stages[0].key if arch.stages else "input"))[1]
    arch.marks = merge_marks(arch.marks)
