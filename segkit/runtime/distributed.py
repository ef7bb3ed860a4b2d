"""DDP plumbing for ``torchrun``: process group, device choice, rank-0 helpers.

``torchrun --nproc_per_node=N script.py`` sets ``RANK``/``LOCAL_RANK``/``WORLD_SIZE``; segkit
then uses NCCL on GPUs and gloo on CPU. A torchrun launch of one process takes the same path
(process group, DDP wrapper, all-reduces), so ``--nproc-per-node 1`` on one GPU checks the
whole multi-GPU code. Without torchrun everything runs in one process and the helpers are no-ops.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from segkit._utils import resolve_device

__all__ = ["DistInfo", "resolve_device", "setup_distributed", "is_main_process", "barrier", "all_reduce_sum", "gather_by_rank", "broadcast_buffers",
           "cleanup"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: rank, local rank, world size, its device and backend."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        """A process group is in use (every torchrun launch, one process included)."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | torch.device = "auto") -> DistInfo:
    """Initialise the process group when launched by torchrun (or WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world <= 1 and "TORCHELASTIC_RUN_ID" not in os.environ:
        return DistInfo(0, 0, 1, dev, None)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), local_rank, dist.get_world_size(), dev, backend)


def is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a few floats over all ranks (identity in one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def gather_by_rank(obj: Any, info: DistInfo) -> dict[str, Any]:
    """Every rank's `obj` keyed by rank ("0", "1", ...): e.g. the RNG states rank 0 stores in last.pt."""
    if not info.distributed:
        return {"0": obj}
    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, obj)
    return {str(i): r for i, r in enumerate(gathered)}


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank `src`'s buffers (BatchNorm statistics) into every rank's `module` (no-op in one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    for buf in module.buffers():
        dist.broadcast(buf, src)


def cleanup() -> None:
    """Destroy the process group if this module's caller created one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
