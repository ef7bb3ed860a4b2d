"""Training engine: the reference recipe (fit, freeze/unfreeze, schedules, AMP, DDP,
atomic checkpoints, resume), evaluation at the original resolution, prediction with
overlays and ONNX export. Domain adaptation sits above it, in :mod:`segkit.adapt`.

    >>> cfg = TrainConfig.profile("quick", UnFreeze_Epoch=2)
    >>> run_dir = train("deeplabv3plus-mobilenetv2", cfg, data_root="data/wirerope", run_dir="runs/demo/m")
    >>> model, config, history, metrics = load_run(run_dir)
"""
from segkit._moved import moved_names
# The old module paths segkit.engine.evaluate and .predict share their names with the functions
# below: load those shims first, so the functions are bound last (a shim loaded later would set
# the package's attribute to the module, and `from segkit.engine import predict` would give it).
from segkit.engine import evaluate as _evaluate_module, predict as _predict_module  # noqa: F401  isort: skip
from segkit.training.checkpoint import atomic_save, load_checkpoint
from segkit.training.config import TrainConfig, config_table, list_profiles, load_profile
from segkit.runtime.distributed import resolve_device
from segkit.inference.evaluate import evaluate, evaluate_confusion, letterbox_predict
from segkit.inference.export import export_onnx
from segkit.inference.predict import colorize, overlay, predict
from segkit.training.schedule import EpochLR, fit_lr, lr_limits
from segkit.training.trainer import Callback, NonFiniteLossError, Run, TrainState, load_run, train

__all__ = [
    "TrainConfig", "config_table", "list_profiles", "load_profile",
    "train", "load_run", "Run", "Callback", "TrainState", "NonFiniteLossError",
    "evaluate", "evaluate_confusion", "letterbox_predict",
    "predict", "overlay", "colorize", "export_onnx",
    "EpochLR", "fit_lr", "lr_limits", "atomic_save", "load_checkpoint", "resolve_device",
]

# moved to segkit.adapt; found there on first use (importing the trainer imports no adaptation)
__getattr__ = moved_names(__name__, dict.fromkeys(("adapt", "AdaptConfig", "AdaptResult", "read_adaptation"),
                                                  "segkit.adapt"))
