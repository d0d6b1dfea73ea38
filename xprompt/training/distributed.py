"""Data-parallel training under a standard launcher (torchrun, accelerate launch).

The launcher sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; with
WORLD_SIZE > 1 every train/adapt cell is trained by all processes in lockstep (each
takes its slice of every batch, gradients are averaged), and everything else (cache,
other stages, outputs) is done by rank 0. Without those variables nothing here runs."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Non-zero ranks wait in a collective while rank 0 alone computes other cells
# (an evaluation of a large test set), so the default 30-minute timeout is too short.
TIMEOUT = timedelta(minutes=float(os.environ.get("XPROMPT_DIST_TIMEOUT_MIN", 24 * 60)))


def is_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    return int(os.environ.get("RANK", "0")) if is_distributed() else 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def setup() -> None:
    """Join the process group once (nccl on GPUs, else gloo); a no-op in a single process."""
    if not is_distributed():
        return
    import torch

    if torch.distributed.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # "auto"/"cuda" now mean this GPU
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    torch.distributed.init_process_group(backend, timeout=TIMEOUT)


def teardown(finished: bool = True) -> None:
    """Leave the process group before exiting: a gloo group still alive at interpreter exit can
    abort the process ("terminate called without an active exception"). After a normal finish
    every rank first waits for the others (rank 0 writes the outputs); after an error it does not,
    since the other ranks may be inside a different collective."""
    if not is_distributed():
        return
    import torch

    if not torch.distributed.is_initialized():
        return
    if finished:
        torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        import torch
        torch.distributed.barrier()


def broadcast(obj=None):
    """Rank 0's `obj` on every rank (any picklable object)."""
    if not is_distributed():
        return obj
    import torch

    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def data_parallel(method: "torch.nn.Module") -> "torch.nn.Module":
    """`method` wrapped in DistributedDataParallel when the process group is up (rank 0's trainable
    weights are broadcast at construction; gradients are averaged over ranks in backward), else itself."""
    if not is_distributed():
        return method
    import torch

    if not torch.distributed.is_initialized():
        return method
    device = next(method.parameters()).device
    # find_unused_parameters: a method may hold trainable tensors a batch does not reach
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(method, device_ids=device_ids, find_unused_parameters=True)


def sum_over_ranks(value: "torch.Tensor") -> "torch.Tensor":
    """`value` summed over every rank (itself in a single process)."""
    if not is_distributed():
        return value
    import torch

    if torch.distributed.is_initialized():
        value = value.clone()
        torch.distributed.all_reduce(value)
    return value
