"""Module stitching: find where to insert attention, insert it safely, compose modules.

The workflow of zoo.md §2, made first-class:

1. :func:`inspect` (or :func:`probe_shapes`) runs one forward pass with hooks and lists every
   module path with its real input/output shapes and parameter counts: the place to pick a
   stitching point.
2. :func:`insert` probes the real tensor at that path, infers the channel count, builds the
   module, validates it (channel mismatch, spatial-size-dependent modules at the wrong size,
   zero-width layers, shape changes) with a dry forward of the whole model, and edits the
   model in place (rolled back on failure). It returns the model and an :class:`InsertRecord`.
3. :class:`Serial` and :class:`Parallel` compose modules (nestable), e.g. SE then ECA, or
   SE and ECA in parallel merged by add/mul/max/concat (+ 1x1 projection back to C).

Works on segkit models, timm models and plain ``nn.Sequential`` chains::

    from segkit import stitch
    from segkit.modules.se import SE
    stitch.inspect(model, (1, 3, 64, 64))                        # pick a path
    model, rec = stitch.insert(model, "backbone.features.3", SE, reduction=8)
    print(rec)   # inserted SE after 'backbone.features.3' (C=24 at 16x16): +144 params ...

"after"/"before" wrap the host module at PATH in a :class:`Stitched` container, so the host's
parameters move from ``PATH.*`` to ``PATH.host.*`` (load pretrained weights before stitching).

A model built by ``segkit.build_model`` records each insertion in ``model.segkit_spec``
(path, where, module name, arguments), so a trained stitched model can be rebuilt from
its run's ``config.yaml``; stitch by registered name (or an importable class) for that.
"""
from __future__ import annotations

import functools
import inspect as _inspect
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence, Union

import torch
import torch.nn as nn

from segkit._utils import count_params, did_you_mean
from segkit._utils import eval_mode as _eval_mode

__all__ = [
    "probe_shapes",
    "inspect",
    "insert",
    "Serial",
    "Parallel",
    "Stitched",
    "InsertRecord",
    "resolve_module",
]

ModuleSpec = Union[str, type, Callable[..., nn.Module], nn.Module]
Where = Literal["after", "before", "replace"]


# --------------------------------------------------------------------------- helpers


