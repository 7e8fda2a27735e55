"""DistributedDataParallel helpers: the process group that torchrun describes, and collectives.

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT in every process it
starts. Without a process group every helper acts as the only rank, so the same training code
runs in one process or many.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from retention.errors import ConfigurationError

logger = logging.getLogger(__name__)

BACKENDS = ("gloo", "nccl")


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def training_device() -> torch.device:
    """Return this process's GPU (cuda:LOCAL_RANK) when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def init_process_group(backend: str | None = None) -> None:
    """Join the process group described by torchrun's environment variables.

    The backend defaults to NCCL on CUDA and gloo on the CPU; gloo also runs on CUDA tensors.
    """
    missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise ConfigurationError(
            f"Environment variable(s) {missing} are not set, so this process was not started by torchrun. "
            "Start it with `python -m torch.distributed.run --standalone --nproc_per_node=N -m training.ddp_train ...`."
        )
    # NOTE: only gloo on CPU processes has been run; NCCL on GPUs is untested here.
    chosen = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if chosen not in BACKENDS:
        raise ConfigurationError(f"Unknown distributed backend {chosen!r}. Use one of: {', '.join(BACKENDS)}.")
    device = training_device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=chosen)
    logger.info("Joined the %s process group as rank %d of %d on %s", chosen, rank(), world_size(), device)


def destroy_process_group() -> None:
    if is_distributed():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Wrap `model` in DistributedDataParallel inside a process group; return it unchanged otherwise.

    DDP copies rank 0's parameters to every rank here and averages gradients in backward().
    """
    if not is_distributed():
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def unwrap_model(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def sum_across_ranks(values: list[float], device: torch.device) -> list[float]:
    """Return the element-wise sum of `values` over all ranks, the same on every rank."""
    if not is_distributed():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    # Early stopping branches on these sums, so every rank takes rank 0's bits to branch alike.
    dist.broadcast(tensor, src=0)
    return tensor.tolist()


def broadcast_object(value: Any) -> Any:
    """Return rank 0's `value` on every rank; `value` must be picklable."""
    if not is_distributed():
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier() -> None:
    if is_distributed():
        dist.barrier()
