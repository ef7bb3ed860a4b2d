"""`insert`: put a module before, after or in place of the module at a path, checked and rolled back on failure."""
from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import torch
import torch.nn as nn

from segkit._utils import count_params, did_you_mean
from segkit.modules.zero_gate import add_zero_gate
from segkit.stitch._compose import ModuleSpec, Stitched, resolve_module, _spec_name
from segkit.stitch._probe import _eval_mode, _make_input, _model_device_dtype, _probe, _shape_of
from segkit.stitch._record import _resolve_module, stitch_entry

__all__ = ["insert", "InsertRecord"]

Where = Literal["after", "before", "replace"]


@dataclass
class InsertRecord:
    """What :func:`insert` changed.

    Attributes:
        path: the host path given as ``at``.
        where: "after", "before" or "replace".
        name: the inserted module's name (registered name or class name).
        new_path: the inserted module's path in the edited model.
        channels: the probed channel count the module was built for.
        size: the probed (H, W) at that point.
        params_added: parameters of the inserted module (all, trainable or not).
        params_removed: parameters of a replaced host (0 otherwise).
        params_before: model parameters before the edit.
        params_after: model parameters after the edit.
        module: the inserted module object.
    """

    path: str
    where: str
    name: str
    new_path: str
    channels: int
    size: tuple[int, int]
    params_added: int
    params_removed: int
    params_before: int
    params_after: int
    module: nn.Module = field(repr=False, compare=False)

    def __str__(self) -> str:
        h, w = self.size
        verb = {"after": "after", "before": "before", "replace": "in place of"}[self.where]
        delta = self.params_after - self.params_before
        return (
            f"inserted {self.name} {verb} '{self.path}' (C={self.channels} at {h}x{w}) as '{self.new_path}': "
            f"+{self.params_added:,} params" + (f", -{self.params_removed:,} replaced" if self.params_removed else "")
            + f"; model {self.params_before:,} -> {self.params_after:,} ({delta:+,})"
        )

    def _repr_markdown_(self) -> str:  # notebooks
        return str(self)


def _all_params(m: nn.Module) -> int:
    return count_params(m, trainable_only=False)


def _check_no_zero_params(module: nn.Module, label: str) -> None:
    for name, p in module.named_parameters():
        if p.numel() == 0:
            raise ValueError(
                f"{label}: parameter '{name}' has shape {tuple(p.shape)}, a zero-width layer that can learn "
                "nothing (the classic SE at C=3, r=16 -> Linear(3, 0)); use a smaller reduction or a clamped width"
            )


def _split_path(model: nn.Module, at: str) -> tuple[nn.Module, str, nn.Module]:
    if not isinstance(at, str) or at == "":
        raise ValueError(
            f"at={at!r}: give the dotted path of a submodule (see segkit.stitch.inspect); to wrap the whole model "
            "use Serial(model, module)"
        )
    names = [n for n, _ in model.named_modules() if n]
    try:
        target = model.get_submodule(at)
    except AttributeError:
        raise ValueError(
            f"at={at!r}: no such module path.{did_you_mean(at, names)} See segkit.stitch.inspect(model, ...)"
        ) from None
    parent_path, _, child = at.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    return parent, child, target


def _tensor4(shape: Any, at: str, which: str) -> tuple[int, int, int, int]:
    if isinstance(shape, tuple) and len(shape) == 4 and all(isinstance(s, int) for s in shape):
        return shape  # type: ignore[return-value]
    raise ValueError(
        f"the {which} of '{at}' is {shape!r}, not a (B, C, H, W) tensor; attention modules need one. "
        "Pick a path whose out_shape is 4-D in segkit.stitch.inspect (often a child of this module)"
    )


