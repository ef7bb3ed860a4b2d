"""Run identity: a fingerprint of everything that decides a training run's result.

A fingerprint has four parts:

- ``train``: the training config, less the fields that only change speed or bookkeeping
  (``IGNORED_TRAIN_FIELDS``);
- ``model``: the model spec (registry name, arguments, stitched modules, pretrained source),
  and ``weights``: a hash of any local weight file it starts from or learns from (``pretrained``,
  ``model_path``, each ``warm_start`` part's and the ``distill_from`` teacher's checkpoint);
- ``data``: per split, the image ids and a cheap fingerprint of the files they name (size
  plus a hash of the first and last 64 KiB of each image and mask), and the class names;
- ``code``: the segkit version and a hash of the source that decides results (data,
  models, modules, engine, losses, adaptation, metrics, stitching); report and plotting code is left
  out so that editing a figure does not retrain.

A complete run is reused only when its stored fingerprint equals the new one;
:func:`fingerprint_changes` names what differs (``UnFreeze_Epoch 2 -> 10``).
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from segkit.runs.rundir import RunDir

__all__ = ["IGNORED_TRAIN_FIELDS", "run_fingerprint", "data_fingerprint", "code_fingerprint",
           "fingerprint_changes", "resume_changes"]

# fields that change speed, logging or file retention, never the trained weights or the selection
IGNORED_TRAIN_FIELDS = frozenset({"device", "num_workers", "save_period", "eval_batch_size", "cudnn_benchmark",
                                  "tensorboard"})

_SEGKIT = Path(__file__).resolve().parents[1]
# a part that does not exist is an error, not an empty hash (files move: keep this list in step)
_CODE_PARTS = ("data", "models", "modules", "runtime", "inference", "training", "engine", "losses", "adapt", "metrics",
               "stitch", "_utils.py",
               "runs/fingerprint.py", "runs/checkpoint.py")
_CHUNK = 64 * 1024


def run_fingerprint(train: Mapping[str, Any], model: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The fingerprint of a run from its config dict, model spec and :func:`data_fingerprint`."""
    sources = {"pretrained": model.get("pretrained"), "model_path": train.get("model_path"),
               "distill_from": train.get("distill_from"),
               **{f"warm_start.{part}": src for part, src in (train.get("warm_start") or {}).items()}}
    weights = {key: _files_hash([path]) for key, path in
               ((key, _weight_file(src)) for key, src in sources.items()) if path is not None}
    return {
        "train": {k: v for k, v in train.items() if k not in IGNORED_TRAIN_FIELDS},
        "model": {k: v for k, v in model.items() if k not in ("built_by", "num_params", "class")},
        "weights": weights,  # contents of local weight files: a new file at the same path retrains
        "data": dict(data),
        "code": code_fingerprint(),
    }


def data_fingerprint(datasets: Mapping[str, Any]) -> dict[str, Any]:
    """Per split name: image count, a hash of the ids, and a hash of the files' sizes and contents.

    `datasets` maps split names to datasets; a ``VOCSegmentation`` (``ids``, ``image_paths``,
    ``mask_paths``) is hashed file by file, any other dataset by its type and length.
    """
    out: dict[str, Any] = {}
    for split, ds in datasets.items():
        if ds is None:
            continue
        entry: dict[str, Any] = {"n": len(ds)}
        ids = getattr(ds, "ids", None)
        paths = list(getattr(ds, "image_paths", []) or []) + list(getattr(ds, "mask_paths", []) or [])
        if ids is not None and paths:
            entry["ids"] = _sha("\n".join(map(str, ids)).encode())
            entry["files"] = _files_hash(paths)
        else:
            entry["dataset"] = type(ds).__name__
        out[split] = entry
    names = next((getattr(d, "class_names", None) for d in datasets.values() if d is not None), None)
    if names is not None:
        out["class_names"] = list(names)
    return out


@lru_cache(maxsize=1)
def code_fingerprint() -> dict[str, str]:
    """segkit's version and a hash of the source files that decide training results."""
    import segkit

    h = hashlib.sha256()
    for part in _CODE_PARTS:
        base = _SEGKIT / part
        if not base.exists():
            raise FileNotFoundError(f"fingerprint: segkit/{part} is gone; update _CODE_PARTS to where it moved")
        for f in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            h.update(str(f.relative_to(_SEGKIT)).encode())
            h.update(f.read_bytes())
    return {"segkit": segkit.__version__, "source": h.hexdigest()[:16]}


