"""The methods section's formulas, written once: GGCA, SFF, WA-ASPP, MSA-ASPP, the decoder and the metrics.

`SECTIONS` holds each section as prose (Markdown with ``$...$`` inline math and ``code``) and
display equations (LaTeX). :func:`to_latex` renders ``methods.tex`` (subsections, ``equation``
environments, amsmath/amssymb), :func:`to_markdown` the same text with ``$$...$$`` blocks, which
is ``docs/methods.md`` (``python -m segkit.report.methods docs/methods.md`` rewrites it;
a test checks it is current). The numbers in the text (window sizes, reductions, rates, the GGCA
placement) are read from the code's defaults, and every equation was written against the
module that computes it (``segkit.modules.ggca``, ``shallow_fusion``, ``cbam``,
``window_attention``, ``mobilevit``, ``attn_gate``; ``segkit.models.heads``; ``segkit.metrics``).
Prose and equations keep to ASCII, so pdflatex, xelatex and lualatex all compile them.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Equation", "Section", "sections", "to_latex", "to_markdown", "write_formulas", "check_latex",
           "LATEX_PACKAGES"]

LATEX_PACKAGES = ("amsmath", "amssymb")


@dataclass(frozen=True)
class Equation:
    """A display equation: LaTeX math; rows separated by ``\\\\`` are aligned at ``&``."""

    tex: str
    label: str = ""


@dataclass
class Section:
    """A titled part of the methods: prose paragraphs and equations, in order."""

    title: str
    label: str
    blocks: list[str | Equation] = field(default_factory=list)


def _defaults() -> dict:
    """The numbers the text quotes, read from the code (so the text follows a change of default)."""
    from segkit.models.backbones import AttnPolicy
    from segkit.models.heads import ASPP, WA_ASPP, AG_ASPP_MViT
    from segkit.models.heads.mvit_aspp import _MViTASPPBase
    from segkit.modules.shallow_fusion import SFF_GROUPS, ShallowFusionLite

    pol = AttnPolicy.paper()
    aspp = ASPP(8, 8)
    sff = ShallowFusionLite(8, 8, 4, 16)
    mv = inspect.signature(_MViTASPPBase.__init__).parameters
    return {
        "min_stage": pol.min_stage, "large": pol.large, "small": pol.small, "threshold": pol.width_threshold,
        "rates": [aspp.branch2[0].dilation[0], aspp.branch3[0].dilation[0], aspp.branch4[0].dilation[0]],
        "windows": tuple(inspect.signature(WA_ASPP.__init__).parameters["window_size"].default),
        "cbam_k": sff.cbam.sa.conv1.kernel_size[0], "cbam_r": 16, "dropout": SFF_GROUPS["sff2"].dropout,
        "gate_r": inspect.signature(AG_ASPP_MViT.__init__).parameters["gate_reduction"].default,
        "patch": tuple(mv["patch_size"].default), "depth": mv["mvit_depth"].default, "dim": mv["mvit_dim"].default,
        "heads": mv["mvit_heads"].default, "mlp": mv["mvit_mlp_dim"].default,
    }


def sections() -> list[Section]:
    """The methods, section by section (see the module docstring)."""
    d = _defaults()
    g4, r4 = d["large"]
    g1, r1 = d["small"]
    w = d["windows"]
    ph, pw = d["patch"]
    return [
        Section("Notation", "notation", [
            "A feature map is $X \\in \\mathbb{R}^{C \\times H \\times W}$ (the batch is left out). $\\delta$ is "
            "ReLU, $\\delta_6$ ReLU6, $\\phi$ SiLU and $\\sigma$ the logistic sigmoid; $\\odot$ multiplies element "
            "by element, broadcasting singleton axes; $[A; B]$ concatenates along the channels; "
            "$\\mathrm{Conv}_{k \\times k}$ is a $k \\times k$ convolution, $\\mathrm{DW}$ a depthwise and "
            "$\\mathrm{PW}$ a pointwise ($1 \\times 1$) one; $\\mathrm{BN}$, $\\mathrm{GN}$ and $\\mathrm{LN}$ are "
            "batch, group and layer normalisation; $\\mathrm{GAP}$ and $\\mathrm{GMP}$ are global average and "
            "max pooling; $\\mathrm{Up}$ is bilinear upsampling."]),
        Section("Inverted residual block with GGCA", "ir-ggca", [
            "MobileNetV2's block (Sandler et al., 2018) expands the $C_{in}$ input channels $t$ times, filters "
            "them with a $3 \\times 3$ depthwise convolution of stride $s$ and dilation $d$, and projects them "
            "linearly to $C_{out}$. GGCA acts on the expanded channels, after the depthwise convolution:",
            Equation("X_{exp} &= \\delta_6(\\mathrm{BN}(\\mathrm{Conv}_{1 \\times 1}(X_{in}))) "
                     "\\qquad (t \\neq 1;\\ X_{exp} = X_{in} \\text{ for } t = 1) \\\\\n"
                     "X_{dw} &= \\delta_6(\\mathrm{BN}(\\mathrm{DW}^{s,d}_{3 \\times 3}(X_{exp}))) \\\\\n"
                     "X_{att} &= \\mathrm{GGCA}(X_{dw}) \\\\\n"
                     "X_{out} &= \\mathrm{BN}(\\mathrm{Conv}_{1 \\times 1}(X_{att})) + "
                     "\\mathbf{1}[s = 1 \\wedge C_{in} = C_{out}] \\, X_{in}", "ir"),
            f"The depthwise convolution sees a $3 \\times 3$ neighbourhood of one channel: it carries no global, "
            f"direction-aware cue. The Improved MobileNetV2 places GGCA in the blocks of stage index "
            f"$\\geq {d['min_stage']}$ of the settings table, never in a block whose nominal stride is 2, with "
            f"$(G, r) = ({g4}, {r4})$ for stages of at least {d['threshold']} output channels and "
            f"$({g1}, {r1})$ below.",
        ]),
        Section("GGCA: global grouped coordinate attention", "ggca", [
            "The $C$ channels are split into $G$ groups of $C_g = C / G$ channels. For each group $X$ four "
            "directional descriptors are pooled, a mean and a maximum along each axis:",
            Equation("z^{h,avg}_c(i) &= \\frac{1}{W} \\sum_{j=1}^{W} X_c(i, j), & "
                     "z^{h,max}_c(i) &= \\max_{j} X_c(i, j), \\\\\n"
                     "z^{w,avg}_c(j) &= \\frac{1}{H} \\sum_{i=1}^{H} X_c(i, j), & "
                     "z^{w,max}_c(j) &= \\max_{i} X_c(i, j).", "ggca-pool"),
            "One transform $T$, shared by all groups and all four descriptors, maps each of them on its own "
            "(so each call normalises with its own batch statistics); the sums of its outputs, through a "
            "sigmoid, weight the rows and the columns:",
            Equation("T(z) &= W_2 \\, \\delta(\\mathrm{BN}(W_1 z + b_1)) + b_2, \\qquad "
                     "W_1 \\in \\mathbb{R}^{m \\times C_g},\\ W_2 \\in \\mathbb{R}^{C_g \\times m},\\ "
                     "m = \\max(1, \\lfloor C_g / r \\rfloor) \\\\\n"
                     "g^h &= \\sigma(T(z^{h,avg}) + T(z^{h,max})) \\in \\mathbb{R}^{C_g \\times H \\times 1}, \\qquad "
                     "g^w = \\sigma(T(z^{w,avg}) + T(z^{w,max})) \\in \\mathbb{R}^{C_g \\times 1 \\times W} \\\\\n"
                     "Y_c(i, j) &= X_c(i, j) \\, g^h_c(i) \\, g^w_c(j)", "ggca"),
            "$W_1$ and $W_2$ are $1 \\times 1$ convolutions with biases; the groups are put back together and "
            "there is no residual inside GGCA. The module has $2 C_g m + C_g + 3m$ parameters, whatever $G$. "
            "The clamp $m \\geq 1$ keeps a narrow block from building a zero-width layer; the mean and the "
            "maximum are taken directly over the tensor axes, which gives the same numbers as adaptive pooling "
            "with fewer operations.",
        ]),
        Section("SFF: shallow feature fusion", "sff", [
            "Two shallow backbone taps, $F_1$ and $F_2$ at half its resolution (strides 4 and 8 in the chosen "
            "configuration), are compressed to $r$ channels by "
            "$1 \\times 1$ convolutions without bias or normalisation, refined by depthwise-separable "
            "convolutions, brought to $F_1$'s size, concatenated and fused:",
            Equation("\\mathrm{DS}(X) &= \\delta(\\mathrm{BN}(\\mathrm{PW}(\\mathrm{DW}_{3 \\times 3}(X)))) \\\\\n"
                     "A &= \\mathrm{DS}(\\mathrm{Conv}_{1 \\times 1}(F_1)), \\qquad "
                     "B = \\mathrm{Up}(\\mathrm{DS}(\\mathrm{Conv}_{1 \\times 1}(F_2))) \\\\\n"
                     "U &= \\mathrm{Dropout}_p(\\mathrm{DS}([A; B]))", "sff"),
            f"with $p = {d['dropout']:g}$. CBAM (Woo et al., 2018) then re-weights the channels and the positions:",
            Equation("U' &= \\sigma(\\mathrm{MLP}(\\mathrm{GAP}(U)) + \\mathrm{MLP}(\\mathrm{GMP}(U))) \\odot U \\\\\n"
                     f"F_{{low}} &= \\sigma(f^{{{d['cbam_k']} \\times {d['cbam_k']}}}([\\mathrm{{mean}}_c(U'); "
                     "\\max_c(U')])) \\odot U'", "cbam"),
            f"where $\\mathrm{{MLP}}(v) = W_2 \\, \\delta(W_1 v)$ is bias-free with $\\max(1, \\lfloor C / "
            f"{d['cbam_r']} \\rfloor)$ hidden channels and $f^{{{d['cbam_k']} \\times {d['cbam_k']}}}$ maps the "
            "two channel statistics to one map. $F_{low}$ replaces DeepLabV3+'s low-level feature, so the "
            "decoder runs at $F_1$'s resolution.",
        ]),
        Section("Window self-attention and WA-ASPP", "wa-aspp", [
            "Window self-attention (W-MSA; Liu et al., 2021, without the shift and the position bias) cuts the "
            "map into non-overlapping windows of $w \\times w$ tokens and attends within each; $\\oplus$ puts the "
            "windows back in place:",
            Equation("\\mathrm{W\\text{-}MSA}(X) &= \\bigoplus_{i=1}^{n_w} \\mathrm{MSA}(X^{win}_i), \\qquad "
                     "\\mathrm{MSA}(Z) = \\big[\\mathrm{softmax}(Q_k K_k^{\\top} / \\sqrt{d_h}) \\, V_k"
                     "\\big]_{k=1}^{h} W_O \\\\\n"
                     "Z' &= Z + \\mathrm{MSA}(\\mathrm{LN}(Z)), \\qquad Z'' = Z' + \\mathrm{FFN}(\\mathrm{LN}(Z'))",
                     "wmsa"),
            "with $Q_k, K_k, V_k$ the $k$-th head's projections of width $d_h = C / h$ and "
            "$\\mathrm{FFN}$ = Linear, GELU, Linear (with dropout). A map whose sides are not multiples of "
            "$w$ is zero-padded and the padded positions are masked out as keys. WA-ASPP keeps ASPP's "
            f"$1 \\times 1$ and image-pooling branches and puts window blocks with $w = {w[0]}, {w[1]}, {w[2]}$ in "
            "branches 2 to 4, summed cumulatively with the first branch:",
            Equation("b_1 &= \\delta(\\mathrm{BN}(\\mathrm{Conv}_{1 \\times 1}(X))), \\qquad "
                     "p_k = \\mathrm{Conv}_{1 \\times 1}(\\mathrm{WTB}_{w_k}(X)),\\ k = 2, 3, 4 \\\\\n"
                     "o_2 &= b_1 + p_2, \\qquad o_3 = b_1 + o_2 + p_3, \\qquad o_4 = b_1 + o_2 + o_3 + p_4 \\\\\n"
                     "b_5 &= \\mathrm{Up}(\\delta(\\mathrm{BN}(\\mathrm{Conv}_{1 \\times 1}(\\mathrm{GAP}(X))))) \\\\\n"
                     "Y &= \\delta(\\mathrm{BN}(\\mathrm{Conv}_{1 \\times 1}([b_1; o_2; o_3; o_4; b_5])))", "wa-aspp"),
            "The gated variant (WAFA) multiplies the concatenation $U$ by "
            "$G(U) = \\max(U \\cdot \\delta(w_c^{\\top} \\mathrm{GAP}(U)),\\ U \\odot \\sigma(w_s^{\\top} U))$ before "
            "the fusion, which therefore receives $G(U) \\odot U$; $w_c$ and $w_s$ are bias-free $1 \\times 1$ "
            "convolutions to one channel.",
        ]),
        Section("MSA-ASPP: multi-scale-attention ASPP", "msa-aspp", [
            "Atrous branches with large rates add parameters and computation and skip over small targets. "
            "MSA-ASPP keeps the $1 \\times 1$ branch and the image-pooling branch and replaces the three atrous "
            "branches by MobileViT attention blocks (Mehta and Rastegari, 2022), each followed by a bias-free "
            "$1 \\times 1$ projection and a channel gate; the five outputs are concatenated and fused:",
            Equation("b_1 &= \\delta(\\mathrm{BN}(\\mathrm{Conv}_{1 \\times 1}(X))) \\\\\n"
                     "b_k &= \\mathrm{Gate}(\\mathrm{Conv}_{1 \\times 1}(\\mathrm{MViT}_k(X))), \\qquad k = 2, 3, 4 \\\\\n"
                     "b_5 &= \\mathrm{Up}(\\delta(\\mathrm{GN}(\\mathrm{Conv}_{1 \\times 1}(\\mathrm{GAP}(X))))) \\\\\n"
                     "Y &= \\delta(\\mathrm{BN}(\\mathrm{Conv}_{1 \\times 1}([b_1; b_2; b_3; b_4; b_5]))) \\\\\n"
                     "\\mathrm{Gate}(X) &= X \\odot \\sigma(W_2 \\, \\delta(W_1 \\mathrm{GAP}(X) + c_1) + c_2)", "msa-aspp"),
            f"The gate's hidden width is $\\max(1, \\lfloor C / {d['gate_r']} \\rfloor)$ and its two linear layers "
            "have biases (an SE gate, Hu et al., 2018). $\\mathrm{GN}$ normalises with one group: unlike batch "
            "normalisation it works on the pooled $1 \\times 1$ map at batch size 1. A MobileViT block with "
            f"transformer width $d$, $N$ layers and patches of $p_h \\times p_w$ pixels (here $d = {d['dim']}$, "
            f"$N = {d['depth']}$, ${ph} \\times {pw}$, {d['heads']} heads, FFN width {d['mlp']}) computes",
            Equation("L &= \\phi(\\mathrm{BN}(\\mathrm{Conv}^{C \\to d}_{1 \\times 1}(\\phi(\\mathrm{BN}"
                     "(\\mathrm{Conv}_{3 \\times 3}(X)))))) \\\\\n"
                     "P &= \\mathrm{Unfold}_{p_h \\times p_w}(L) \\in \\mathbb{R}^{(HW / p_h p_w) \\times p_h p_w "
                     "\\times d}, \\qquad P' = \\mathrm{Transformer}_N(P) \\\\\n"
                     "\\mathrm{MViT}(X) &= \\phi(\\mathrm{BN}(\\mathrm{Conv}_{3 \\times 3}([X; \\phi(\\mathrm{BN}"
                     "(\\mathrm{Conv}^{d \\to C}_{1 \\times 1}(\\mathrm{Fold}(P'))))])))", "mvit"),
            "where the transformer's self-attention runs over the $p_h p_w$ pixels of each patch: a window "
            "self-attention with $p_h \\times p_w$ windows, which is what makes it a local feature extractor for "
            f"fine structures. WA-ASPP's three branches differ in window size ({w[0]}, {w[1]}, {w[2]}); MSA-ASPP's "
            f"three branches share one patch size (${ph} \\times {pw}$) and differ only in their weights. "
            "MSA-ASPP has more parameters than ASPP; most of them sit in the two dense $3 \\times 3$ convolutions "
            "of each MobileViT block.",
        ]),
        Section("DeepLabV3+ decoder", "decoder", [
            "The head's output $Y$ (stride 16) is upsampled to the low-level feature's size and concatenated with "
            "it after a $1 \\times 1$ convolution to 48 channels; two $3 \\times 3$ convolutions (with BN, ReLU and "
            "dropout 0.5 and 0.1; $\\mathrm{CC}$ below) and a $1 \\times 1$ classifier to $K$ classes follow, and the "
            "logits are upsampled to the input:",
            Equation("\\hat{S} &= \\mathrm{Up}(\\mathrm{Conv}^{\\to K}_{1 \\times 1}(\\mathrm{CC}([\\mathrm{Up}(Y); "
                     "\\delta(\\mathrm{BN}(\\mathrm{Conv}^{\\to 48}_{1 \\times 1}(F_{low})))])))", "decoder"),
        ]),
        Section("Evaluation metrics", "metrics", [
            "All metrics come from one confusion matrix $n_{ij}$, the number of pixels of true class $i$ "
            "predicted as class $j$, summed over every evaluation image at its original resolution (pixels "
            "labelled outside $0, \\dots, K-1$ are left out). With $L_p$ the label and $P_p$ the prediction of "
            "pixel $p$:",
            Equation("\\mathrm{TP}_c &= \\sum_p \\mathbf{1}[L_p = c \\wedge P_p = c] = n_{cc} \\\\\n"
                     "\\mathrm{FP}_c &= \\sum_p \\mathbf{1}[L_p \\neq c \\wedge P_p = c] = \\sum_{i \\neq c} n_{ic} \\\\\n"
                     "\\mathrm{FN}_c &= \\sum_p \\mathbf{1}[L_p = c \\wedge P_p \\neq c] = \\sum_{j \\neq c} n_{cj}",
                     "tp-fp-fn"),
            Equation("\\mathrm{IoU}_c &= \\frac{\\mathrm{TP}_c}{\\mathrm{TP}_c + \\mathrm{FP}_c + \\mathrm{FN}_c}, & "
                     "\\mathrm{mIoU} &= \\frac{1}{K} \\sum_{c=1}^{K} \\mathrm{IoU}_c \\\\\n"
                     "\\mathrm{PA}_c = \\mathrm{Recall}_c &= \\frac{\\mathrm{TP}_c}{\\mathrm{TP}_c + \\mathrm{FN}_c}, & "
                     "\\mathrm{mPA} &= \\frac{1}{K} \\sum_{c=1}^{K} \\mathrm{PA}_c \\\\\n"
                     "\\mathrm{Precision}_c &= \\frac{\\mathrm{TP}_c}{\\mathrm{TP}_c + \\mathrm{FP}_c}, & "
                     "\\mathrm{Accuracy} &= \\frac{\\sum_c \\mathrm{TP}_c}{\\sum_{i,j} n_{ij}} \\\\\n"
                     "F_1 &= \\frac{2 \\bar{P} \\bar{R}}{\\bar{P} + \\bar{R}}, & "
                     "\\bar{P} &= \\frac{1}{K} \\sum_c \\mathrm{Precision}_c, \\quad "
                     "\\bar{R} = \\frac{1}{K} \\sum_c \\mathrm{Recall}_c", "metrics"),
            "Background counts as a class in every mean. $F_1$ is the harmonic mean of the class-averaged "
            "precision and recall, not the mean of per-class $F_1$ scores. A class absent from both the labels "
            "and the predictions has no defined ratio: by default (`absent: nan`) it is left out of the means; "
            "the reference recipe (`absent: zero`) divides by $\\max(\\cdot, 1)$, so it scores 0. Accuracy is "
            "dominated by the background and is not mPA. Params is the number of trainable parameters in "
            "millions; FPS is the reciprocal of the median latency of one $512 \\times 512$ image at batch 1 "
            "(forward pass, softmax and arg-max), stated with its device.",
        ]),
    ]


# ----------------------------------------------------------------------------- rendering

_CODE = re.compile(r"`([^`]+)`")


def _latex_prose(text: str) -> str:
    """Markdown prose as LaTeX: ``code`` -> \\texttt{} (specials escaped); math is left as it is."""
    def code(m: re.Match) -> str:
        body = m.group(1)
        for a, b in (("\\", "\\textbackslash{}"), ("_", "\\_"), ("{", "\\{"), ("}", "\\}"), ("%", "\\%"),
                     ("&", "\\&"), ("#", "\\#")):
            body = body.replace(a, b)
        return f"\\texttt{{{body}}}"

    return _CODE.sub(code, text)


def _aligned(tex: str) -> bool:
    return "\\\\" in tex or "&" in tex


def to_latex(secs: list[Section] | None = None) -> str:
    """``methods.tex``: one ``\\subsection`` per section, equations numbered and labelled ``eq:<label>``.

    Needs ``\\usepackage{amsmath, amssymb}`` in the document that inputs it.
    """
    out = ["% The methods section, generated by segkit.report.methods.formulas (do not edit by hand).",
           "% Needs \\usepackage{amsmath} and \\usepackage{amssymb}.", ""]
    for s in secs or sections():
        out += [f"\\subsection{{{s.title}}}\\label{{sec:{s.label}}}", ""]
        for b in s.blocks:
            if isinstance(b, Equation):
                body = f"\\begin{{aligned}}\n{b.tex}\n\\end{{aligned}}" if _aligned(b.tex) else b.tex
                label = f"\\label{{eq:{b.label}}}" if b.label else ""
                out += [f"\\begin{{equation}}{label}\n{body}\n\\end{{equation}}", ""]
            else:
                out += [_latex_prose(b), ""]
    return "\n".join(out)


def to_markdown(secs: list[Section] | None = None, heading: str = "##") -> str:
    """The same sections in Markdown: ``$...$`` inline, ``$$...$$`` display math (GitHub renders both)."""
    out = []
    for s in secs or sections():
        out += [f"{heading} {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Equation):
                body = f"\\begin{{aligned}}\n{b.tex}\n\\end{{aligned}}" if _aligned(b.tex) else b.tex
                out += ["$$", body, "$$", ""]
            else:
                out += [b, ""]
    return "\n".join(out)


DOCS_HEADER = """# Methods: the formulas of the paper's modules and metrics

