"""What a block diagram shows of a network, read from one forward pass.

A *unit* is a module a paper figure would draw as one block: a network's containers
(``nn.Sequential``, ``ModuleList``, modules the forward pass does not call itself) are opened
until their parts are blocks (an inverted-residual block, a stem of conv + BN + activation).
Consecutive units with the same output shape form a *stage* (one box: width, stride, size).
A *mark* is a module inserted into the network: one placed by the backbone's own attention
policy (GGCA in the Improved MobileNetV2) or one stitched in with ``segkit.stitch.insert``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from segkit.stitch import ModuleProbe, Stitched

__all__ = ["Unit", "Stage", "Mark", "units_of", "group_stages", "find_marks", "merge_marks", "short_name",
           "path_range"]

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


@dataclass
class Unit:
    """One block: its path, class, shapes at the first call and call order."""

    path: str
    type: str
    in_shape: Any
    out_shape: Any
    order: int
    module: nn.Module = field(repr=False)


@dataclass
class Mark:
    """An inserted module: `path` is where it lives, `name` how a paper names it.

    Attributes:
        stitched: inserted by ``segkit.stitch`` (else placed by the model's own configuration).
        host: the path of the unit or node it sits in (set by the diagram).
        count: how many such modules one mark stands for (GGCA in three blocks of a stage).
    """

    path: str
    name: str
    stitched: bool
    host: str = ""
    count: int = 1


@dataclass
class Stage:
    """Consecutive units with one output shape (one box of the encoder)."""

    units: list[Unit]

    @property
    def out_shape(self) -> tuple[int, ...]:
        """The last (B, C, H, W) output of the stage (its blocks may pass tokens between them)."""
        return next(u.out_shape for u in reversed(self.units) if _is_tensor_shape(u.out_shape))

    @property
    def paths(self) -> list[str]:
        return [u.path for u in self.units]

    def dilation(self) -> int:
        """The largest dilation of a convolution in the stage (1: none)."""
        d = 1
        for u in self.units:
            for m in u.module.modules():
                if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1:
                    d = max(d, int(m.dilation[0]))
        return d


def _is_tensor_shape(shape: Any) -> bool:
    return isinstance(shape, tuple) and len(shape) == 4 and all(isinstance(s, int) for s in shape)


def _is_structured(shape: Any) -> bool:
    """A tuple, list or dict of outputs (not one tensor's shape)."""
    if isinstance(shape, (list, dict)):
        return True
    return isinstance(shape, tuple) and any(not isinstance(s, int) for s in shape)


def _first_order(probes: dict[str, ModuleProbe]) -> dict[str, int]:
    """Path -> first call order of the path or anything below it (a container slice is called, not it)."""
    first: dict[str, int] = {}
    for path, p in probes.items():
        if p.order is None:
            continue
        parts = path.split(".") if path else []
        for i in range(len(parts) + 1):
            key = ".".join(parts[:i])
            first[key] = min(first.get(key, p.order), p.order)
    return first


def _leafish(module: nn.Module) -> bool:
    return not any(True for _ in module.children())


def units_of(module: nn.Module, path: str, probes: dict[str, ModuleProbe]) -> list[Unit]:
    """The blocks of `module` (at `path`) in the order the forward pass first reached them.

    A container whose parts are themselves composite or that the forward pass only reached through
    a slice (``features[:4]``), and a module returning several tensors (an encoder returning its
    features) are opened; identities (hook points) are left out. A block reached through a helper method stays one
    unit (its output: that of its last-called child), and so does a module stitched in
    (``Stitched``), so its mark keeps its host.
    """
    first = _first_order(probes)
    out: list[Unit] = []

    def visit(mod: nn.Module, at: str) -> None:
        kids = [(f"{at}.{n}" if at else n, c) for n, c in mod.named_children()]
        kids = sorted((k for k in kids if k[0] in first), key=lambda k: first[k[0]])
        for p, child in kids:
            probe = probes.get(p)
            called = probe is not None and probe.order is not None
            plain = isinstance(child, _CONTAINERS) and not isinstance(child, Stitched)
            container = plain and any(not _leafish(g) for g in child.children())
            multi_output = called and _is_structured(probe.out_shape)  # an encoder returning its features
            if not isinstance(child, Stitched) and (container or multi_output or (plain and not called)) \
                    and not _leafish(child):
                visit(child, p)
            elif called and not isinstance(child, nn.Identity):  # identities are hook points, not blocks
                out.append(Unit(p, probe.type, probe.in_shape, probe.out_shape, probe.order, child))
            else:  # reached through a helper method (Xception's block2.forward_with_hook): one block
                inner = sorted((q for q in probes if q.startswith(p + ".") and probes[q].order is not None
                                and q.count(".") == p.count(".") + 1), key=lambda q: probes[q].order)
                if inner:
                    out.append(Unit(p, type(child).__name__, probes[inner[0]].in_shape, probes[inner[-1]].out_shape,
                                    first[p], child))

    visit(module, path)
    return sorted(out, key=lambda u: u.order)  # a U-Net's encoder, pooling and decoder blocks interleave


def group_stages(units: list[Unit]) -> list[Stage]:
    """Consecutive units with the same 4-D output shape as stages (other outputs join the stage before)."""
    stages: list[Stage] = []
    for u in units:
        if stages and (not _is_tensor_shape(u.out_shape) or u.out_shape == stages[-1].out_shape):
            stages[-1].units.append(u)
        elif _is_tensor_shape(u.out_shape):
            stages.append(Stage([u]))
    return stages


_SHORT = {"InvertedResidual": "IR", "XceptionBlock": "Xception block", "BatchNorm2d": "BN", "SeparableConv2d": "Sep conv",
          "ReLU": "ReLU", "ReLU6": "ReLU6", "Stitched": "Stitched"}


def short_name(module: nn.Module) -> str:
    """A few characters for a block: ``Conv 3×3/2``, ``IR``, ``BN``, the class name otherwise."""
    if isinstance(module, Stitched):
        return short_name(module.host) if hasattr(module, "host") else "Stitched"
    if isinstance(module, nn.Conv2d):
        k, s = module.kernel_size[0], module.stride[0]
        return f"Conv {k}×{k}" + (f"/{s}" if s > 1 else "")
    if isinstance(module, nn.Sequential) and all(_leafish(c) for c in module.children()):
        conv = next((c for c in module.children() if isinstance(c, nn.Conv2d)), None)
        if conv is not None:
            return short_name(conv)
    name = type(module).__name__
    return _SHORT.get(name, name)


def path_range(paths: list[str], root: str = "") -> str:
    """``features.11–13`` for consecutive numbered siblings, ``a … b`` otherwise (relative to `root`)."""
    rel = [p[len(root) + 1:] if root and p.startswith(root + ".") else p for p in paths]
    if len(rel) == 1:
        return rel[0]
    heads = {r.rpartition(".")[0] for r in rel}
    tails = [r.rpartition(".")[2] for r in rel]
    if len(heads) == 1 and all(t.isdigit() for t in tails):
        head = heads.pop()
        return f"{head + '.' if head else ''}{tails[0]}–{tails[-1]}"
    return f"{rel[0]} … {rel[-1]}"


def _registered_name(module: nn.Module) -> str | None:
    """The attention-module registry's name of `module`'s class (or a base class), else None."""
    from segkit.modules._registry import MODULES

    classes = {MODULES.get(n).cls: n for n in MODULES.names()}
    for cls in type(module).__mro__:
        if cls in classes:
            return classes[cls]
    return "ggca" if type(module).__name__.startswith("GGCA") else None


def find_marks(model: nn.Module, policy_root: str | None = "backbone") -> list[Mark]:
    """Every module stitched into `model`, and the registered attention modules inside `policy_root`
    (one mark each; `merge_marks` merges those of one host)."""
    from segkit.report.names import display_name

    marks: list[Mark] = []
    stitched_paths: list[str] = []
    for path, mod in model.named_modules():
        if isinstance(mod, Stitched):
            stitched_paths.append(path)
            for name, child in mod.named_children():
                if name != "host":
                    marks.append(Mark(f"{path}.{name}", display_name(name), stitched=True))
    if policy_root is not None and hasattr(model, policy_root):
        root = getattr(model, policy_root)
        skip: list[str] = []
        for path, mod in root.named_modules():
            full = f"{policy_root}.{path}" if path else policy_root
            if any(full == s or full.startswith(s + ".") for s in stitched_paths + skip):
                continue
            name = _registered_name(mod) if path else None
            if name is not None:
                marks.append(Mark(full, display_name(name), stitched=False))
                skip.append(full)
    return marks


_INDEXED = re.compile(r"^(.*)\.(\d+)\.([^.]+)$")


def merge_marks(marks: list[Mark]) -> list[Mark]:
    """Merge the marks of one host and name: ``a.11.attn``, ``a.12.attn``, ``a.13.attn`` -> ``a.11–13.attn``."""
    out: list[Mark] = []
    groups: dict[tuple[str, str, str, bool, str], list[int]] = {}
    order: list[tuple[str, str, str, bool, str] | Mark] = []
    for mk in marks:
        m = _INDEXED.match(mk.path)
        if m is None:
            order.append(mk)
            continue
        key = (m.group(1), m.group(3), mk.name, mk.stitched, mk.host)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(int(m.group(2)))
    for item in order:
        if isinstance(item, Mark):
            out.append(item)
            continue
        head, tail, name, stitched, host = item
        for lo, hi in _runs(groups[item]):
            span = f"{lo}" if lo == hi else f"{lo}–{hi}"
            out.append(Mark(f"{head}.{span}.{tail}", name, stitched, host, count=hi - lo + 1))
    return out


def _runs(idx: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted integers: [11, 12, 13, 15] -> [(11, 13), (15, 15)]."""
    runs: list[tuple[int, int]] = []
    for i in sorted(idx):
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs
