"""Explainability for segmentation: Grad-CAM heat maps and attention-map capture.

Grad-CAM is built on ``pytorch-grad-cam`` (the ``grad-cam`` package) and fits its
contracts:

- ``SegmentationOutput(model)`` makes the model return one logits tensor (a
  ``[main, *aux]`` list or a ``{"out": ...}`` dict is reduced to the main logits);
- ``SegmentationTarget(category, mask)`` scores the sum of the class logit over a mask:
  by default the pixels *predicted* as that class, or a user mask (e.g. the ground truth);
- the target layer is a module path or a role of ``model.cam_layers`` ("backbone",
  "neck", "decoder"); without ``cam_layers`` the last feature conv before the classifier
  is used, and the result says so in its ``notes``.

In-place activations (``ReLU(inplace=True)`` and friends) are switched off for the
duration of a CAM call and restored afterwards: the reference hit autograd in-place
errors with them, and an in-place ReLU after the target layer would also overwrite the
activation grad-cam saved (on the CPU ``.cpu()`` does not copy). Input gradients are enabled, so a frozen backbone still yields maps.

Attention capture (``capture_attention``) finds attention modules by type anywhere in a
model (built in, or inserted with ``segkit.stitch``) and records, through forward hooks:

==============  ================================================================  ==========================
kind            ``map`` (feature resolution, first image of the batch)            range
==============  ================================================================  ==========================
ggca            mean over channels of att_h x att_w (the gate the block applies)  (0, 1)
cbam            the spatial attention map sigma(conv7x7([mean_c; max_c]))         (0, 1)
window_attn     attention each token receives, mean over queries and heads, x N   [0, N], mean 1 per window
mobilevit_attn  the same for MobileViT patch attention (mean over layers)         [0, N], mean 1 per patch
attn_gate       per-pixel kept energy ||w * x|| / ||x|| of the channel gate w    (0, 1)
==============  ================================================================  ==========================

``raw`` holds the underlying tensors (GGCA ``att_h`` (C, H) and ``att_w`` (C, W), CBAM
``channel`` (C,), AttnGate ``weights`` (C,), window-attention ``weights`` per window).
The gates are recomputed inside the hook from the module's own submodules and its input,
in eval mode (exact: a test checks they reproduce the module's output), so the attention
modules need no changes.

One concept per file: ``targets`` (grad-cam glue), ``layers`` (target layer), ``images``
(inputs, overlays), ``gradcam``, ``figures`` (CAM grids), ``attention`` (capture) and
``attention_figure``.
"""
from __future__ import annotations

from segkit.cam.attention import AttentionMap, attention_kinds, capture_attention
from segkit.cam.attention_figure import plot_attention
from segkit.cam.figures import cam_grid, plot_cams
from segkit.cam.gradcam import CamResult, gradcam
from segkit.cam.images import colorize_mask, overlay
from segkit.cam.layers import resolve_layer
from segkit.cam.targets import CAM_METHODS, SegmentationOutput, SegmentationTarget

__all__ = [
    "CAM_METHODS",
    "SegmentationOutput",
    "SegmentationTarget",
    "CamResult",
    "AttentionMap",
    "resolve_layer",
    "gradcam",
    "overlay",
    "colorize_mask",
    "cam_grid",
    "plot_cams",
    "capture_attention",
    "plot_attention",
    "attention_kinds",
]
