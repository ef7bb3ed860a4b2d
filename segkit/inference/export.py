"""ONNX export with an onnxruntime numerical check (extra ``segkit[onnx]``)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from segkit._utils import main_logits
from segkit.inference.evaluate import unwrap_model

__all__ = ["export_onnx"]


class _Logits(nn.Module):
    """Wrap a model so the exported graph returns the main logits tensor only."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return main_logits(self.model(x))


def export_onnx(
    model: nn.Module,
    path: str | Path,
    input_shape: Sequence[int] = (512, 512),
    opset: int = 17,
    dynamic_batch: bool = True,
    check: bool = True,
    atol: float = 1e-4,
    rtol: float = 1e-3,
) -> dict[str, float | str]:
    """Export `model` (eval mode, CPU) to ONNX and compare onnxruntime with PyTorch.

    Args:
        model: Segmentation model; input ``images`` ``(B,3,H,W)`` in [0,1], output ``logits``.
        path: The ``.onnx`` file to write.
        input_shape: ``(H, W)`` of the traced input.
        opset: ONNX opset.
        dynamic_batch: Make the batch dimension dynamic.
        check: Run onnxruntime on a random input and compare.
        atol, rtol: Tolerances of the check (a mismatch raises ``RuntimeError``).

    Returns:
        ``{"path", "max_abs_diff", "label_agreement"}`` (the last two when `check`).
    """
    net = _Logits(unwrap_model(model)).cpu().eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = (int(v) for v in input_shape)
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    axes = {"images": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():  # the TorchScript exporter needs no onnxscript; silence its notice
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (x,), str(path), input_names=["images"], output_names=["logits"],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    result: dict[str, float | str] = {"path": str(path)}
    if not check:
        return result
    try:
        import onnxruntime as ort
    except ImportError as exc:  # optional extra
        raise RuntimeError("the ONNX check needs onnxruntime: pip install 'segkit[onnx]' (or pass check=False)") from exc
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xb = torch.rand(2 if dynamic_batch else 1, 3, h, w, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = net(xb).numpy()
    got = sess.run(["logits"], {"images": xb.numpy()})[0]
    diff = float(np.abs(ref - got).max())
    agree = float((ref.argmax(1) == got.argmax(1)).mean())
    result.update(max_abs_diff=diff, label_agreement=agree)
    if not np.allclose(ref, got, atol=atol, rtol=rtol):
        raise RuntimeError(f"onnxruntime output differs from PyTorch: max |diff| = {diff:.3g} "
                           f"(atol={atol}, rtol={rtol}); label agreement {agree:.4f}")
    return result
