"""What training keeps in a checkpoint besides the weights: RNG states; and loading matching weights.

The checkpoint files themselves (format, atomic save, safe loading) are
:mod:`segkit.runs.checkpoint`, re-exported here for the trainer's old imports.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from segkit._utils import atomic_write_text  # noqa: F401  (re-exported)
from segkit.runs.checkpoint import (  # noqa: F401  (re-exported)
    CHECKPOINT_FORMAT, atomic_save, checkpoint_payload, load_checkpoint,
)

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
