"""Weights taken from other runs: the warm start by model part (``TrainConfig.warm_start``) and
the distillation teacher (``TrainConfig.distill_from``). Both read a run directory's best.pt or
a checkpoint file (:func:`segkit.engine.checkpoint.run_checkpoint`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from segkit.engine.checkpoint import atomic_write_text, load_checkpoint, run_checkpoint
from segkit.models._weights import LoadReport, read_state_dict
from segkit.models.parts import part_keys, part_name

__all__ = ["warm_start", "load_teacher", "WARM_START_FILE"]

WARM_START_FILE = "warm_start.json"


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
    (:func:`segkit.engine.trainer.load_run`), a checkpoint file from the model spec it holds."""
    from segkit.engine.trainer import load_run, load_weights
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