def insert(
    model: nn.Module,
    at: str,
    module: ModuleSpec,
    where: Where = "after",
    *,
    input: torch.Tensor | Sequence[int] | None = None,
    name: str | None = None,
    keep_shape: bool = True,
    gated: bool = False,
    **kwargs: Any,
) -> tuple[nn.Module, InsertRecord]:
    """Insert (or substitute) a module at a path, in place, with the channels probed.

    Steps: probe the real tensor at `at` with one forward pass; take C (and H, W) from it
    (the output of the host for "after"/"replace", its input for "before"); build the
    module (``module(C, **kwargs)``, a registered name via ``create_attn``, or a ready
    module); check it on a random tensor of that shape; edit the model; run a dry forward
    of the whole model and compare its output shape with the original; on any failure
    restore the original module and raise ``ValueError``.

    Args:
        model: the host (segkit model, timm model, ``nn.Sequential``...). Edited in place.
        at: dotted module path (see :func:`inspect`).
        module: registered name, class, factory, ready module, or Serial/Parallel.
        where: "after" or "before" the host module, or "replace" it.
        input: probe input, tensor or shape; None guesses ``(1, C_in, 64, 64)`` from the
            first conv. Use the real input size for size-dependent modules.
        keep_shape: require the module to keep the (B, C, H, W) shape at `at` (the host's
            next layer expects it). With False only the whole-model dry forward decides.
        name: child name of the inserted module inside :class:`Stitched` (default: the
            registered name or the lower-cased class name).
        gated: blend the module in through a zero-initialised gate, ``x + g * (module(x) - x)``
            with ``g`` (``<new_path>.zero_gate``) starting at 0, so the edited model first computes
            what the host model did (:mod:`segkit.modules.zero_gate`); "after"/"before" only.
        **kwargs: constructor keyword arguments for the module.

    Returns:
        ``(model, record)``: the same model object and an :class:`InsertRecord`.

    Raises:
        ValueError: unknown path, a non-tensor output at the path, a channel mismatch, a
            size-dependent module at the wrong size, a zero-width parameter, a module that
            changes the shape there, or a model that fails or changes its output afterwards.
    """
    if where not in ("after", "before", "replace"):
        options = ["after", "before", "replace"]
        raise ValueError(f"where={where!r}: use 'after', 'before' or 'replace'.{did_you_mean(str(where), options)}")
    if gated and (where == "replace" or not keep_shape):
        raise ValueError(f"{_spec_name(module)} at '{at}' ({where}): gated=True blends the module with its input, so "
                         "it needs where='after' or 'before' and keep_shape=True (at gate 0 the host model is unchanged)")
    parent, child, host = _split_path(model, at)
    x = _make_input(model, input)
    probes, ref_out = _probe(model, x)
    shape = _site_shape(probes[at], at, where)
    _, c, h, w = shape
    if where == "before" and probes[at].takes_model_input:
        warnings.warn(
            f"inserting {_spec_name(module)} before '{at}' puts it on the raw model input ({c} channels); channel "
            "attention there has almost nothing to learn (see docs/zoo.md). Stitch after the first block instead",
            stacklevel=2,
        )
    label = f"{_spec_name(module)} at '{at}' ({where}, C={c}, {h}x{w})"
    new = _build_checked(model, module, shape, at, label, keep_shape, kwargs)
    if gated:
        add_zero_gate(new)
    before = _all_params(model)
    child_name = _child_name(module, name) if where != "replace" else ""
    new_path = _edit_and_verify(model, parent, child, host, new, at, where, child_name, x, ref_out, label)
    record = InsertRecord(
        path=at, where=where, name=_spec_name(module), new_path=new_path, channels=c, size=(h, w),
        params_added=_all_params(new), params_removed=_all_params(host) if where == "replace" else 0,
        params_before=before, params_after=_all_params(model), module=new,
    )
    spec = getattr(model, "segkit_spec", None)
    if isinstance(spec, dict):  # the model as data: this insertion is part of it now
        spec.setdefault("stitches", []).append(stitch_entry(at, where, module, kwargs, name, input, keep_shape,
                                                            gated))
    return model, record


def _site_shape(probe: Any, at: str, where: Where) -> tuple[int, int, int, int]:
    """The (B, C, H, W) the inserted module will see: the host's output ("after", "replace") or input."""
    if probe.calls == 0:
        raise ValueError(
            f"'{at}' ({probe.type}) is never called in the model's forward pass, so nothing can be stitched there"
        )
    if where == "before":
        return _tensor4(probe.in_shape, at, "input")
    out_shape = _tensor4(probe.out_shape, at, "output")
    if where == "replace" and probe.in_shape != out_shape:
        raise ValueError(
            f"replacing '{at}' ({probe.type}) needs a module mapping {probe.in_shape} -> {out_shape}; an attention "
            f"module keeps its input shape. Use where='after' (or 'before') to keep the host"
        )
    return out_shape


