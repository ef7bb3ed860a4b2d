"""Checkpoints: atomic writes, ``weights_only=True`` loading, RNG state capture.

Every file is written to a temporary name in the same folder, flushed to disk, then moved
over the target with ``os.replace`` (atomic on POSIX and Windows), so a crash or SIGKILL
during a save leaves the previous file intact. Checkpoints hold only tensors and plain
Python values (the config as a dict, RNG states as tensors/lists), so
``torch.load(path, weights_only=True)`` reads them.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segkit._utils import atomic_write, load_tensors

__all__ = [
    "atomic_save",
    "atomic_write_text",
    "load_checkpoint",
    "get_rng_state",
    "set_rng_state",
    "load_matching_weights",
    "checkpoint_payload",
    "CHECKPOINT_FORMAT",
]

CHECKPOINT_FORMAT = "segkit-checkpoint-v1"


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to `path` atomically (temp file + fsync + ``os.replace``)."""
    return atomic_write(path, lambda fh: torch.save(obj, fh), "wb")


def atomic_write_text(text: str, path: str | Path) -> Path:
    """Write a text file atomically (temp file + fsync + ``os.replace``)."""
    return atomic_write(path, lambda fh: fh.write(text), "w")


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


def get_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) RNG states as weights_only-safe values."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss), float(np_gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` captured."""
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(int(v) for v in py_state), gauss))
    name, keys, pos, has_gauss, np_gauss = state["numpy"]
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, np_gauss))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def load_matching_weights(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], verbose: bool = True) -> tuple[list[str], list[str]]:
    """Load only keys whose names and shapes match; return (loaded, skipped)."""
    own = model.state_dict()
    loaded, skipped = [], []
    for key, value in state_dict.items():
        key_ = key[7:] if key.startswith("module.") else key
        if key_ in own and own[key_].shape == value.shape:
            own[key_] = value
            loaded.append(key_)
        else:
            skipped.append(key)
    model.load_state_dict(own)
    if verbose:
        print(f"Successful Load Key Num: {len(loaded)}")
        print(f"Fail To Load Key num: {len(skipped)}" + (f" ({', '.join(skipped[:10])}{' ...' if len(skipped) > 10 else ''})" if skipped else ""))
    return loaded, skipped
