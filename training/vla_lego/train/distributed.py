"""Process-group setup from torchrun or SLURM environment variables.

torchrun sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT``. Under a bare
``srun`` (one task per GPU, no torchrun) the same facts come from ``SLURM_PROCID``/``SLURM_NTASKS``/
``SLURM_LOCALID`` and the first host of ``SLURM_JOB_NODELIST``. Without either, the run is a single
process and no process group is created.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

DEFAULT_MASTER_PORT = 29500


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: Global rank.
        world_size: Number of processes.
        local_rank: Rank on this node (selects the GPU).
        device: torch device this rank computes on.
        backend: ``"nccl"``, ``"gloo"`` or ``"none"`` for a single process.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that logs and writes shared files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a process group spans more than one process."""
        return self.world_size > 1


def _first_slurm_host(nodelist: str) -> str:
    """First host of a SLURM node list such as ``gilbreth-a[001-004,010]`` (no scontrol needed)."""
    try:
        out = subprocess.run(
            ["scontrol", "show", "hostnames", nodelist],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split()
        if out:
            return out[0]
    except (OSError, subprocess.SubprocessError):
        pass
    match = re.match(r"^([^\[,]+)(?:\[([^\],-]+))?", nodelist)
    if not match:
        raise ValueError(f"cannot parse SLURM node list {nodelist!r}")
    return match.group(1) + (match.group(2) or "")


def env_rank_info(env: MutableMapping[str, str] | None = None) -> tuple[int, int, int]:
    """Returns ``(rank, world_size, local_rank)`` from torchrun or SLURM variables.

    When only SLURM variables are present, ``MASTER_ADDR``/``MASTER_PORT`` are filled in so that
    ``init_process_group(init_method="env://")`` works.
    """
    if env is None:
        env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0"))
    if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        rank, world = int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"])
        local = int(env.get("SLURM_LOCALID", "0"))
        if "MASTER_ADDR" not in env:
            env["MASTER_ADDR"] = _first_slurm_host(env["SLURM_JOB_NODELIST"])
        env.setdefault("MASTER_PORT", str(DEFAULT_MASTER_PORT))
        env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"] = str(rank), str(world), str(local)
        return rank, world, local
    return 0, 1, 0


def select_device(requested: str, local_rank: int) -> torch.device:
    """Maps ``auto``/``cpu``/``cuda`` to the device of this rank.

    Raises:
        ValueError: ``cuda`` requested where no GPU is visible, or an unknown name.
    """
    if requested not in ("auto", "cpu", "cuda"):
        raise ValueError(f"cluster.device must be auto, cpu or cuda, got {requested!r}")
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        raise ValueError("cluster.device=cuda but torch sees no CUDA GPU")
    if requested == "cpu" or not has_cuda:
        return torch.device("cpu")
    index = local_rank % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def init_distributed(
    device: str, dist_backend: str, timeout_minutes: float, single_group: bool = False
) -> DistInfo:
    """Reads the launch environment, picks the device and joins the process group.

    Args:
        device: ``auto``, ``cpu`` or ``cuda``.
        dist_backend: ``auto`` (NCCL on GPU, gloo on CPU), ``nccl`` or ``gloo``.
        timeout_minutes: Collective timeout.
        single_group: Create a one-process group when not launched distributed (DeepSpeed
            needs a process group even for one rank).
    """
    rank, world, local = env_rank_info()
    dev = select_device(device, local)
    if world <= 1 and not single_group:
        return DistInfo(0, 1, 0, dev, "none")
    if world <= 1:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    backend = dist_backend
    if backend == "auto":
        backend = "nccl" if dev.type == "cuda" else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"cluster.dist_backend must be auto, nccl or gloo, got {dist_backend!r}")
    if backend == "nccl" and dev.type != "cuda":
        raise ValueError("cluster.dist_backend=nccl needs CUDA devices; use gloo on CPU")
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend,
            init_method="env://",
            rank=rank,
            world_size=world,
            timeout=timedelta(minutes=timeout_minutes),
            device_id=dev if dev.type == "cuda" else None,
        )
    return DistInfo(rank, max(world, 1), local, dev, backend)


def barrier(info: DistInfo) -> None:
    """Waits for every rank (no-op for a single process)."""
    if info.distributed and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(value: float, info: DistInfo) -> float:
    """Mean of a Python float over ranks (the float itself for a single process)."""
    if not (info.distributed and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True when ``flag`` is true on at least one rank (so every rank takes the same branch)."""
    if not (info.distributed and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def shutdown_distributed() -> None:
    """Leaves the process group if one was created."""
    if dist.is_initialized():
        dist.destroy_process_group()


__all__ = [
    "DistInfo",
    "all_reduce_mean",
    "any_rank",
    "barrier",
    "env_rank_info",
    "init_distributed",
    "select_device",
    "shutdown_distributed",
]
