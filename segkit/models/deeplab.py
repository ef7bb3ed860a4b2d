"""DeepLabV3+ and DeepLabV3 with the reference head, and the paper's named presets.

DeepLabV3+: "Encoder-Decoder with Atrous Separable Convolution for Semantic Image
Segmentation" (Chen et al., ECCV 2018, https://arxiv.org/abs/1802.02611), in the layout of
the bubbliiiing reference code: ``shortcut_conv`` (1x1, low -> S) + ``cat_conv`` (two 3x3
convs with dropout 0.5 / 0.1) + ``cls_conv``. The paper's model family (see
``docs/models.md``) plugs into it: GGCA inside MobileNetV2 (``attn=``), shallow feature
fusion (``fusion=``) and the attention ASPPs (``aspp=``). ``low_level_channels`` is derived
from the fusion module, so a 24-vs-32 shortcut mismatch cannot happen.

Deviations: the SFF module lives in ``model.fusion`` (not inside ``model.backbone``), so a
backbone freeze leaves it trainable. DeepLabV3 uses torchvision's head after the ASPP
(3x3 conv + BN + ReLU, dropout 0.1, 1x1 classifier).
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Literal, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.models._base import SegmentationModel
from segkit.models._registry import register_model
from segkit.models._pretrained import normalize_source, resolve_file
from segkit.models._weights import load_weights, weights_init
from segkit.models.backbones import AttnPolicy, build_backbone
from segkit.models.heads import ASPP_HEADS, build_aspp, head_align_corners
from segkit.modules.attn_gate import rename_legacy_keys
from segkit.modules.shallow_fusion import SFF_GROUPS, SFFGroup, ShallowFusionLite
from segkit.modules.zero_gate import add_zero_gate, blend

__all__ = ["DeepLabV3Plus", "DeepLabV3", "create_deeplabv3plus", "create_deeplabv3"]


def _input_multiple(backbone: nn.Module, aspp: nn.Module) -> int:
    """The side multiple a DeepLab needs: the backbone's stride times what the head needs of its map
    (2 for the MobileViT heads' 2x2 patches; window heads pad themselves)."""
    return backbone.input_multiple * getattr(aspp, "feature_multiple", 1)


class DeepLabV3Plus(SegmentationModel):
    """DeepLabV3+ around any ``(low, deep)`` backbone and any ASPP-like head.

    Args:
        backbone: module with ``forward(x) -> (low, deep)`` and ``low_channels`` (and
            ``forward_taps``/``channels_at`` when `fusion` is used).
        aspp: head mapping deep features to ``aspp.out_channels`` channels.
        num_classes: output classes.
        fusion: optional shallow-fusion module; its output replaces the low-level feature.
        fusion_taps: (a, b) for ``backbone.forward_taps(x, a, b)``.
        shortcut_channels: S, width of ``shortcut_conv``.
        head_channels: W, width of ``cat_conv``.
        align_corners: of the decoder's bilinear upsamplings.
        dropout: (p1, p2) of ``cat_conv``.
        gate_fusion: blend the fusion in through a zero-initialised gate (``zero_gate``): the
            plain low-level feature (the backbone tap ``low_tap``, one of the fusion's two taps)
            keeps ``shortcut_conv`` (low_channels -> S, as without fusion), the fusion output gets
            its own ``fusion_shortcut`` (out -> S), and the decoder sees
            ``shortcut_conv(low) + fusion_gate * (fusion_shortcut(fusion(f1, f2)) - shortcut_conv(low))``:
            at gate 0 exactly what the model without fusion sees.

    Shape:
        (B, 3, H, W) -> (B, num_classes, H, W)
    """

    def __init__(self, backbone: nn.Module, aspp: nn.Module, num_classes: int, fusion: nn.Module | None = None,
                 fusion_taps: tuple[int, int] | None = None, shortcut_channels: int = 48, head_channels: int = 256,
                 align_corners: bool = True, dropout: tuple[float, float] = (0.5, 0.1),
                 gate_fusion: bool = False) -> None:
        super().__init__(num_classes, _input_multiple(backbone, aspp))
        if (fusion is None) != (fusion_taps is None):
            raise ValueError("fusion and fusion_taps go together: pass both or neither")
        self.backbone = backbone
        self.fusion = fusion
        self.fusion_taps = tuple(fusion_taps) if fusion_taps is not None else None
        self.aspp = aspp
        gate_fusion = gate_fusion and fusion is not None
        low_c = fusion.out_channels if fusion is not None and not gate_fusion else backbone.low_channels
        aspp_c = aspp.out_channels
        self.low_level_channels = low_c
        self.shortcut_conv = _shortcut(low_c, shortcut_channels)
        self.fusion_gate = None
        if gate_fusion:
            if backbone.low_tap not in self.fusion_taps:
                raise ValueError(f"zero_gate with fusion taps {self.fusion_taps}: the plain low-level feature (tap "
                                 f"{backbone.low_tap}) is not one of them, so gate 0 has no plain shortcut to give; "
                                 "use sff1, sff2 or sff4, or zero_gate=False")
            self.fusion_shortcut = _shortcut(fusion.out_channels, shortcut_channels)
            self.fusion_gate = nn.Parameter(torch.zeros(()))
        self.cat_conv = nn.Sequential(
            nn.Conv2d(shortcut_channels + aspp_c, head_channels, 3, stride=1, padding=1),
            nn.BatchNorm2d(head_channels), nn.ReLU(inplace=False), nn.Dropout(dropout[0]),
            nn.Conv2d(head_channels, head_channels, 3, stride=1, padding=1),
            nn.BatchNorm2d(head_channels), nn.ReLU(inplace=False), nn.Dropout(dropout[1]),
        )
        self.cls_conv = nn.Conv2d(head_channels, num_classes, 1, stride=1)
        self.align_corners = align_corners
        self.cam_layers = {"backbone": f"backbone.{backbone.cam_layer}", "neck": "aspp",
                                           "decoder": "cat_conv"}
        if fusion is not None:
            self.cam_layers["fusion"] = "fusion"

    def remap_state_dict(self, sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Key remapping used by `load_weights`: the backbone's (torchvision / timm / reference layouts)
        and the reference's names of the WA-ASPP gate."""
        return _backbone_remap(self.backbone, sd)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        if self.fusion is None:
            low, deep = self.backbone(x)
            low = self.shortcut_conv(low)
        else:
            f1, f2, deep = self.backbone.forward_taps(x, *self.fusion_taps)
            low = self._fused_shortcut(f1, f2)
        deep = self.aspp(deep)
        deep = F.interpolate(deep, size=low.shape[-2:], mode="bilinear", align_corners=self.align_corners)
        y = self.cls_conv(self.cat_conv(torch.cat((deep, low), dim=1)))
        return F.interpolate(y, size=size, mode="bilinear", align_corners=self.align_corners)

    def _fused_shortcut(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        fused = self.fusion(f1, f2)
        if self.fusion_gate is None:
            return self.shortcut_conv(fused)
        plain = (f1, f2)[self.fusion_taps.index(self.backbone.low_tap)]
        return blend(self.shortcut_conv(plain), self.fusion_shortcut(fused), self.fusion_gate)


def _shortcut(channels: int, width: int) -> nn.Sequential:
    """``shortcut_conv``: 1x1 conv + BN + ReLU from the low-level feature to width S."""
    return nn.Sequential(nn.Conv2d(channels, width, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=False))


def gate_added_modules(model: nn.Module) -> nn.Module:
    """``zero_gate``: put each attention module of the backbone and of the ASPP head behind a
    zero-initialised residual gate (:func:`segkit.modules.zero_gate.add_zero_gate`), so at gate 0
    the backbone is the plain MobileNetV2 and the head its plain branches (docs/training.md)."""
    from segkit.models.parts import attention_paths

    attention = getattr(model.aspp, "attention_modules", None)
    if attention is None:
        raise ValueError(f"zero_gate: the head {type(model.aspp).__name__} does not name its attention modules; "
                         "use aspp='aspp', an MViT head (wa_aspp_mvit, lite_mvit_aspp, wa_aspp_v2) or msa_aspp, "
                         "or zero_gate=False")
    for module in [model.get_submodule(p) for p in attention_paths(model)] + attention():
        add_zero_gate(module)
    return model


class DeepLabV3(SegmentationModel):
    """DeepLabV3: backbone -> ASPP -> 3x3 conv + BN + ReLU -> dropout -> 1x1 classifier -> upsample.

    Args:
        backbone: module with ``forward(x) -> (low, deep)`` (low is ignored).
        aspp: ASPP-like head.
        num_classes: output classes.
        head_channels: width of the 3x3 conv after the ASPP.
        align_corners: of the final upsampling.
    """

    def __init__(self, backbone: nn.Module, aspp: nn.Module, num_classes: int, head_channels: int = 256,
                 align_corners: bool = True) -> None:
        super().__init__(num_classes, _input_multiple(backbone, aspp))
        self.backbone = backbone
        self.aspp = aspp
        self.head = nn.Sequential(nn.Conv2d(aspp.out_channels, head_channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(head_channels), nn.ReLU(inplace=False), nn.Dropout(0.1))
        self.cls_conv = nn.Conv2d(head_channels, num_classes, 1)
        self.align_corners = align_corners
        self.cam_layers = {"backbone": f"backbone.{backbone.cam_layer}", "neck": "aspp", "decoder": "head"}

    def remap_state_dict(self, sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Key remapping used by `load_weights` (as :meth:`DeepLabV3Plus.remap_state_dict`)."""
        return _backbone_remap(self.backbone, sd)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        _, deep = self.backbone(x)
        y = self.cls_conv(self.head(self.aspp(deep)))
        return F.interpolate(y, size=size, mode="bilinear", align_corners=self.align_corners)


# ----------------------------------------------------------------------------- builders

def _backbone_remap(backbone: nn.Module, sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    fn = getattr(backbone, "remap_state_dict", None)
    return rename_legacy_keys(fn(sd) if fn is not None else sd)


def _policy(attn: AttnPolicy | str | None, attn_policy: str | None) -> AttnPolicy | None:
    """attn = a policy object / a module name; attn_policy = a named policy ("paper", "idx3", "all")."""
    if attn is None or attn == "none":
        if attn_policy not in (None, "paper"):
            raise ValueError(f"attn_policy={attn_policy!r} needs an attention module; pass attn='ggca' (or another)")
        return None
    if isinstance(attn, AttnPolicy):
        return attn
    return AttnPolicy.from_name(attn_policy or "paper", attn)


def _backbone_and_kwargs(backbone: str, backbone_kwargs: dict[str, Any] | None, pretrained: str | bool | None,
                         partial: bool) -> tuple[dict[str, Any], Path | None]:
    """(backbone kwargs, weights file to load after the build).

    timm backbones take the pretrained source themselves (timm's own loading); for the others
    the file is resolved (and downloaded, or the offline error raised) before anything is built.
    """
    kw = dict(backbone_kwargs or {})
    source = normalize_source(pretrained)
    if source and backbone.startswith("timm:"):
        kw.setdefault("pretrained", source)
        kw.setdefault("pretrained_partial", partial)
        return kw, None
    return kw, resolve_file(source, backbone) if source else None


def _finish(model: nn.Module, weights: Path | None, init: str | None, partial: bool = False) -> nn.Module:
    if init:
        weights_init(model, init, verbose=False)
    if weights is not None:
        load_weights(model, weights, partial=partial)
    return model


def create_deeplabv3plus(
    num_classes: int = 3,
    backbone: str = "mobilenetv2",
    aspp: str = "aspp",
    fusion: str | SFFGroup | None = None,
    attn: AttnPolicy | str | None = None,
    attn_policy: str | None = None,
    downsample_factor: Literal[8, 16] = 16,
    aspp_dim: int = 256,
    shortcut_channels: int = 48,
    head_channels: int = 256,
    align_corners: bool | None = None,
    aspp_kwargs: dict[str, Any] | None = None,
    backbone_kwargs: dict[str, Any] | None = None,
    pretrained: str | bool | None = None,
    pretrained_partial: bool = False,
    init: str | None = None,
    zero_gate: bool = False,
) -> DeepLabV3Plus:
    """Generic DeepLabV3+ builder (registered as ``"deeplabv3plus"``).

    Args:
        num_classes: output classes.
        backbone: "mobilenetv2", "xception" or "timm:<name>".
        aspp: head name: "aspp", "wa_aspp", "wa_aspp_gate", "wa_aspp_mvit", "lite_mvit_aspp",
            "wa_aspp_v2", "ag_aspp_mvit" / "msa_aspp".
        fusion: None, "sff1".."sff4" or an :class:`SFFGroup` (MobileNetV2 only).
        attn: attention inside MobileNetV2 blocks: a registered module name ("ggca", "se", ...)
            or an :class:`AttnPolicy`; None for the plain backbone.
        attn_policy: named placement for a module name: "paper" (stage idx >= 4, default),
            "idx3" or "all".
        downsample_factor: output stride 8 or 16.
        aspp_dim: ASPP output width A.
        shortcut_channels: S, width of the low-level shortcut.
        head_channels: W, width of ``cat_conv``.
        align_corners: decoder upsampling flag; None = the reference value of the head family
            (True for classic/WA ASPP, False for the MobileViT/MSA family).
        aspp_kwargs: extra arguments for the head (e.g. ``heads=2, mlp_ratio=2``).
        backbone_kwargs: extra arguments for the backbone (e.g. ``width_mult``).
        pretrained: backbone weights: ``"imagenet"`` (or True: torchvision's MobileNetV2, timm's
            xception65, timm's own weights for ``timm:`` backbones; downloaded into the
            libraries' caches when online), a URL, or a local file (backbone-only in
            torchvision / timm / reference layout, or a full model checkpoint). Keys are
            remapped and a loaded/missing/skipped report is printed.
        pretrained_partial: accept weights that fill fewer than 95 % of the backbone's
            tensors (a warning gives the counts) instead of raising.
        init: optional ``weights_init`` type ("normal", ...) applied before loading.
        zero_gate: put every added module (backbone attention, the fusion, the head's attention)
            behind a zero-initialised residual gate, so the untrained model computes the plain
            DeepLabV3+ (see :func:`gate_added_modules`, ``gate_fusion`` of :class:`DeepLabV3Plus`).
    """
    if downsample_factor not in (8, 16):
        raise ValueError(f"downsample_factor must be 8 or 16, got {downsample_factor!r}")
    bkw, weights = _backbone_and_kwargs(backbone, backbone_kwargs, pretrained, pretrained_partial)
    bb = build_backbone(backbone, downsample_factor, _policy(attn, attn_policy), **bkw)
    head = build_aspp(aspp, bb.out_channels, aspp_dim, downsample_factor, **(aspp_kwargs or {}))
    fuse, taps = None, None
    if fusion is not None:
        group = SFF_GROUPS.get(fusion) if isinstance(fusion, str) else fusion
        if group is None:
            raise ValueError(f"unknown fusion {fusion!r}; use None, {', '.join(SFF_GROUPS)} or an SFFGroup")
        if not hasattr(bb, "forward_taps"):
            raise ValueError(f"fusion needs a backbone with tap access (mobilenetv2), got backbone={backbone!r}")
        taps = (group.a, group.b)
        fuse = ShallowFusionLite(bb.channels_at(group.a), bb.channels_at(group.b), group.reduced, group.out,
                                 group.dropout)
    if align_corners is None:
        align_corners = head_align_corners(aspp)
    model = DeepLabV3Plus(bb, head, num_classes, fuse, taps, shortcut_channels, head_channels, align_corners,
                          gate_fusion=zero_gate)
    if zero_gate:
        gate_added_modules(model)
    return _finish(model, weights, init, pretrained_partial)


def create_deeplabv3(
    num_classes: int = 3,
    backbone: str = "mobilenetv2",
    aspp: str = "aspp",
    attn: AttnPolicy | str | None = None,
    attn_policy: str | None = None,
    downsample_factor: Literal[8, 16] = 16,
    aspp_dim: int = 256,
    head_channels: int = 256,
    align_corners: bool | None = None,
    aspp_kwargs: dict[str, Any] | None = None,
    backbone_kwargs: dict[str, Any] | None = None,
    pretrained: str | bool | None = None,
    pretrained_partial: bool = False,
    init: str | None = None,
    zero_gate: bool = False,
) -> DeepLabV3:
    """Generic DeepLabV3 builder (registered as ``"deeplabv3"``): no decoder, same backbones, heads,
    ``pretrained`` sources and ``zero_gate`` as :func:`create_deeplabv3plus`."""
    if downsample_factor not in (8, 16):
        raise ValueError(f"downsample_factor must be 8 or 16, got {downsample_factor!r}")
    bkw, weights = _backbone_and_kwargs(backbone, backbone_kwargs, pretrained, pretrained_partial)
    bb = build_backbone(backbone, downsample_factor, _policy(attn, attn_policy), **bkw)
    head = build_aspp(aspp, bb.out_channels, aspp_dim, downsample_factor, **(aspp_kwargs or {}))
    if align_corners is None:
        align_corners = head_align_corners(aspp)
    model = DeepLabV3(bb, head, num_classes, head_channels, align_corners)
    if zero_gate:
        gate_added_modules(model)
    return _finish(model, weights, init, pretrained_partial)


# ----------------------------------------------------------------------------- registry

_PAPER = "SFF-WAdeeplab: improved DeepLabV3+ for steel wire rope damage segmentation (see docs/models.md)"
_V3P = "DeepLabV3+ (Chen et al., ECCV 2018)"


@register_model("deeplabv3plus", family="deeplab", paper=_V3P, year=2018, input_multiple=16)
def deeplabv3plus(**kwargs: Any) -> DeepLabV3Plus:
    """DeepLabV3+, generic: pick backbone, aspp, fusion, attn, widths (see create_deeplabv3plus)."""
    return create_deeplabv3plus(**kwargs)


deeplabv3plus.__signature__ = inspect.signature(create_deeplabv3plus)  # type: ignore[attr-defined]


@register_model("deeplabv3", family="deeplab", paper="DeepLabV3 (Chen et al., 2017)", year=2017, input_multiple=16)
def deeplabv3(**kwargs: Any) -> DeepLabV3:
    """DeepLabV3, generic (no decoder): backbone + ASPP-like head + classifier (see create_deeplabv3)."""
    return create_deeplabv3(**kwargs)


deeplabv3.__signature__ = inspect.signature(create_deeplabv3)  # type: ignore[attr-defined]


def _preset_input_multiple(cfg: dict[str, Any]) -> int:
    """The ``input_multiple`` a preset's model will have (timm features reach stride 32)."""
    if str(cfg.get("backbone", "")).startswith("timm:"):
        return 32
    return cfg.get("downsample_factor", 16) * ASPP_HEADS.get(cfg.get("aspp", "aspp")).feature_multiple


def register_preset(name: str, doc: str, params: int | None, paper: str = _PAPER, builder=create_deeplabv3plus,
                    **cfg: Any) -> None:
    """Register a preset: fixed config `cfg`; the user's kwargs override it (dict-valued
    ``aspp_kwargs``/``backbone_kwargs`` are merged key by key).

    Args:
        name: registry name.
        doc: one-line description (the zoo table's).
        params: the reference parameter count at num_classes=3, OS16 (None: not published).
        paper: the paper the preset comes from.
        builder: ``create_deeplabv3plus`` or ``create_deeplabv3``.
        **cfg: the builder's arguments.
    """

    def factory(**kwargs: Any) -> nn.Module:
        merged = {**cfg, **kwargs}
        for key in ("aspp_kwargs", "backbone_kwargs"):
            if isinstance(cfg.get(key), dict) and isinstance(kwargs.get(key), dict):
                merged[key] = {**cfg[key], **kwargs[key]}
        return builder(**merged)

    factory.__name__ = name.replace("-", "_")
    factory.__doc__ = doc
    factory.__signature__ = inspect.signature(builder)  # type: ignore[attr-defined]  (build_model checks kwargs)
    factory.preset_config = dict(cfg)  # type: ignore[attr-defined]
    register_model(name, family="deeplab", paper=paper, year=2018 if paper == _V3P else None,
                   input_multiple=_preset_input_multiple(cfg), reference_params=params, description=doc,
                   tags=("paper",) if paper == _PAPER else ())(factory)


PRESETS: dict[str, dict[str, Any]] = {}


def paper_preset(name: str, doc: str, params: int | None, **cfg: Any) -> None:
    """Register a preset of the paper's model family and record it in ``PRESETS`` (exact counts tested)."""
    PRESETS[name] = dict(params=params, cfg=cfg)
    register_preset(name, doc, params, **cfg)


# The paper's models (params at num_classes=3, OS16; see docs/models.md).
paper_preset("deeplabv3plus-mobilenetv2", "Baseline DeepLabV3+ with MobileNetV2 and classic ASPP "
             "(5,813,523 params).", 5_813_523)
paper_preset("improved-mobilenetv2", "DeepLabV3+ with the Improved MobileNetV2: GGCA_Fused after the DW conv of "
             "stage idx>=4 blocks, stride-2 blocks skipped (5,842,770 params).", 5_842_770,
             attn="ggca", attn_policy="paper")
paper_preset("deeplabv3plus-mobilenetv2-ggca-idx3", "Ablation: GGCA on stage idx>=3 (stride-2 skipped) "
             "(5,846,568 params).", 5_846_568, attn="ggca", attn_policy="idx3")
paper_preset("deeplabv3plus-mobilenetv2-ggca-all", "Ablation: GGCA (4 groups, r16, clamp) in all 17 "
             "inverted-residual blocks (5,850,840 params).", 5_850_840, attn="ggca", attn_policy="all")
for _g, _n in zip("1234", (5_817_269, 5_821_749, 5_827_445, 5_817_701)):
    _grp = SFF_GROUPS[f"sff{_g}"]
    paper_preset(f"deeplabv3plus-mobilenetv2-sff{_g}", f"Baseline + shallow feature fusion group {_g} "
                 f"(taps {_grp.a},{_grp.b}, reduced {_grp.reduced}, out {_grp.out}) with classic ASPP "
                 f"({_n:,} params).", _n, fusion=f"sff{_g}")
paper_preset("improved-mobilenetv2-sff2", "GGCA (paper policy) + SFF group 2 + classic ASPP (5,850,996 params).",
             5_850_996, attn="ggca", fusion="sff2")
paper_preset("deeplabv3plus-mobilenetv2-wa-aspp", "Baseline with WA_ASPP (windows 4/8/16, 256, heads 4, mlp 4) "
             "instead of ASPP (7,544,019 params).", 7_544_019, aspp="wa_aspp")
paper_preset("deeplabv3plus-mobilenetv2-wafa", "WAFA: WA_ASPP + max-merge gate on the concatenation "
             "(7,546,579 params).", 7_546_579, aspp="wa_aspp_gate")
paper_preset("deeplabv3plus-mobilenetv2-wa-aspp-lite", "Reduced WA_ASPP (128, heads 2, mlp 2) with the reduced "
             "head 24/128 (4,892,107 params).", 4_892_107, aspp="wa_aspp", aspp_dim=128, shortcut_channels=24,
             head_channels=128, aspp_kwargs=dict(heads=2, mlp_ratio=2))
_REDUCED = dict(aspp_dim=128, shortcut_channels=24, head_channels=128)
paper_preset("deeplabv3plus-mobilenetv2-wa-aspp-mvit", "WA_ASPP_MViT, reduced MViT (d96, depth 1, heads 2, "
             "mlp 192), 128 wide, head 24/128, GroupNorm pooling branch (11,132,491 params).", 11_132_491,
             aspp="wa_aspp_mvit", **_REDUCED)
paper_preset("deeplabv3plus-mobilenetv2-lite-mvit-aspp", "LiteMobileViTASPP (no cumulative sums), same widths "
             "as the reduced WA_ASPP_MViT (11,132,491 params).", 11_132_491, aspp="lite_mvit_aspp", **_REDUCED)
paper_preset("deeplabv3plus-mobilenetv2-wa-aspp-v2", "WA_ASPPv2: softmax-weighted sum of the five MViT-ASPP "
             "branches, 256 wide (not in the parameter table).", None, aspp="wa_aspp_v2")
paper_preset("deeplabv3plus-mobilenetv2-ag-aspp-mvit", "AG_ASPP_MViT first attempt: gates on all five branches, "
             "BatchNorm pooling branch (no batch-1 training), 128 wide, head 24/128 (11,143,411 params).",
             11_143_411, aspp="ag_aspp_mvit", aspp_kwargs=dict(gate_mode="all", use_groupnorm=False), **_REDUCED)
paper_preset("deeplabv3plus-mobilenetv2-ag-aspp-mvit-gn", "AG_ASPP_MViT with middle gates and GroupNorm, 128 "
             "wide, head 24/128 (11,139,043 params).", 11_139_043, aspp="msa_aspp", **_REDUCED)
paper_preset("deeplabv3plus-mobilenetv2-msa-aspp", "MSA_ASPP (= AG_ASPP_MViT, middle gates, GroupNorm) 256 wide "
             "with the standard head 48/256 (12,579,075 params).", 12_579_075, aspp="msa_aspp")
paper_preset("improved-mobilenetv2-msa-aspp", "Improved MobileNetV2 (GGCA) + MSA_ASPP 256 (12,608,322 params).",
             12_608_322, attn="ggca", aspp="msa_aspp")
paper_preset("deeplabv3plus-mobilenetv2-sff2-msa-aspp", "SFF group 2 + MSA_ASPP 256 (12,587,301 params).",
             12_587_301, fusion="sff2", aspp="msa_aspp")
paper_preset("deeplabv3plus-mobilenetv2-sff1-msa-aspp", "Plain MobileNetV2 + SFF group 1 + MSA_ASPP 256, "
             "shortcut from the 32-channel SFF output (12,582,821 params).", 12_582_821, fusion="sff1",
             aspp="msa_aspp")
paper_preset("sff-wadeeplab", "The final SFF-WAdeeplab: Improved MobileNetV2 (GGCA) + SFF group 2 + MSA_ASPP 256, "
             "align_corners=False, trains at batch 1 (12,616,548 params).", 12_616_548, attn="ggca",
             fusion="sff2", aspp="msa_aspp")
paper_preset("deeplabv3plus-xception", "DeepLabV3+ with the aligned Xception of the reference and classic ASPP "
             "(54,708,931 params).", 54_708_931, backbone="xception")

# Backbone-comparison presets via timm (features_only, random init; pretrained="imagenet" uses timm's
# own weights, pretrained=PATH a local file). Same DeepLabV3+ head and classic ASPP.
_TIMM_PRESETS = {
    "vgg16": ("vgg16", {}),
    "resnet50": ("resnet50", {}),
    "mobilenetv4": ("mobilenetv4_conv_medium", {}),
    "swinv2": ("swinv2_tiny_window8_256", {"strict_img_size": False, "dynamic_img_size": True}),
    "mobilevit": ("mobilevit_s", {}),
    "convnext": ("convnext_tiny", {}),
    "efficientnet": ("efficientnet_b0", {}),
}
for _short, (_timm, _bkw) in _TIMM_PRESETS.items():
    register_preset(f"deeplabv3plus-{_short}", f"Comparison: DeepLabV3+ (classic ASPP, head 48/256) on timm {_timm} "
                    f"(features_only, stride-4 low tap, last feature as deep tap"
                    f"{', any input size' if _bkw else ''}).", None, paper=_V3P, backbone=f"timm:{_timm}",
                    backbone_kwargs=_bkw)

# DeepLabV3 (no decoder) on the paper's backbones.
register_preset("deeplabv3-mobilenetv2", "DeepLabV3 (no decoder) with MobileNetV2 and classic ASPP.", None,
                paper="DeepLabV3 (Chen et al., 2017)", builder=create_deeplabv3)
register_preset("deeplabv3-xception", "DeepLabV3 (no decoder) with the aligned Xception and classic ASPP.", None,
                paper="DeepLabV3 (Chen et al., 2017)", builder=create_deeplabv3, backbone="xception")
