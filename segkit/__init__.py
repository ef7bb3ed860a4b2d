"""segkit: semantic-segmentation research kit (DeepLabV3+ variants, attention stitching,
training, benchmarks, Grad-CAM and paper reports).

    import segkit as sk
    model = sk.build_model("sff-wadeeplab", num_classes=3)
    sk.stitch.inspect(model, (1, 3, 256, 256))

Names are resolved on first use, so ``segkit --version`` does not pay for importing torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute or None for the module itself)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "build_model": ("segkit.models", "build_model"),
    "list_models": ("segkit.models", "list_models"),
    "model_info": ("segkit.models", "model_info"),
    "create_attn": ("segkit.modules", "create_attn"),
    "list_modules": ("segkit.modules", "list_modules"),
    "ConfusionMatrix": ("segkit.metrics", "ConfusionMatrix"),
    "SegLoss": ("segkit.losses", "SegLoss"),
    "TrainConfig": ("segkit.engine", "TrainConfig"),
    "train": ("segkit.engine", "train"),
    "evaluate": ("segkit.engine", "evaluate"),
    "predict": ("segkit.engine", "predict"),
    "load_run": ("segkit.engine", "load_run"),
    "data": ("segkit.data", None),
    "models": ("segkit.models", None),
    "modules": ("segkit.modules", None),
    "metrics": ("segkit.metrics", None),
    "losses": ("segkit.losses", None),
    "stitch": ("segkit.stitch", None),
    "engine": ("segkit.engine", None),
    "adapt": ("segkit.adapt", None),
    "bench": ("segkit.bench", None),
    "cam": ("segkit.cam", None),
    "report": ("segkit.report", None),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'segkit' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
