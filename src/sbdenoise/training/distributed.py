"""Several processes, one training: DistributedDataParallel under torchrun (or spawned).

Run the usual command under torchrun to train on several GPUs (or CPU processes, or nodes)::

    torchrun --nproc_per_node=4 -m sbdenoise train DATASET -o MODEL [options]

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and the rendezvous address); the process
group uses NCCL when CUDA is present and gloo otherwise. Each process draws its own crops and
noise (the data seed includes the rank), gradients are averaged by DistributedDataParallel, and
only rank 0 writes the log, the checkpoints and the model file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistributedContext:
    """Where this process stands in a (possibly one-process) training.

    Attributes
    ----------
    rank : int
        Global rank (0 on a single process).
    world_size : int
        Number of processes.
    local_rank : int
        Rank on this node (selects the GPU).
    device : torch.device
        Device this process trains on.
    backend : str or None
        ``"nccl"`` or ``"gloo"`` when a process group was created, None otherwise.
    owns_group : bool
        True when this context created the process group (and destroys it in :meth:`close`).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """True on the process that writes files (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait for every process (no-op on one process)."""
        if self.distributed:
            dist.barrier()

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Sum numbers over processes (float64; identical result on every rank)."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self._collective_device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.cpu().tolist()

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Copy rank 0's buffers (batch-norm running statistics) to every process.

        DistributedDataParallel keeps parameters identical but each process updates its own
        running statistics during its forward passes; evaluation and saving use rank 0's.
        """
        if not self.distributed:
            return
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)

    def close(self) -> None:
        """Destroy the process group if this context created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False

    @property
    def _collective_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def describe(self) -> str:
        """One line: device, threads and processes."""
        if self.device.type == "cuda":
            where = f"CUDA ({torch.cuda.get_device_name(self.device)})"
        else:
            threads = torch.get_num_threads()
            where = f"CPU ({threads} thread{'s' if threads > 1 else ''} per process)"
        processes = f", {self.world_size} processes ({self.backend})" if self.distributed else ""
        return f"training on {where}{processes}"


def select_device(local_rank: int = 0, device: str | None = None) -> torch.device:
    """CUDA device ``local_rank`` when CUDA is available, else the CPU (or ``device`` if given)."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(
    rank: int | None = None,
    *,
    world_size: int | None = None,
    init_method: str | None = None,
    device: str | None = None,
) -> DistributedContext:
    """Join the process group when running under torchrun (or when told the rank and size).

    Parameters
    ----------
    rank, world_size : int, optional
        Rank and number of processes; default from the ``RANK`` and ``WORLD_SIZE`` environment
        variables that torchrun sets (absent: a single process, no process group).
    init_method : str, optional
        Rendezvous URL (``"file:///tmp/x"``, ``"tcp://host:port"``); default ``"env://"``.
    device : str, optional
        Force a device (``"cpu"``, ``"cuda:1"``); default CUDA when available.

    Returns
    -------
    DistributedContext
        With ``owns_group`` set when a process group was created here.
    """
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    chosen = select_device(local_rank, device)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if world_size <= 1:
        return DistributedContext(0, 1, 0, chosen)
    backend = "nccl" if chosen.type == "cuda" else "gloo"
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend,
            init_method=init_method or "env://",
            rank=rank,
            world_size=world_size,
        )
        owns = True
    return DistributedContext(rank, world_size, local_rank, chosen, backend, owns)


def wrap_model(module: nn.Module, context: DistributedContext) -> nn.Module:
    """Wrap ``module`` in DistributedDataParallel when several processes train (else return it)."""
    if not context.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)
