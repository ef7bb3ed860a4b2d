"""The run directory: the one owner of its layout, its files and its lock.

Every training run writes one folder, and every later step (evaluation, benchmarks, the
report notebooks) reads only these files::

    run_dir/
      config.yaml          resolved config: model spec, data, train (precision as resolved), versions
      fingerprint.json     what decides the result; a run is reused only when it matches
      history.csv          one row per epoch (lr, losses, val metrics when evaluated, time)
      checkpoints/         best.pt (best val mIoU), best_loss.pt, last.pt, epNNN.pt; atomic writes
      metrics.json         final evaluation of best.pt on the report split (selection on val)
      per_image_cm.npz     per-image confusion matrices of that evaluation (bootstrap intervals),
                           and each image's boundary-IoU and object counts
      confusion_matrix.csv rows = ground truth, columns = prediction
      bench.json           params, FLOPs, latency/FPS with device, precision and input size
      tensorboard/         TensorBoard event files (scalars, learning rate, validation predictions)
      architecture.png     the model's block diagram (`segkit describe`), with its parameters in architecture.json
      .lock                held (an OS file lock) while a process trains here
      .segkit-run          written when a training starts: the folder and its files are segkit's

A training writes only into a new or empty folder, or one that holds ``.segkit-run`` (or, for
runs older than the marker, a ``.lock`` and a ``fingerprint.json``): a folder of the user's own
files is refused, never overwritten (:meth:`RunDir.prepare`).

A domain-adaptation run (``segkit.adapt.stages``) is a folder of stages around two such run
directories::

    adapt_dir/
      stages.json          the fingerprint and each finished stage (skipped on a rerun)
      source/              run directory of the source-only training
      pseudo_labels/       <id>.png per target image (255 = unconfident) and thresholds.json
      adapted/             run directory of the adaptation training (+ prototypes.npz);
                           its metrics.json scores it on the target's labelled split
      source_on_target/    metrics.json, per_image_cm.npz, confusion_matrix.csv of the
                           source-only model on that same split

No other module spells one of these file names: they ask :class:`RunDir`.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from segkit._utils import atomic_write, atomic_write_text
from segkit.runs.checkpoint import atomic_save, load_checkpoint
from segkit.runs.lock import RunLock, RunLockedError, pid_alive

__all__ = ["RunDir", "RunLock", "RunLockedError", "HISTORY_COLUMNS"]  # the lock names: for old imports

HISTORY_COLUMNS = [
    "epoch", "stage", "batch_size", "lr", "train_loss", "f_score", "val_loss", "val_f_score",
    "miou", "mpa", "mprecision", "accuracy", "f1", "mean_f1", "time",
]


class RunDir:
    """Paths and readers/writers of one run directory (see the module docstring)."""

    CONFIG = "config.yaml"
    FINGERPRINT = "fingerprint.json"
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    PER_IMAGE = "per_image_cm.npz"
    CONFUSION = "confusion_matrix.csv"
    BENCH = "bench.json"
    TENSORBOARD = "tensorboard"
    ARCHITECTURE = "architecture"  # .png / .json, written by `segkit describe`
    LOCK = ".lock"
    MARKER = ".segkit-run"
    CHECKPOINTS = "checkpoints"
    SUPERSEDED = ".superseded"
    # domain adaptation (segkit.adapt.stages)
    STAGES = "stages.json"
    SOURCE_RUN = "source"
    PSEUDO_LABELS = "pseudo_labels"
    THRESHOLDS = "thresholds.json"
    ADAPTED_RUN = "adapted"
    SOURCE_ON_TARGET = "source_on_target"
    PROTOTYPES = "prototypes.npz"
    # a run is complete (reusable) when all of these exist and are non-empty
    COMPLETE = (CONFIG, FINGERPRINT, HISTORY, METRICS)

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------------ paths
    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    @property
    def fingerprint_path(self) -> Path:
        return self.path / self.FINGERPRINT

    @property
    def history_path(self) -> Path:
        return self.path / self.HISTORY

    @property
    def metrics_path(self) -> Path:
        return self.path / self.METRICS

    @property
    def per_image_path(self) -> Path:
        return self.path / self.PER_IMAGE

    @property
    def confusion_path(self) -> Path:
        return self.path / self.CONFUSION

    @property
    def bench_path(self) -> Path:
        return self.path / self.BENCH

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / self.TENSORBOARD

    @property
    def architecture_path(self) -> Path:
        """``architecture.png``: the block diagram ``segkit describe`` draws."""
        return self.path / f"{self.ARCHITECTURE}.png"

    @property
    def lock_path(self) -> Path:
        return self.path / self.LOCK

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / self.CHECKPOINTS

    def checkpoint(self, name: str) -> Path:
        """``checkpoints/<name>.pt`` ("best", "best_loss", "last", "ep005"), or `name` if it is a file."""
        if Path(name).suffix and Path(name).is_file():
            return Path(name)
        return self.checkpoint_dir / f"{name}.pt"

    def sub(self, name: str) -> "RunDir":
        """The run directory of one stage of an adaptation run (``SOURCE_RUN``, ``ADAPTED_RUN`` ...)."""
        return RunDir(self.path / name)

    @property
    def stages_path(self) -> Path:
        return self.path / self.STAGES

    @property
    def pseudo_label_dir(self) -> Path:
        return self.path / self.PSEUDO_LABELS

    def pseudo_label(self, image_id: str) -> Path:
        """``pseudo_labels/<id>.png``."""
        return self.pseudo_label_dir / f"{image_id}.png"

    @property
    def thresholds_path(self) -> Path:
        return self.pseudo_label_dir / self.THRESHOLDS

    @property
    def prototypes_path(self) -> Path:
        return self.path / self.PROTOTYPES

    # ------------------------------------------------------------------ state
    def is_run(self) -> bool:
        return self.config_path.is_file() or self.metrics_path.is_file()

    def made_by_segkit(self) -> bool:
        """Whether segkit made this folder: its marker, or a lock and a fingerprint (runs older than the marker)."""
        return (self.path / self.MARKER).is_file() or (self.lock_path.is_file() and self.fingerprint_path.is_file())

    def check_made_by_segkit(self) -> None:
        """Refuse a folder of someone else's files: segkit would overwrite them.

        Raises:
            ValueError: the folder holds files (other than a lock) and is not segkit's.
        """
        if not self.path.is_dir() or self.made_by_segkit():
            return
        theirs = sorted(p.name for p in self.path.iterdir() if p.name != self.LOCK)
        if theirs:
            shown = ", ".join(theirs[:4]) + (", ..." if len(theirs) > 4 else "")
            raise ValueError(f"{self.path} is not a segkit run directory and holds files ({shown}) that training "
                             "would overwrite; choose a new or empty folder for the run")

    def is_complete(self) -> bool:
        """Every file of ``COMPLETE`` is there and non-empty (a finished training run)."""
        return all((self.path / f).is_file() and (self.path / f).stat().st_size > 0 for f in self.COMPLETE)

    def has_last(self) -> bool:
        return self.checkpoint("last").is_file()

    # ------------------------------------------------------------------ text files
    def read_config(self) -> dict[str, Any]:
        return _read_yaml(self.config_path)

    def write_config(self, config: dict[str, Any]) -> Path:
        return atomic_write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), self.config_path)

    def read_fingerprint(self) -> dict[str, Any] | None:
        return json.loads(self.fingerprint_path.read_text(encoding="utf-8")) if self.fingerprint_path.is_file() else None

    def write_fingerprint(self, fingerprint: dict[str, Any]) -> Path:
        return atomic_write_text(json.dumps(fingerprint, indent=2, sort_keys=True), self.fingerprint_path)

    def read_metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics_path.read_text(encoding="utf-8")) if self.metrics_path.is_file() else {}

    def write_metrics(self, payload: dict[str, Any]) -> Path:
        return atomic_write_text(json.dumps(payload, indent=2), self.metrics_path)

    def read_stages(self) -> dict[str, Any]:
        return json.loads(self.stages_path.read_text(encoding="utf-8")) if self.stages_path.is_file() else {}

    def write_stages(self, payload: dict[str, Any]) -> Path:
        return atomic_write_text(json.dumps(payload, indent=2), self.stages_path)

    def read_thresholds(self) -> dict[str, Any]:
        return json.loads(self.thresholds_path.read_text(encoding="utf-8")) if self.thresholds_path.is_file() else {}

    def write_thresholds(self, payload: dict[str, Any]) -> Path:
        return atomic_write_text(json.dumps(payload, indent=2), self.thresholds_path)

    def write_prototypes(self, **arrays: Any) -> Path:
        """Store named arrays (``initial``, ``final`` prototypes ``(K, C)``, ``class_names``) atomically."""
        return atomic_write(self.prototypes_path, lambda fh: np.savez_compressed(
            fh, **{k: np.asarray(v) for k, v in arrays.items()}), "wb")

    def read_prototypes(self) -> dict[str, np.ndarray]:
        """The arrays of ``prototypes.npz``; FileNotFoundError when the stage has not written them."""
        if not self.prototypes_path.is_file():
            raise FileNotFoundError(f"{self.prototypes_path} is missing; the adaptation stage has not finished")
        with np.load(self.prototypes_path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def read_bench(self) -> dict[str, Any]:
        return json.loads(self.bench_path.read_text(encoding="utf-8")) if self.bench_path.is_file() else {}

    def read_history(self):
        """``history.csv`` as a DataFrame (empty with ``HISTORY_COLUMNS`` when missing)."""
        import pandas as pd

        if not self.history_path.is_file():
            return pd.DataFrame(columns=HISTORY_COLUMNS)
        return pd.read_csv(self.history_path, float_precision="round_trip")

    def write_history(self, history: Sequence[dict[str, Any]]) -> Path:
        cols = list(HISTORY_COLUMNS)
        for row in history:
            cols += [k for k in row if k not in cols]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for row in history:
            w.writerow([_csv_value(row.get(c)) for c in cols])
        return atomic_write_text(buf.getvalue(), self.history_path)

    def read_confusion(self):
        """``confusion_matrix.csv`` as a DataFrame (None when missing)."""
        import pandas as pd

        return pd.read_csv(self.confusion_path, index_col=0) if self.confusion_path.is_file() else None

    def write_confusion(self, hist: Any, names: Sequence[str]) -> Path:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([""] + list(names))  # the reference layout: header row, then name + counts
        for name, row in zip(names, np.asarray(hist).tolist()):
            w.writerow([name] + [int(v) for v in row])
        return atomic_write_text(buf.getvalue(), self.confusion_path)

    # ------------------------------------------------------------------ per-image matrices
    def write_per_image(self, matrices: np.ndarray, names: Sequence[str], split: str,
                        extra: dict[str, np.ndarray] | None = None) -> Path:
        """Store ``(N, K, K)`` per-image confusion matrices (rows = ground truth) and image ids, and
        `extra` per-image arrays (``segkit.metrics.ExtraMetrics.per_image_arrays``) under their names."""
        m = np.asarray(matrices)
        dtype = np.int32 if m.size == 0 or m.max() < 2**31 else np.int64
        arrays = {f"extra_{k}": np.asarray(v) for k, v in (extra or {}).items()}
        return atomic_write(self.per_image_path, lambda fh: np.savez_compressed(
            fh, matrices=m.astype(dtype), names=np.asarray(list(names), dtype=str), split=np.asarray(split),
            **arrays), "wb")

    def read_per_image(self) -> tuple[np.ndarray, list[str]]:
        """``(matrices (N, K, K) int64, image ids)``; FileNotFoundError when the run has none."""
        if not self.per_image_path.is_file():
            raise FileNotFoundError(f"{self.per_image_path} is missing; the run predates per-image matrices "
                                    "(retrain it, e.g. segkit report --force)")
        with np.load(self.per_image_path, allow_pickle=False) as z:
            return z["matrices"].astype(np.int64), [str(n) for n in z["names"]]

    def read_per_image_extra(self) -> dict[str, np.ndarray]:
        """The per-image arrays beside the matrices (``boundary``, ``objects``, ...; in image order as
        ``read_per_image``'s ids); empty for runs evaluated before they existed or without the file."""
        if not self.per_image_path.is_file():
            return {}
        with np.load(self.per_image_path, allow_pickle=False) as z:
            return {k[len("extra_"):]: z[k] for k in z.files if k.startswith("extra_")}

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, name: str, payload: dict[str, Any]) -> Path:
        """``torch.save`` to ``checkpoints/<name>.pt`` atomically."""
        return atomic_save(payload, self.checkpoint(name))

    def load_checkpoint(self, name: str, map_location: Any = "cpu") -> dict[str, Any]:
        return load_checkpoint(self.checkpoint(name), map_location=map_location)

    # ------------------------------------------------------------------ housekeeping
    def lock(self) -> "RunLock":
        """The OS file lock of this run directory (a context manager)."""
        return RunLock(self.lock_path)

    def prepare(self) -> list[Path]:
        """Check the folder is segkit's (`check_made_by_segkit`), create it, check it is writable, mark it
        as a run and remove temp files of dead writers.

        Raises:
            ValueError: the folder holds someone else's files.
            OSError: the folder cannot be written (read-only, disk full), naming it.
        """
        self.check_made_by_segkit()
        try:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"segkit")
            probe.unlink()
            (self.path / self.MARKER).write_bytes(b"a segkit run directory: segkit writes and replaces its files\n")
        except OSError as exc:
            raise OSError(f"run directory {self.path} is not writable ({exc.strerror or exc}); "
                          "free disk space or choose another run_dir") from None
        return self.remove_stale_temp_files()

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete ``.<name>.tmp-<pid>`` files left by a writer that was killed mid-save."""
        removed = []
        for folder in (self.path, self.checkpoint_dir):
            for tmp in folder.glob(".*.tmp-*") if folder.is_dir() else ():
                pid = tmp.name.rsplit("-", 1)[-1]
                if pid.isdigit() and not pid_alive(int(pid)):
                    tmp.unlink(missing_ok=True)
                    removed.append(tmp)
        return removed

    def supersede(self) -> Path:
        """Move this run aside to ``<parent>/.superseded/<name>-<UTC time>/`` (never delete results)."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        dest = self.path.parent / self.SUPERSEDED / f"{self.path.name}-{stamp}"
        k = 1
        while dest.exists():
            dest = dest.with_name(f"{self.path.name}-{stamp}-{k}")
            k += 1
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.path), str(dest))
        return dest


# ----------------------------------------------------------------------------- helpers
def _read_yaml(path: Path) -> dict[str, Any]:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}


def _csv_value(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(v) if isinstance(v, float) else str(v)
