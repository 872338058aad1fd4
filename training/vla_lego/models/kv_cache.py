"""Per-layer key/value caches as the graphs pass them: flat ``[key_0, value_0, key_1, ...]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

KV = tuple[tuple[torch.Tensor, torch.Tensor], ...]


def kv_pairs(flat: Sequence[Any]) -> KV:
    """``[key_0, value_0, key_1, ...]`` (the graphs' flat inputs) -> per-layer (key, value)."""
    return tuple((flat[i], flat[i + 1]) for i in range(0, len(flat), 2))


def kv_flat(kv: KV) -> tuple[torch.Tensor, ...]:
    """Per-layer (key, value) -> ``(key_0, value_0, key_1, ...)``."""
    return tuple(t for pair in kv for t in pair)


__all__ = ["KV", "kv_flat", "kv_pairs"]
