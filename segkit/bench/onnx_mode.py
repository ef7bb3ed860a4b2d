"""ONNX Runtime as a timing mode: export the model once, then run it through an inference session."""
from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil
import tempfile
import warnings

import torch
import torch.nn as nn


def _onnx_callable(model: nn.Module, x: torch.Tensor, device: torch.device):
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise RuntimeError("onnxruntime is not installed (pip install segkit[onnx])") from exc
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeError("device is CUDA but onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)")
        providers = ["CUDAExecutionProvider"]
    elif device.type != "cpu":
        raise RuntimeError(f"ONNX Runtime timing supports cpu and cuda devices, not {device.type}")
    m = copy.deepcopy(model).eval().cpu()
    xin = x.detach().cpu()
    tmp = tempfile.mkdtemp(prefix="segkit-onnx-")
    path = os.path.join(tmp, "model.onnx")
    exporter = "dynamo"
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(m, (xin,), path, input_names=["input"], output_names=["logits"], dynamo=True)
            except Exception:  # onnxscript missing or an unsupported op: the TorchScript exporter
                exporter = "torchscript"
                torch.onnx.export(m, (xin,), path, input_names=["input"], output_names=["logits"],
                                  opset_version=17, dynamo=False)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    try:
        sess = ort.InferenceSession(path, opts, providers=providers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the session holds the model in memory
    in_name = sess.get_inputs()[0].name

    def run(inp: torch.Tensor) -> torch.Tensor:
        out = sess.run(None, {in_name: inp.detach().cpu().numpy()})[0]
        return torch.from_numpy(out).to(device)

    return run, x, f"ONNX Runtime {ort.__version__} ({providers[0]}, {exporter} exporter)", {"exporter": exporter}