def fingerprint_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """Human-readable differences, e.g. ``["UnFreeze_Epoch 2 -> 10", "data: test files changed"]``.

    An ``old`` of None (a run written before fingerprints existed) is one change.
    """
    if not old:
        return ["the stored run has no fingerprint.json (written by an older segkit)"]
    changes: list[str] = []
    for key in sorted(set(old.get("train", {})) | set(new.get("train", {}))):
        a, b = old.get("train", {}).get(key, "<unset>"), new.get("train", {}).get(key, "<unset>")
        if a != b:
            changes.append(f"{key} {_short(a)} -> {_short(b)}")
    for path, (a, b) in _flat_diff(old.get("model", {}), new.get("model", {}), "model").items():
        changes.append(f"{path} {_short(a)} -> {_short(b)}")
    old_data, new_data = old.get("data", {}), new.get("data", {})
    for split in sorted(set(old_data) | set(new_data)):
        a, b = old_data.get(split), new_data.get(split)
        if a == b:
            continue
        if split == "class_names":
            changes.append(f"class names {_short(a)} -> {_short(b)}")
        elif not isinstance(a, Mapping) or not isinstance(b, Mapping):
            changes.append(f"data: {split} split {'added' if a is None else 'removed' if b is None else 'changed'}")
        elif a.get("n") != b.get("n"):
            changes.append(f"data: {split} images {a.get('n')} -> {b.get('n')}")
        elif a.get("ids") != b.get("ids"):
            changes.append(f"data: {split} image list changed")
        else:
            changes.append(f"data: {split} files changed")
    if old.get("weights", {}) != new.get("weights", {}):
        changes.append("the initial weight file's contents changed")
    oc, nc = old.get("code", {}), new.get("code", {})
    if oc != nc:
        ver = f"{oc.get('segkit')} -> {nc.get('segkit')}" if oc.get("segkit") != nc.get("segkit") else nc.get("segkit")
        changes.append(f"segkit code changed (version {ver}, source {oc.get('source')} -> {nc.get('source')})")
    return changes


# ----------------------------------------------------------------------------- helpers
def _weight_file(source: Any) -> Path | None:
    """The local file a weight source names (a run directory: its best.pt), or None."""
    if not isinstance(source, str) or not source:
        return None
    path = Path(source)
    path = RunDir(path).checkpoint("best") if path.is_dir() else path
    return path if path.is_file() else None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _files_hash(paths: list[Any]) -> str:
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        size = p.stat().st_size
        h.update(f"{p.name}:{size}:".encode())
        with open(p, "rb") as fh:
            h.update(fh.read(_CHUNK))
            if size > 2 * _CHUNK:
                fh.seek(-_CHUNK, 2)
                h.update(fh.read(_CHUNK))
    return h.hexdigest()[:16]


def _flat_diff(a: Any, b: Any, prefix: str) -> dict[str, tuple[Any, Any]]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: dict[str, tuple[Any, Any]] = {}
        for k in sorted(set(a) | set(b), key=str):
            out.update(_flat_diff(a.get(k, "<unset>"), b.get(k, "<unset>"), f"{prefix}.{k}"))
        return out
    return {} if a == b else {prefix: (a, b)}


def _short(v: Any, limit: int = 60) -> str:
    text = json.dumps(v) if not isinstance(v, str) else repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resume_changes(rd: RunDir, state: dict[str, Any], spec: dict[str, Any], class_names: list[str],
                   fingerprint: dict[str, Any]) -> list[str]:
    """What differs from the run being resumed; another model or class count is an error."""
    old_spec = state.get("model_spec") or {}
    old_names = list(state.get("class_names") or [])
    same_model = (old_spec.get("name"), old_spec.get("class")) == (spec.get("name"), spec.get("class"))
    if not same_model or len(old_names) != len(class_names):
        was = old_spec.get("name") or old_spec.get("class")
        now = spec.get("name") or spec.get("class")
        raise ValueError(f"{rd.checkpoint('last')} was trained with model {was!r} for {len(old_names)} classes; "
                         f"this run asks for {now!r} with {len(class_names)} classes: resume with the same model "
                         "and data, or train into another run_dir")
    return [c for c in fingerprint_changes(rd.read_fingerprint(), fingerprint) if not c.startswith("segkit code")]
