"""Data-parallel training under ``torchrun``: process group, gradient all-reduce, agreement.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK. Each process steps its own worlds; after every
backward pass the gradients are averaged over processes (one flat all-reduce), so every process
applies the same update to the same parameters. The backend is gloo on the CPU, NCCL on CUDA.
Run alone (no torchrun), everything here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Process:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device_type: str) -> Process:
    """Join the process group if torchrun started us; return this process's place in it."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return Process()
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return Process(rank, world_size, local_rank, local_world_size)


def teardown(process: Process) -> None:
    if process.distributed and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_parameters(module: nn.Module, process: Process) -> None:
    """Make every process start from rank 0's parameters and buffers."""
    if not process.distributed:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def gradient_reducer(module: nn.Module, process: Process) -> Optional[Callable[[], None]]:
    """A function that averages the gradients of ``module`` over processes (None when alone)."""
    if not process.distributed:
        return None
    params = [p for p in module.parameters() if p.requires_grad]

    def reduce() -> None:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= process.world_size
        offset = 0
        for p in params:
            n = p.numel()
            chunk = flat[offset:offset + n].view_as(p)
            if p.grad is None:
                p.grad = chunk.clone()
            else:
                p.grad.copy_(chunk)
            offset += n

    return reduce


def all_sum(tensor: torch.Tensor, process: Process) -> torch.Tensor:
    """Sum of ``tensor`` over processes (a copy; the input is left alone)."""
    out = tensor.clone()
    if process.distributed:
        dist.all_reduce(out)
    return out


def gather_to_main(obj: Any, process: Process) -> Optional[list]:
    """Every process's ``obj`` (tensors moved to the CPU first), as a list on rank 0; None elsewhere."""
    if not process.distributed:
        return [obj]
    objects: Optional[list] = [None] * process.world_size if process.is_main else None
    dist.gather_object(obj, objects, dst=0)
    return objects


def barrier(process: Process) -> None:
    if process.distributed:
        dist.barrier()
