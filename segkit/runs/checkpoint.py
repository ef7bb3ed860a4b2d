"""Checkpoint files: the payload's format, atomic saving and ``weights_only=True`` loading.

Every file is written to a temporary name in the same folder, flushed to disk, then moved
over the target with ``os.replace`` (atomic on POSIX and Windows), so a crash or SIGKILL
during a save leaves the previous file intact. Checkpoints hold only tensors and plain
Python values (the config as a dict, RNG states as tensors/lists), so
``torch.load(path, weights_only=True)`` reads them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from segkit._utils import atomic_write, load_tensors

__all__ = ["CHECKPOINT_FORMAT", "atomic_save", "checkpoint_payload", "load_checkpoint"]

CHECKPOINT_FORMAT = "segkit-checkpoint-v1"


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to `path` atomically (temp file + fsync + ``os.replace``)."""
    return atomic_write(path, lambda fh: torch.save(obj, fh), "wb")


def checkpoint_payload(net: torch.nn.Module, config: dict[str, Any], spec: dict[str, Any], class_names: list[str],
                       epoch: int, **extra: Any) -> dict[str, Any]:
    """The checkpoint payload, built in this one place (best, best_loss, epNNN, last.pt, adaptation).

    Args:
        net: the module whose weights are stored under ``"model"``.
        config: the training config as a dict (``TrainConfig.to_dict()``).
        spec: the model spec (``config.yaml`` ``model:``).
        class_names: one name per class.
        epoch: epochs finished.
        **extra: further entries (optimiser, scaler, schedule, RNG states, history ...).
    """
    import segkit

    return {"format": CHECKPOINT_FORMAT, "epoch": epoch, "model": net.state_dict(), "config": config,
            "model_spec": spec, "class_names": class_names, "segkit_version": segkit.__version__,
            "torch_version": str(torch.__version__), **extra}


def load_checkpoint(path: str | Path, map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """Load a segkit checkpoint (or a bare state_dict) with ``weights_only=True``.

    Raises:
        FileNotFoundError: no such file.
        pickle.UnpicklingError: the file holds non-tensor objects (refused, for safety) or
            is not a PyTorch file; the message is one line, see `segkit._utils.load_tensors`.
        ValueError: a corrupt file, or not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    obj = load_tensors(path, map_location=map_location)
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint {str(path)!r} holds a {type(obj).__name__}, expected a dict")
    if obj.get("format") != CHECKPOINT_FORMAT:
        obj = {"format": None, "model": obj}  # a bare state_dict (e.g. a reference .pth)
    return obj
