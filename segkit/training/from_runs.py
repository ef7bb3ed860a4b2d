"""Models and weights taken from run directories: a finished run's model (:func:`load_run`), the
warm start by model part (``TrainConfig.warm_start``) and the distillation teacher
(``TrainConfig.distill_from``). The last two read a run directory's best.pt or a checkpoint file
(:func:`run_checkpoint`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch
import torch.nn as nn

from segkit.training.checkpoint import atomic_write_text, load_checkpoint
from segkit.training.config import TrainConfig
from segkit.models._weights import LoadReport, read_state_dict
from segkit.models.parts import part_keys, part_name
from segkit.runs import RunDir

__all__ = ["Run", "load_run", "load_weights", "run_checkpoint", "warm_start", "load_teacher", "WARM_START_FILE"]

WARM_START_FILE = "warm_start.json"


class Run(NamedTuple):
    """What :func:`load_run` returns (unpacks as ``model, config, history, metrics``)."""

    model: nn.Module
    config: dict[str, Any]
    history: "Any"  # pandas.DataFrame
    metrics: dict[str, Any]

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.config["train"])


def _describe_spec(spec: dict[str, Any] | None, class_names: Any = None) -> str:
    spec = spec or {}
    name = spec.get("name") or spec.get("class") or "an unnamed model"
    k = spec.get("num_classes") or (spec.get("kwargs") or {}).get("num_classes") or (
        len(class_names) if class_names else None)
    return f"{name}" + (f" with {k} classes" if k else "")


def load_weights(model: nn.Module, state: dict[str, Any], path: str | Path, expected: dict[str, Any] | None = None) -> None:
    """``model.load_state_dict(state["model"])``; a checkpoint of another architecture or class
    count is one line naming the file, what it holds and what the model expects (not
    PyTorch's list of every mismatching tensor)."""
    try:
        model.load_state_dict(state["model"])
        return
    except RuntimeError as exc:
        if "Error(s) in loading state_dict" not in str(exc):
            raise
    weights, own = state["model"], model.state_dict()
    shapes = [f"{k}: {tuple(weights[k].shape)} in the file, {tuple(v.shape)} in the model"
              for k, v in own.items() if k in weights and hasattr(weights[k], "shape") and weights[k].shape != v.shape]
    missing = [k for k in own if k not in weights]
    extra = [k for k in weights if k not in own]
    held = (_describe_spec(state.get("model_spec"), state.get("class_names")) if state.get("model_spec")
            else "a bare state_dict")
    want = _describe_spec(expected) if expected else type(model).__name__
    detail = "; ".join(filter(None, [
        f"{len(shapes)} tensor(s) of another shape (first {shapes[0]})" if shapes else "",
        f"{len(missing)} weight(s) missing (first {missing[0]})" if missing else "",
        f"{len(extra)} unknown weight(s) (first {extra[0]})" if extra else ""]))
    raise ValueError(f"checkpoint {path} holds {held}, but the run expects {want} ({detail}); give a checkpoint of "
                     "this run (its checkpoints/best.pt, last.pt or epNNN.pt) or evaluate the run that wrote it")


def load_run(
    run_dir: str | Path, model: nn.Module | None = None, checkpoint: str = "best", device: str = "cpu"
) -> Run:
    """Load a finished (or running) run directory.

    Args:
        run_dir: The folder :func:`train` wrote.
        model: A module to load the weights into; default: rebuilt from ``config.yaml``'s
            model spec (a registered model, with its stitched modules).
        checkpoint: ``"best"``, ``"best_loss"``, ``"last"``, ``"epNNN"`` or a path.
        device: Where to put the model.

    Returns:
        ``Run(model (eval mode), config dict, history DataFrame, metrics dict)``.
    """
    rd = RunDir(run_dir)
    if not rd.config_path.is_file():
        raise FileNotFoundError(f"{rd.config_path} not found; is {str(run_dir)!r} a segkit run directory?")
    config = rd.read_config()
    state = load_checkpoint(rd.checkpoint(checkpoint), map_location="cpu")
    if model is None:
        from segkit.models._spec import build_from_spec, spec_problem

        spec = config.get("model", {})
        problem = spec.get("not_rebuildable") or spec_problem(spec)
        if problem:
            raise ValueError(f"{rd.config_path}: cannot rebuild the run's model ({spec.get('class')}): {problem}; "
                             "or pass model=<an instance of it> to load_run")
        model = build_from_spec(spec, load_pretrained=False)  # the checkpoint replaces every weight
    load_weights(model, state, rd.checkpoint(checkpoint), config.get("model", {}))
    model.to(device).eval()
    return Run(model, config, rd.read_history(), rd.read_metrics())


def run_checkpoint(source: str | Path, field: str) -> Path:
    """The checkpoint a training option names: a file as given, or a run directory's ``checkpoints/best.pt``.

    Raises:
        FileNotFoundError: neither exists; one line naming `field`, the path and the fix.
    """
    path = Path(source)
    if path.is_dir():
        path = RunDir(path).checkpoint("best")
    if not path.is_file():
        raise FileNotFoundError(f"TrainConfig.{field}: {str(source)!r} is neither a checkpoint file nor a run directory "
                                f"with checkpoints/best.pt ({path} is missing); train that run first or give the path "
                                "of one that finished")
    return path


def _load_part(net: nn.Module, part: str, source: str) -> LoadReport:
    """Copy the tensors of `part` that the checkpoint holds under the same name and shape."""
    path = run_checkpoint(source, f"warm_start[{part!r}]")
    keys = [k for k in part_keys(net, part) if not k.endswith("num_batches_tracked")]
    if not keys:
        raise ValueError(f"TrainConfig.warm_start[{part!r}]: the model has no {part_name(part)!r} part; "
                         "remove the entry or train a model that has it")
    sd, own = read_state_dict(path), net.state_dict()
    report = LoadReport(str(path), scope=part_name(part), scope_total=len(keys))
    for k in keys:
        if k not in sd:
            report.missing.append(k)
        elif sd[k].shape != own[k].shape:
            report.skipped.append((k, f"checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"))
        else:
            report.loaded.append(k)
    report.scope_loaded = len(report.loaded)
    net.load_state_dict({k: sd[k] for k in report.loaded}, strict=False)
    return report


def _record(report: LoadReport, source: str) -> dict[str, Any]:
    return {"source": source, "checkpoint": report.source, "tensors": report.scope_total,
            "loaded": len(report.loaded), "missing": len(report.missing),
            "shape_mismatched": len(report.skipped), "partial": report.coverage < 1.0,
            "missing_keys": report.missing[:20], "shape_mismatched_keys": [k for k, _ in report.skipped[:20]]}


def warm_start(net: nn.Module, sources: dict[str, str], run_dir: Path | None,
               say: Callable[..., None]) -> dict[str, Any]:
    """Load each part's weights from its run; print one report per part and write them to
    ``run_dir/warm_start.json`` (loaded / missing / shape-mismatched counts; a partial load is marked)."""
    records = {}
    for part, source in sources.items():
        report = _load_part(net, part, source)
        note = "" if report.coverage == 1.0 else " (PARTIAL: the rest keeps its initialisation)"
        say(f"[warm start] {part}: {report}{note}")
        records[part] = _record(report, source)
    if run_dir is not None:
        atomic_write_text(json.dumps(records, indent=2), run_dir / WARM_START_FILE)
    return records


def load_teacher(source: str, num_classes: int, device: torch.device) -> nn.Module:
    """The teacher model, frozen in eval mode: a run directory is rebuilt from its config.yaml
    (:func:`segkit.training.trainer.load_run`), a checkpoint file from the model spec it holds."""
    from segkit.models._spec import build_from_spec, spec_problem

    path = run_checkpoint(source, "distill_from")
    if Path(source).is_dir():
        teacher = load_run(source, device="cpu").model
    else:
        state = load_checkpoint(path)
        problem = spec_problem(state.get("model_spec"))
        if problem:
            raise ValueError(f"TrainConfig.distill_from={source!r}: cannot rebuild the teacher: {problem}; give the "
                             "run directory of a model built by name")
        teacher = build_from_spec(state["model_spec"], load_pretrained=False)
        load_weights(teacher, state, path, state["model_spec"])
    if getattr(teacher, "num_classes", num_classes) != num_classes:
        raise ValueError(f"TrainConfig.distill_from={source!r}: the teacher predicts {teacher.num_classes} classes, "
                         f"this run {num_classes}; distil from a run on the same classes")
    return teacher.to(device).eval().requires_grad_(False)