Generated from `segkit/report/methods/formulas.py` (`python -m segkit.report.methods
docs/methods.md`), the one source of these formulas: the report writes the same text as
`methods/methods.tex` and `methods/methods.md` (see [methods_section.md](methods_section.md)). Every
equation was written against the code that computes it; the numbers in the text are read from the
code's defaults.

Papers: MobileNetV2 (Sandler et al., *MobileNetV2: Inverted Residuals and Linear Bottlenecks*, CVPR 2018,
[arXiv:1801.04381](https://arxiv.org/abs/1801.04381)); coordinate attention, which GGCA extends (Hou et
al., *Coordinate Attention for Efficient Mobile Network Design*, CVPR 2021,
[arXiv:2103.02907](https://arxiv.org/abs/2103.02907)); CBAM (Woo et al., *CBAM: Convolutional Block
Attention Module*, ECCV 2018, [arXiv:1807.06521](https://arxiv.org/abs/1807.06521)); Swin Transformer's
window attention (Liu et al., ICCV 2021, [arXiv:2103.14030](https://arxiv.org/abs/2103.14030)); MobileViT
(Mehta and Rastegari, ICLR 2022, [arXiv:2110.02178](https://arxiv.org/abs/2110.02178)); SE gates (Hu et
al., *Squeeze-and-Excitation Networks*, CVPR 2018, [arXiv:1709.01507](https://arxiv.org/abs/1709.01507));
DeepLabV3+ (Chen et al., ECCV 2018, [arXiv:1802.02611](https://arxiv.org/abs/1802.02611)).

"""


def write_formulas(out_dir: str | Path) -> dict[str, Path]:
    """Write ``methods.tex`` and ``methods.md`` into `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"tex": out / "methods.tex", "md": out / "methods.md"}
    secs = sections()
    paths["tex"].write_text(to_latex(secs), encoding="utf-8")
    paths["md"].write_text(to_markdown(secs), encoding="utf-8")
    return paths


def check_latex(tex_path: str | Path, packages: tuple[str, ...] = LATEX_PACKAGES) -> str:
    """Compile ``methods.tex`` inside a minimal article when a LaTeX engine is installed.

    Returns:
        ``"compiled with <engine>"`` or ``"not checked: no LaTeX engine installed"``.

    Raises:
        segkit.report.latex.LatexError: it does not compile.
    """
    from segkit.report.latex import compile_latex, latex_document, latex_engine

    engine = latex_engine()
    if engine is None:
        return "not checked: no LaTeX engine installed"
    tex = Path(tex_path)
    doc = tex.with_name(tex.stem + "_check.tex")
    doc.write_text(latex_document([tex.name], packages, separator=""), encoding="utf-8")
    compile_latex(doc, engine)
    return f"compiled with {engine}"


def docs_markdown() -> str:
    """``docs/methods.md``: the header and the sections."""
    return DOCS_HEADER + to_markdown(sections())

