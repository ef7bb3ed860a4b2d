"""Build modules from specs, and compose them: `Serial`, `Parallel` and the `Stitched` container."""
from __future__ import annotations

import functools
import inspect as _inspect
from typing import Any, Callable, Literal, Sequence, Union

import torch
import torch.nn as nn

from segkit._utils import did_you_mean
from segkit.modules import module_info

__all__ = ["ModuleSpec", "resolve_module", "Serial", "Parallel", "Stitched"]

ModuleSpec = Union[str, type, Callable[..., nn.Module], nn.Module]


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
    """Apply modules one after another (a ``Cascade``; see ``docs/zoo.md``).

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
    """Feed the same input to every branch and merge the outputs (see ``docs/zoo.md``).

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
    insertion and parameters live at ``PATH.host.*`` and ``PATH.se.*``.
    """
