"""Using a trained model: evaluation at the original resolution (``evaluate``), prediction with
overlays (``predict``) and ONNX export (``export``). Imports no training code."""
