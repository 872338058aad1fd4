"""AdamW with no-decay parameter groups, warmup + cosine schedule, and backbone freezing."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn


def freeze_parameters(model: nn.Module, patterns: Sequence[str], what: str) -> int:
    """Sets ``requires_grad=False`` on parameters whose name contains any of ``patterns``.

    Returns:
        Number of tensors frozen.

    Raises:
        ValueError: No parameter name matched (the patterns do not fit this model).
    """
    count = 0
    for name, param in model.named_parameters():
        if any(p in name for p in patterns):
            param.requires_grad_(False)
            count += 1
    if count == 0:
        raise ValueError(
            f"trainer.freeze.{what}=true but no parameter name contains any of {list(patterns)}"
        )
    return count


def parameter_groups(
    model: nn.Module, weight_decay: float, no_decay_patterns: Sequence[str]
) -> list[dict]:
    """Splits trainable parameters into a decayed group and a no-decay group.

    Biases, norm weights, embeddings (name matches) and every 1-D tensor get no weight decay.

    Raises:
        ValueError: The model has no trainable parameter (everything frozen).
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    lowered = [p.lower() for p in no_decay_patterns]
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or any(p in name.lower() for p in lowered):
            no_decay.append(param)
        else:
            decay.append(param)
    if not decay and not no_decay:
        raise ValueError("no trainable parameters left (check trainer.freeze)")
    groups = [{"params": decay, "weight_decay": weight_decay}]
    groups.append({"params": no_decay, "weight_decay": 0.0})
    return [g for g in groups if g["params"]]


def warmup_cosine(
    warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> Callable[[int], float]:
    """LR multiplier: linear warmup to 1 over ``warmup_steps``, then cosine to ``min_lr_ratio``."""

    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    betas: Sequence[float],
    eps: float,
    no_decay_patterns: Sequence[str],
) -> torch.optim.AdamW:
    """AdamW over :func:`parameter_groups` (plain torch implementation, also used by DeepSpeed)."""
    groups = parameter_groups(model, weight_decay, no_decay_patterns)
    return torch.optim.AdamW(groups, lr=lr, betas=(betas[0], betas[1]), eps=eps)


def build_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-optimizer-step LambdaLR with :func:`warmup_cosine`."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(warmup_steps, total_steps, min_lr_ratio)
    )


__all__ = [
    "build_optimizer",
    "build_scheduler",
    "freeze_parameters",
    "parameter_groups",
    "warmup_cosine",
]
