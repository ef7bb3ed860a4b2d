"""FLOPs of one forward pass, counted by ``torch.utils.flop_counter`` (FLOPs = 2 x MACs)."""
from __future__ import annotations

import contextlib
import copy
import itertools
from typing import Iterator, Sequence

import torch
import torch.nn as nn

from segkit._utils import eval_mode
from segkit.bench.environment import _check_shape

__all__ = ["count_flops", "FLOPS_CONVENTION"]

FLOPS_CONVENTION = (
    "FLOPs = 2 x MACs, counted by torch.utils.flop_counter.FlopCounterMode "
    "(conv, linear, matmul; element-wise ops not counted)"
)


def count_flops(
    model: nn.Module,
    input_shape: Sequence[int] = (1, 3, 512, 512),
    device: str | torch.device = "auto",
) -> tuple[int, dict[str, int], str]:
    """FLOPs of one eval-mode forward pass (FLOPs = 2 x MACs), with a per-child breakdown.

    Args:
        model: the network, never modified: counted in place (eval mode, its training flags
            restored) on its own device, on a deep copy elsewhere.
        input_shape: (B, C, H, W) of the input.
        device: where to run the counting pass. ``"meta"`` runs on shape-only tensors,
            costing no compute (a model that cannot run on meta tensors falls back to the
            CPU); ``"auto"`` (default) uses meta above 256x256 pixels per batch and the CPU
            up to that, where real kernels are as fast as meta's shape functions.

    Returns:
        (total FLOPs, {top-level child name: FLOPs, "(other)": the rest, if any}, device used).
    """
    from torch.utils.flop_counter import FlopCounterMode

    shape = _check_shape(input_shape)

    def run(dev: torch.device) -> tuple[int, dict[str, int]]:
        x = torch.rand(shape, device=dev) if dev.type != "meta" else torch.empty(shape, device=dev)
        counter = FlopCounterMode(display=False)
        with _on(model, dev) as m, counter:
            m(x)
        root = type(m).__name__
        by_child: dict[str, int] = {}
        for key, ops in counter.get_flop_counts().items():
            # keys are "Root.child.grandchild"; keep the direct children of the root
            parts = key.split(".")
            if len(parts) == 2 and parts[0] == root:
                by_child[parts[1]] = int(sum(ops.values()))
        total = int(counter.get_total_flops())
        rest = total - sum(by_child.values())
        if by_child and rest > 0:  # ops outside direct children (functional code, sliced Sequentials)
            by_child["(other)"] = rest
        return total, by_child

    if str(device) == "auto":
        device = "meta" if shape[0] * shape[2] * shape[3] > 256 * 256 else "cpu"
    dev = torch.device(device)
    if dev.type == "meta":
        try:
            total, by_child = run(dev)
            return total, by_child, "meta"
        except Exception:  # data-dependent code or tensors created on the CPU in forward
            dev = torch.device("cpu")
    total, by_child = run(dev)
    return total, by_child, str(dev)


@contextlib.contextmanager
def _on(model: nn.Module, dev: torch.device) -> Iterator[nn.Module]:
    """`model` in eval mode without autograd on `dev`: itself when it is there already (a deep copy
    of a large model cost as much as the count), otherwise a copy moved there."""
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)  # a buffer-only model has a device too
    if tensor is None or tensor.device == dev:
        with eval_mode(model) as m:
            yield m
    else:
        with torch.no_grad():
            yield copy.deepcopy(model).eval().to(dev)
