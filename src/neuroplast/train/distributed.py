"""Data-parallel training on several processes or machines with ``torch.distributed``.

Started by ``torchrun``, which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous
address in each worker's environment::

    torchrun --nproc_per_node 2 -m neuroplast run mnist-cnn                      # one machine
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 4 \\
        --rdzv_backend c10d --rdzv_endpoint HOST:29500 -m neuroplast run mnist-cnn  # each machine

Every rank holds the whole (in-memory) dataset and shuffles it with the same seeded generator; each
takes its own slice of every global batch (``train.batch_size`` is the *global* batch), and
``DistributedDataParallel`` averages the gradients, so N ranks take the same steps as one process
with the same global batch. The training loss is summed across ranks; validation runs on every rank
on identical weights. Only rank 0 writes the run folder and checkpoints. Batch-norm statistics are
per rank (each sees batch_size / N samples), as in plain DDP.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside distributed training."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True on rank 0 (and in a single process): the one that writes files and prints."""
    return world()[0] == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_env(device: str = "auto") -> bool:
    """Join the process group ``torchrun`` describes (NCCL on CUDA, gloo on the CPU); False when
    this is a single process. Each CUDA rank uses the GPU ``LOCAL_RANK``."""
    if not launched_by_torchrun() or not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return True


def local_device(device: torch.device) -> torch.device:
    """This rank's CUDA device (``cuda:LOCAL_RANK``) when training on CUDA in a process group."""
    if device.type == "cuda" and world()[1] > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over the ranks, in place (a no-op in a single process)."""
    if world()[1] > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def shutdown(exit_code: int = 0) -> None:
    """Leave the process group and end the worker.

    Measured on gloo: about one worker in twelve aborted at interpreter exit ("terminate called
    without an active exception") unless it left the group, flushed and ended with ``os._exit``.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)
