"""Deterministic, resumable data order shared by every rank.

Each epoch is one permutation of the dataset drawn from ``seed + epoch``. A micro-step consumes
the next ``world_size * batch_size`` entries of it; rank r takes every ``world_size``-th entry
starting at r, so the union over ranks of one micro-step is exactly the batch a single process
with ``world_size * batch_size`` samples would take. The position (epoch, samples consumed) is
saved in checkpoints and restored without replaying data.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableShardedSampler(Sampler[int]):
    """Sharded sampler whose epoch order depends only on ``seed`` and the epoch.

    Args:
        num_samples: Dataset length.
        rank: This process's rank.
        world_size: Number of ranks.
        batch_size: Per-rank micro-batch size.
        seed: Seed of the permutation.
        shuffle: Permute each epoch (training) or keep the dataset order (validation).
        drop_last: Drop the tail that does not fill a whole global micro-batch.
    """

    def __init__(
        self,
        num_samples: int,
        rank: int,
        world_size: int,
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        drop_last: bool = True,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.num_samples = num_samples
        self.rank = rank
        self.world_size = world_size
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch = 0
        self.start = 0

    @property
    def global_micro_batch(self) -> int:
        """Samples consumed by one micro-step over all ranks."""
        return self.world_size * self.batch_size

    @property
    def usable(self) -> int:
        """Samples of an epoch that are served (a multiple of the world size)."""
        if self.drop_last:
            return (self.num_samples // self.global_micro_batch) * self.global_micro_batch
        return (self.num_samples // self.world_size) * self.world_size

    def set_epoch(self, epoch: int, start_micro_step: int = 0) -> None:
        """Selects the epoch and how many micro-steps of it were already consumed."""
        self.epoch = epoch
        self.start = start_micro_step * self.global_micro_batch

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_samples, generator=gen)
        else:
            order = torch.arange(self.num_samples)
        own = order[self.start : self.usable][self.rank :: self.world_size]
        return iter(own.tolist())

    def __len__(self) -> int:
        return max(0, self.usable - self.start) // self.world_size


__all__ = ["ResumableShardedSampler"]
