"""Small helpers shared across segkit, one implementation each (torch is imported lazily).

Device resolution, eval mode, parameter counting, KEY=VALUE parsing, model outputs, atomic
writes and safe tensor loading live here; mask colours live in ``segkit.data.palette``.
"""
from __future__ import annotations

import contextlib
import difflib
import errno
import os
import pickle
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

__all__ = [
    "did_you_mean", "count_params", "main_logits", "atomic_write", "atomic_write_text", "load_tensors", "resolve_device",
    "model_device", "eval_mode", "parse_key_values", "check_num_classes", "check_ignore_index", "counted",
]


def did_you_mean(name: str, options: Iterable[str], n: int = 3) -> str:
    """Return a ' Did you mean ...?' suffix for error messages ('' when nothing is close)."""
    close = difflib.get_close_matches(name, list(options), n=n, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def counted(n: Any, noun: str) -> str:
    """``"1 epoch"``, ``"8 epochs"``: `n` with `noun`, plural unless `n` is 1 (`n` may be text, "2/8")."""
    return f"{n} {noun}" if str(n) == "1" else f"{n} {noun}s"


def count_params(module, trainable_only: bool = True) -> int:
    """Number of parameters (those with requires_grad when `trainable_only`); a parameter
    shared by several modules is counted once."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def resolve_device(device: Any = "auto", local_rank: int = 0):
    """A ``torch.device`` from a name: ``"auto"`` (or None / "") picks this process's GPU, else
    MPS, else the CPU; a bare ``"cuda"`` becomes ``cuda:<local_rank>`` (torchrun's GPU).

    Raises:
        ValueError: CUDA is asked for but not available.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} but CUDA is not available; use device='auto' or 'cpu'")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank % torch.cuda.device_count())
    return dev


def model_device(model, device: Any = None):
    """`device` resolved as in ``resolve_device``; None: where the model's parameters live (CPU without any)."""
    import torch

    if device is not None:
        return resolve_device(device)
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model, no_grad: bool = True) -> Iterator[Any]:
    """Context: `model` in eval mode (and autograd off when `no_grad`); on exit every submodule
    gets back its own training flag, so a frozen, eval-mode BatchNorm inside a training model
    stays in eval mode (``model.train(flag)`` would switch it back to training)."""
    import torch

    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            yield model
    finally:
        for m, flag in flags:
            m.training = flag


def parse_key_values(items: Iterable[str] | None, option: str = "--set", example: str = "key=value") -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` -> {KEY: VALUE parsed as YAML} (``3`` an int, ``[96,96]`` a list).

    Args:
        items: the raw strings (None: none).
        option: the command-line option they came from, named in errors.
        example: a valid item for that option, shown in errors.

    Raises:
        ValueError: an item without ``=`` or key, or a value that is not YAML.
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{option} {item!r} must look like KEY=VALUE, e.g. {option} {example}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "not a YAML value"
            raise ValueError(f"{option} {item!r}: {problem}; quote the value and close its brackets, "
                             f"e.g. {option} 'input_shape=[96, 96]'") from None
    return out


def check_num_classes(num_classes: Any) -> int:
    """`num_classes` as an int; raises ValueError unless it is a positive integer."""
    import numpy as np

    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return int(num_classes)


def check_ignore_index(ignore_index: Any, num_classes: int) -> int | None:
    """`ignore_index` as an int (or None); raises ValueError for a non-integer or a valid class index."""
    import numpy as np

    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise ValueError(f"ignore_index must be an int or None, got {ignore_index!r}")
    if 0 <= ignore_index < num_classes:
        raise ValueError(
            f"ignore_index={ignore_index} is a valid class for num_classes={num_classes}; "
            f"use a value outside [0, {num_classes}) such as 255 (or {num_classes}, as the reference)"
        )
    return int(ignore_index)


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
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise disk_full(path) from None
        raise
    except RuntimeError as exc:  # torch.save on a full disk: "[enforce fail at inline_container.cc:672] unexpected pos"
        tmp.unlink(missing_ok=True)
        if "inline_container" in str(exc) or "unexpected pos" in str(exc) or "file write failed" in str(exc):
            raise disk_full(path, f"torch.save failed: {str(exc).splitlines()[0][:120]}") from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write a text file atomically (temp file + fsync + ``os.replace``)."""
    return atomic_write(path, lambda fh: fh.write(text), "w")


def disk_full(path: str | os.PathLike, detail: str = "") -> OSError:
    """The error for a write that ran out of disk: names the file, what happened and the fix
    (the previous version of the file, if any, is left as it was)."""
    return OSError(errno.ENOSPC, f"No space left on device{f' ({detail})' if detail else ''}; nothing was "
                                 "replaced: free some space (or write elsewhere) and run the command again", str(path))


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
    except EOFError:
        raise ValueError(f"{path} is corrupt or truncated (empty, or cut off in its header); "
                         "use another checkpoint (last.pt / best.pt / epNNN.pt) or save it again") from None
    except RuntimeError as exc:
        if "PytorchStreamReader" not in str(exc):
            raise
        raise ValueError(f"{path} is corrupt or truncated ({str(exc).split('.')[0]}); "
                         "use another checkpoint (last.pt / best.pt / epNNN.pt) or save it again") from None
