"""Small helpers shared across segkit (no torch-heavy imports)."""
from __future__ import annotations

import difflib
import os
import pickle
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

__all__ = ["did_you_mean", "count_params", "main_logits", "atomic_write", "load_tensors"]


def did_you_mean(name: str, options: Iterable[str], n: int = 3) -> str:
    """Return a ' Did you mean ...?' suffix for error messages ('' when nothing is close)."""
    close = difflib.get_close_matches(name, list(options), n=n, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def count_params(module, trainable_only: bool = True) -> int:
    """Number of parameters (those with requires_grad when `trainable_only`)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def main_logits(out: Any):
    """The main logits of a model output: a Tensor, a ``[main, *aux]`` list/tuple (deep
    supervision in training mode) or a ``{"out": ...}`` dict (torchvision style)."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (list, tuple)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if isinstance(out, Mapping) and isinstance(out.get("out"), torch.Tensor):
        return out["out"]
    raise TypeError(f"model output must be a Tensor, a [main, *aux] list or a dict with 'out'; got {type(out).__name__}")


def _fsync_dir(folder: Path) -> None:
    try:  # makes the rename itself durable; not possible on Windows
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Any], Any], mode: str = "w") -> Path:
    """Write `path` atomically: ``write(fh)`` on a temp file next to it (`mode` "w" text, UTF-8,
    or "wb"), flush + fsync, then ``os.replace``; a crash leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def load_tensors(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with segkit's own one-line errors.

    segkit loads only tensors and plain values: unpickling arbitrary objects can run code.
    PyTorch's refusal suggests ``weights_only=False``, which is exactly what must not be done
    with a file of unknown origin, so it is replaced here.

    Raises:
        pickle.UnpicklingError: the file holds other Python objects, or is no PyTorch file.
        ValueError: the file is corrupt or truncated.
    """
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found:
            raise pickle.UnpicklingError(
                f"{path} holds non-tensor Python objects (e.g. {found.group(1)}); segkit loads only tensors and "
                "plain values, for safety (unpickling objects can run code). Save a state_dict: "
                "torch.save(model.state_dict(), path)") from None
        raise pickle.UnpicklingError(f"{path} is not a PyTorch checkpoint segkit can read (corrupt, truncated or "
                                     "another format); save it again with torch.save") from None
    except RuntimeError as exc:
        if "PytorchStreamReader" not in str(exc):
            raise
        raise ValueError(f"{path} is corrupt or truncated ({str(exc).split('.')[0]}); "
                         "use another checkpoint (last.pt / best.pt / epNNN.pt) or save it again") from None
