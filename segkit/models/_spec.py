"""A model as data: registry name, arguments, pretrained source, stitched modules.

``build_model`` attaches the spec to every model it builds as ``model.segkit_spec``;
``segkit.stitch.insert`` appends each insertion to it. The trainer writes it to
``config.yaml``, and :func:`build_from_spec` rebuilds the same network from it::

    {"name": "deeplabv3plus-mobilenetv2", "kwargs": {"num_classes": 3}, "pretrained": "imagenet",
     "stitches": [{"at": "backbone.features.7", "where": "after", "module": "cbam", "kwargs": {}}]}

A stitch's ``module`` is a registered module name (``segkit.list_modules()``) or the
``"package.module:Class"`` path of a registered class (a user's own, registered with
``segkit.modules.register_module``); a ready instance or an unregistered class cannot be
recorded. Nothing is ever imported from a spec: a run directory is data people share, and an
import path in its ``config.yaml`` could name any function.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Mapping

import torch.nn as nn

from segkit.models._registry import _is_plain, build_model
from segkit.stitch._insert import apply_stitches
from segkit.stitch._record import _resolve_module, stitch_entry

__all__ = ["build_from_spec", "apply_stitches", "spec_problem", "spec_as_data", "stitch_entry", "parse_insert"]

_WHERE = ("after", "before", "replace")


def spec_problem(spec: Mapping[str, Any] | None) -> str | None:
    """Why `spec` cannot rebuild its model (None when it can)."""
    if not isinstance(spec, Mapping) or not spec.get("name"):
        return "it names no registered model (a custom nn.Module)"
    if not _is_plain(spec.get("kwargs", {})):
        bad = [k for k, v in spec.get("kwargs", {}).items() if not _is_plain(v)]
        return (f"its arguments {bad} are Python objects, not data; pass them as names/values "
                "(e.g. attn='ggca', attn_policy='paper') so the run can be rebuilt")
    for st in spec.get("stitches") or []:
        if st.get("module") is None:
            return (f"the module stitched at {st.get('at')!r} was passed as {st.get('unrecordable', 'an object')}; "
                    "stitch a registered name (e.g. 'cbam') or a class registered with "
                    "segkit.modules.register_module instead")
        try:
            _resolve_module(st["module"])
        except ValueError as exc:
            return str(exc)
        if not _is_plain(st.get("kwargs", {})):
            return f"the module stitched at {st.get('at')!r} got non-data arguments {st.get('kwargs')}"
    return None


def spec_as_data(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A plain copy of a rebuildable spec (tuples as lists), safe to write as YAML/JSON."""
    return json.loads(json.dumps(spec))


def build_from_spec(spec: Mapping[str, Any], load_pretrained: bool = True) -> nn.Module:
    """Rebuild the model a spec describes (``model.segkit_spec`` or ``config.yaml``'s ``model:``).

    Args:
        spec: ``{"name", "kwargs", "pretrained", "stitches"}``.
        load_pretrained: also load the recorded pretrained weights; off when a checkpoint
            is loaded over the model anyway (``load_run``).

    Raises:
        ValueError: the spec cannot be rebuilt (see :func:`spec_problem`).
    """
    problem = spec_problem(spec)
    if problem:
        raise ValueError(f"cannot rebuild the model from its spec: {problem}")
    kwargs = copy.deepcopy(dict(spec.get("kwargs") or {}))
    if load_pretrained and spec.get("pretrained"):
        kwargs["pretrained"] = spec["pretrained"]
    model = build_model(spec["name"], **kwargs, stitches=list(spec.get("stitches") or []))
    if not load_pretrained and spec.get("pretrained"):
        model.segkit_spec["pretrained"] = spec["pretrained"]  # provenance is kept even without the load
    return model


def parse_insert(text: str) -> dict[str, Any]:
    """``"backbone.features.7=cbam"`` (after), ``"...=cbam:before"``, ``"...=se:replace"``, with an optional
    ``:gated`` suffix (``"...=cbam:gated"``, ``"...=cbam:before:gated"``) -> a stitch entry."""
    at, sep, rhs = text.partition("=")
    module, *options = rhs.split(":")
    gated = options[-1:] == ["gated"]
    where = (options[:-1] if gated else options) or ["after"]
    if not sep or not at or not module or len(where) != 1 or where[0] not in _WHERE:
        raise ValueError(f"--insert {text!r}: expected PATH=MODULE[:before|:replace][:gated], e.g. "
                         "backbone.features.7=cbam, backbone.features.7=se:before or backbone.features.7=cbam:gated")
    entry = {"at": at.strip(), "where": where[0], "module": module.strip()}
    return {**entry, "gated": True} if gated else entry