def _build_checked(model: nn.Module, module: ModuleSpec, shape: tuple[int, int, int, int], at: str, label: str,
                   keep_shape: bool, kwargs: dict[str, Any]) -> nn.Module:
    """Build the module for the probed shape and check it alone on a random tensor of that shape."""
    _, c, h, w = shape
    try:
        new = resolve_module(module, c, (h, w), **kwargs)
    except (ValueError, RuntimeError, TypeError) as exc:  # TypeError: e.g. a misspelt keyword argument
        raise ValueError(f"cannot build {label}: {exc}") from exc
    if not isinstance(new, nn.Module):
        raise ValueError(f"{label}: the factory returned {type(new).__name__}, not an nn.Module")
    _check_no_zero_params(new, label)
    declared = getattr(new, "channels", None)
    if isinstance(declared, int) and declared != c:
        raise ValueError(
            f"channel mismatch for {label}: the module was built for channels={declared} but the tensor at '{at}' "
            f"has {c} channels {shape}; build it with channels={c} or pass the class/name so insert infers it"
        )
    device, dtype = _model_device_dtype(model)
    new = new.to(device=device, dtype=dtype)
    new.train(model.training)
    try:
        with _eval_mode(new):
            y = new(torch.randn(shape, device=device, dtype=dtype))
    except Exception as exc:  # report any failure with the path and shape
        raise ValueError(f"{label}: the module fails on the tensor of shape {shape} found there: {exc}") from exc
    if not isinstance(y, torch.Tensor) or (keep_shape and tuple(y.shape) != tuple(shape)):
        raise ValueError(
            f"{label}: the module changes the shape {shape} -> {_shape_of(y)}, but the host needs {shape} kept there "
            "(re-align it, e.g. Parallel(..., merge='concat', project=True), "
            "or pass keep_shape=False if the host adapts)"
        )
    return new


def _child_name(module: ModuleSpec, name: str | None) -> str:
    """The inserted module's name inside `Stitched`: `name`, the registered name or the class name."""
    child_name = name or (module if isinstance(module, str) else _spec_name(module).lower())
    if child_name == "host":
        raise ValueError("name='host' is reserved for the original module; pick another name")
    return child_name


def _edit_and_verify(model: nn.Module, parent: nn.Module, child: str, host: nn.Module, new: nn.Module, at: str,
                     where: Where, child_name: str, x: torch.Tensor, ref_out: Any, label: str) -> str:
    """Put `new` in place, dry-run the whole model and roll back on any failure; returns its path."""
    if where == "replace":
        replacement, new_path = new, at
    else:
        pair = [("host", host), (child_name, new)] if where == "after" else [(child_name, new), ("host", host)]
        replacement, new_path = Stitched(OrderedDict(pair)), f"{at}.{child_name}"
    setattr(parent, child, replacement)
    try:
        with _eval_mode(model):
            out = model(x)
        if _shape_of(out) != _shape_of(ref_out):
            raise ValueError(
                f"the model output changed from {_shape_of(ref_out)} to {_shape_of(out)} after inserting {label}"
            )
    except Exception as exc:
        setattr(parent, child, host)  # roll back
        if isinstance(exc, ValueError) and str(exc).startswith("the model output changed"):
            raise
        raise ValueError(f"the model fails after inserting {label} (change rolled back): {exc}") from exc
    return new_path


def apply_stitches(model: nn.Module, stitches: Sequence[Mapping[str, Any]]) -> nn.Module:
    """Run `insert` for each spec entry, in order (each is appended to ``model.segkit_spec``)."""
    for i, st in enumerate(stitches):
        if not isinstance(st, Mapping) or "at" not in st or not st.get("module"):
            raise ValueError(f"stitches[{i}]={st!r}: give at least {{at: PATH, module: NAME}} "
                             "(where: after|before|replace, kwargs: {...})")
        unknown = set(st) - {"at", "where", "module", "kwargs", "name", "input", "keep_shape", "gated"}
        if unknown:
            raise ValueError(f"stitches[{i}] has unknown key(s) {sorted(unknown)}; use at, where, module, kwargs, "
                             "name, input, keep_shape, gated")
        insert(model, st["at"], _resolve_module(st["module"]), st.get("where", "after"),
               input=st.get("input"), name=st.get("name"), keep_shape=st.get("keep_shape", True),
               gated=bool(st.get("gated", False)), **dict(st.get("kwargs") or {}))
    return model