def _shape_of(obj: Any) -> Any:
    """Tensor -> tuple shape; tuples/lists/dicts recursively; anything else -> its type name."""
    if isinstance(obj, torch.Tensor):
        return tuple(obj.shape)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_shape_of(o) for o in obj) if isinstance(obj, list) else tuple(_shape_of(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _shape_of(v) for k, v in obj.items()}
    return type(obj).__name__


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        return p.device, p.dtype
    for b in model.buffers():
        return b.device, (b.dtype if b.is_floating_point() else torch.float32)
    return torch.device("cpu"), torch.float32


def _first_in_channels(model: nn.Module) -> int | None:
    for m in model.modules():
        c = getattr(m, "in_channels", None)
        if isinstance(c, int) and isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
            return c
    return None


def _make_input(model: nn.Module, input: torch.Tensor | Sequence[int] | None) -> torch.Tensor:
    """A probe tensor: `input` itself, a random tensor of shape `input`, or a guessed (1,C,64,64)."""
    device, dtype = _model_device_dtype(model)
    if isinstance(input, torch.Tensor):
        return input.to(device)
    if input is None:
        c = _first_in_channels(model)
        if c is None:
            raise ValueError(
                "cannot guess the model's input shape (no Conv layer found); pass input=(B, C, H, W) or a tensor"
            )
        input = (1, c, 64, 64)
    shape = tuple(int(s) for s in input)
    if any(s < 1 for s in shape):
        raise ValueError(f"input shape {shape} has a non-positive dimension; pass e.g. (1, 3, 64, 64)")
    gen = torch.Generator().manual_seed(0)
    return torch.randn(shape, generator=gen).to(device=device, dtype=dtype)


@dataclass
class _Probe:
    type: str
    in_shape: Any = None
    out_shape: Any = None
    calls: int = 0
    takes_model_input: bool = False  # its input is the raw model input tensor


def _probe(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, _Probe], Any]:
    """One forward pass with hooks on every module; returns per-path probes and the output."""
    probes: dict[str, _Probe] = OrderedDict()
    handles = []

    def hook(path: str):
        def fn(mod: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
            p = probes[path]
            p.calls += 1
            if p.calls == 1:
                first = args[0] if args else (next(iter(kwargs.values())) if kwargs else None)
                p.in_shape = _shape_of(first)
                p.takes_model_input = first is x
                p.out_shape = _shape_of(out)

        return fn

    for path, mod in model.named_modules():
        probes[path] = _Probe(type(mod).__name__)
        handles.append(mod.register_forward_hook(hook(path), with_kwargs=True))
    try:
        with _eval_mode(model):
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    return probes, out


# --------------------------------------------------------------------------- inspection


def probe_shapes(model: nn.Module, input: torch.Tensor | Sequence[int] | None = None) -> dict[str, Any]:
    """Output shape at every named point of `model` for one forward pass.

    The pass runs in eval mode without gradients; every module's training flag is restored.

    Args:
        model: any ``nn.Module``.
        input: a tensor, a shape such as ``(1, 3, 64, 64)``, or None to guess ``(1, C, 64, 64)``
            from the first conv layer.

    Returns:
        ``{path: shape}`` in module order ("" is the model itself). A shape is a tuple for a
        tensor, a tuple/list/dict of shapes for structured outputs, and None for a module the
        forward pass never called.
    """
    probes, _ = _probe(model, _make_input(model, input))
    return {path: p.out_shape for path, p in probes.items()}


def inspect(
    model: nn.Module,
    input_shape: torch.Tensor | Sequence[int] | None = None,
    max_depth: int | None = None,
    called_only: bool = False,
):
    """A table of every module path with its type, real shapes and parameter counts.

    This is how to find a stitching point: pick a path whose output is a (B, C, H, W)
    tensor, then ``insert(model, at=path, module=...)``.

    Args:
        model: any ``nn.Module``.
        input_shape: probe input (tensor or shape); None guesses ``(1, C, 64, 64)``.
        max_depth: keep paths with at most this many dotted components (None = all).
        called_only: drop modules the forward pass never called.

    Returns:
        A pandas DataFrame with columns ``path, depth, type, in_shape, out_shape, params,
        trainable, calls`` (``params``/``trainable`` count the module's own subtree).
    """
    import pandas as pd

    probes, _ = _probe(model, _make_input(model, input_shape))
    modules = dict(model.named_modules())
    rows = []
    for path, p in probes.items():
        depth = 0 if path == "" else path.count(".") + 1
        if max_depth is not None and depth > max_depth:
            continue
        if called_only and p.calls == 0:
            continue
        mod = modules[path]
        rows.append(
            dict(path=path or "(model)", depth=depth, type=p.type, in_shape=p.in_shape, out_shape=p.out_shape,
                 params=count_params(mod, trainable_only=False), trainable=count_params(mod), calls=p.calls)
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- building modules


def _takes_hw(fn: Callable) -> bool:
    try:
        params = _inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "h" in params and "w" in params


def _spec_name(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, functools.partial):
        return _spec_name(spec.func)
    if isinstance(spec, nn.Module):
        return type(spec).__name__
    return getattr(spec, "__name__", type(spec).__name__)


def resolve_module(spec: ModuleSpec, channels: int, size: tuple[int, int] | None = None, **kwargs: Any) -> nn.Module:
    """Build a module for `channels` from a spec.

    Args:
        spec: a registered name (``"se"``, via ``create_attn``), a class or factory called
            as ``spec(channels, **kwargs)``, an unbuilt :class:`Serial`/:class:`Parallel`
            (built for `channels`), or a ready ``nn.Module`` (returned as is; no kwargs).
        channels: the channel count C.
        size: the (H, W) where the module will run; passed as ``h=, w=`` to size-dependent
            modules (constructors taking ``h`` and ``w``) when not given in `kwargs`.
        **kwargs: constructor keyword arguments.

    Raises:
        ValueError: a spatial-size-dependent module built for another size, kwargs given
            with a ready module, or the module's own construction error.
    """
    if isinstance(spec, (Serial, Parallel)):
        if kwargs:
            raise ValueError(f"{type(spec).__name__} takes no keyword arguments here, got {sorted(kwargs)}")
        return spec if spec.built else spec.build(channels, size=size)
    if isinstance(spec, nn.Module):
        if kwargs:
            raise ValueError(
                f"module {type(spec).__name__} is already built; keyword arguments {sorted(kwargs)} cannot apply. "
                "Pass the class (or a registered name) to build it with them"
            )
        return spec
    if isinstance(spec, str):
        from segkit.modules import module_info

        entry = module_info(spec)
        ctor: Callable[..., nn.Module] = entry.cls
        needs_size = entry.needs_size or _takes_hw(ctor)
    elif callable(spec):
        ctor = spec
        needs_size = _takes_hw(spec)
    else:
        raise TypeError(f"module must be a name, class, factory or nn.Module, got {type(spec).__name__}")
    if needs_size and size is not None:
        h, w = size
        given = (kwargs.get("h", h), kwargs.get("w", w))
        if given != (h, w):
            raise ValueError(
                f"{_spec_name(spec)} is spatial-size-dependent: asked for h={given[0]}, w={given[1]} but the tensor "
                f"here is {h}x{w}; pass h={h}, w={w} (or leave them out to use the probed size), "
                "or use a size-free variant"
            )
        kwargs = {**kwargs, "h": h, "w": w}
    return ctor(channels, **kwargs)


def _out_channels(module: nn.Module, channels: int) -> int:
    """Channels a built module outputs for `channels` in (its ``out_channels`` when it declares one)."""
    oc = getattr(module, "out_channels", None)
    return oc if isinstance(oc, int) and oc > 0 else channels


class _Composite(nn.Module):
    """Shared machinery of Serial/Parallel: lazy building from specs."""

    def __init__(self, specs: Sequence[ModuleSpec], channels: int | None) -> None:
        super().__init__()
        if not specs:
            raise ValueError(f"{type(self).__name__} needs at least one module")
        self._specs = list(specs)
        self.channels: int | None = None
        self.built = False
        ready = all(isinstance(s, nn.Module) and (not isinstance(s, _Composite) or s.built) for s in specs)
        if channels is None and ready:
            declared = [getattr(s, "channels", None) for s in specs]
            channels = next((c for c in declared if isinstance(c, int)), None)
        if channels is not None:
            self.build(channels)
        elif ready and not self._needs_channels():
            self._build_children(None, None)
            self.built = True

    def _needs_channels(self) -> bool:
        return False

    def _build_children(self, channels: int | None, size: tuple[int, int] | None) -> None:
        raise NotImplementedError

    def build(self, channels: int, size: tuple[int, int] | None = None) -> "_Composite":
        """Build every spec for `channels` (and size (H, W) for size-dependent modules); returns self."""
        if self.built:
            if self.channels is not None and channels != self.channels:
                raise ValueError(
                    f"{type(self).__name__} was built for channels={self.channels}, not {channels}; "
                    "build a new one (or pass classes/names so it can be built for the probed channels)"
                )
            return self
        self.channels = channels
        self._build_children(channels, size)
        self.built = True
        return self

    def _check_built(self) -> None:
        if not self.built:
            raise RuntimeError(
                f"{type(self).__name__} holds unbuilt specs {[_spec_name(s) for s in self._specs]}; "
                "pass channels=C, call .build(C), or insert it with segkit.stitch.insert (which probes C)"
            )


class Serial(_Composite):
    """Apply modules one after another (zoo.md §2 rule 6, a ``Cascade``).

    Items may be ready modules or specs (registered names, classes, factories such as
    ``functools.partial(SE, reduction=8)``, nested Serial/Parallel); specs are built when
    the channel count is known (``channels=``, ``.build(C)`` or :func:`insert`).

    Args:
        *modules: modules or specs, applied in order.
        channels: build now for this C.

    Shape:
        (B, C, H, W) -> (B, C', H, W), C' = C unless an item changes it.

    Example:
        >>> Serial("se", "eca", channels=63)(torch.randn(1, 63, 64, 64)).shape
        torch.Size([1, 63, 64, 64])
    """

    def __init__(self, *modules: ModuleSpec, channels: int | None = None) -> None:
        self.out_channels: int | None = None
        super().__init__(modules, channels)

    def _build_children(self, channels: int | None, size: tuple[int, int] | None) -> None:
        c = channels
        for i, spec in enumerate(self._specs):
            mod = spec if c is None else resolve_module(spec, c, size)
            self.add_module(str(i), mod)
            if c is not None:
                c = _out_channels(mod, c)
        self.out_channels = c

    def __getitem__(self, idx: int) -> nn.Module:
        self._check_built()
        return list(self._modules.values())[idx]

    def __len__(self) -> int:
        return len(self._modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_built()
        for mod in self._modules.values():
            x = mod(x)
        return x


_MERGES = ("add", "mul", "concat", "max")


class Parallel(_Composite):
    """Feed the same input to every branch and merge the outputs (zoo.md §2 rule 7).

    Args:
        *modules: branches (modules or specs, as in :class:`Serial`).
        merge: "add", "mul", "max" (element-wise) or "concat" (channel concatenation).
        project: with "concat", a 1x1 conv (bias) from ``n*C`` back to C; without it the
            output has ``n*C`` channels and the next layer must be re-aligned.
        channels: build now for this C (needed for ``concat`` + project with ready modules
            that do not expose ``.channels``).

    Shape:
        (B, C, H, W) -> (B, C, H, W); (B, n*C, H, W) for ``merge="concat", project=False``.
    """

    def __init__(
        self,
        *modules: ModuleSpec,
        merge: Literal["add", "mul", "concat", "max"] = "add",
        project: bool = True,
        channels: int | None = None,
    ) -> None:
        if merge not in _MERGES:
            raise ValueError(f"Parallel(merge={merge!r}): use one of {_MERGES}.{did_you_mean(str(merge), _MERGES)}")
        self.merge = merge
        self.project_concat = project
        self.out_channels: int | None = None
        super().__init__(modules, channels)

    def _needs_channels(self) -> bool:
        return self.merge == "concat" and self.project_concat

    def _build_children(self, channels: int | None, size: tuple[int, int] | None) -> None:
        branches = []
        outs = []
        for spec in self._specs:
            mod = spec if channels is None else resolve_module(spec, channels, size)
            branches.append(mod)
            outs.append(_out_channels(mod, channels) if channels is not None else None)
        self.branches = nn.ModuleList(branches)
        if self.merge == "concat":
            total = sum(outs) if channels is not None else None
            if self.project_concat:
                self.proj = nn.Conv2d(total, channels, 1)
                self.out_channels = channels
            else:
                self.proj = nn.Identity()
                self.out_channels = total
        else:
            if channels is not None and len(set(outs)) > 1:
                raise ValueError(f"Parallel(merge={self.merge!r}) needs equal branch widths, got {outs}")
            self.proj = nn.Identity()
            self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_built()
        outs = [branch(x) for branch in self.branches]
        if self.merge == "concat":
            return self.proj(torch.cat(outs, dim=1))
        y = outs[0]
        for o in outs[1:]:
            if self.merge == "add":
                y = y + o
            elif self.merge == "mul":
                y = y * o
            else:
                y = torch.maximum(y, o)
        return y

    def extra_repr(self) -> str:
        return f"merge={self.merge!r}" + (f", project={self.project_concat}" if self.merge == "concat" else "")


class Stitched(nn.Sequential):
    """A host module and the module stitched before or after it (created by :func:`insert`).

    Its children are named, e.g. ``(host)`` then ``(se)``, so ``print(model)`` shows the
    insertion (zoo.md §2 rule 5) and parameters live at ``PATH.host.*`` and ``PATH.se.*``.
    """


# --------------------------------------------------------------------------- insertion


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
    parent, child, host = _split_path(model, at)
    x = _make_input(model, input)
    probes, ref_out = _probe(model, x)
    probe = probes[at]
    if probe.calls == 0:
        raise ValueError(
            f"'{at}' ({probe.type}) is never called in the model's forward pass, so nothing can be stitched there"
        )
    in_shape = _tensor4(probe.in_shape, at, "input") if where == "before" else None
    out_shape = _tensor4(probe.out_shape, at, "output") if where != "before" else None
    if where == "replace":
        in_shape = probe.in_shape
        if in_shape != out_shape:
            raise ValueError(
                f"replacing '{at}' ({probe.type}) needs a module mapping {in_shape} -> {out_shape}; an attention "
                f"module keeps its input shape. Use where='after' (or 'before') to keep the host"
            )
    shape = in_shape if where == "before" else out_shape
    b, c, h, w = shape  # type: ignore[misc]
    if where == "before" and probe.takes_model_input:
        warnings.warn(
            f"inserting {_spec_name(module)} before '{at}' puts it on the raw model input ({c} channels); channel "
            "attention there has almost nothing to learn (zoo.md §2 rule 4). Stitch after the first block instead",
            stacklevel=2,
        )
    label = f"{_spec_name(module)} at '{at}' ({where}, C={c}, {h}x{w})"

    # build
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

    # the module alone on the probed shape
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

    # edit, dry-run, roll back on failure
    before = _all_params(model)
    child_name = name or (module if isinstance(module, str) else _spec_name(module).lower())
    if where == "replace":
        replacement: nn.Module = new
        new_path = at
    else:
        if child_name == "host":
            raise ValueError("name='host' is reserved for the original module; pick another name")
        pair = [("host", host), (child_name, new)] if where == "after" else [(child_name, new), ("host", host)]
        replacement = Stitched(OrderedDict(pair))
        new_path = f"{at}.{child_name}"
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
    after = _all_params(model)
    removed = _all_params(host) if where == "replace" else 0
    record = InsertRecord(
        path=at, where=where, name=_spec_name(module), new_path=new_path, channels=c, size=(h, w),
        params_added=_all_params(new), params_removed=removed, params_before=before, params_after=after, module=new,
    )
    spec = getattr(model, "segkit_spec", None)
    if isinstance(spec, dict):  # the model as data: this insertion is part of it now
        from segkit.models._spec import stitch_entry

        spec.setdefault("stitches", []).append(stitch_entry(at, where, module, kwargs, name, input, keep_shape))
    return model, record
