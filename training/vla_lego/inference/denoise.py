"""The host-side flow-matching sampler: N Euler steps around a backend's one-step function.

Every backend (torch, ONNX Runtime, TensorRT) exposes only "velocity of the action block at time
``t`` given the cached prefix"; integrating from noise (``t = 1``) to actions (``t = 0``) happens
here, once, so that all backends follow exactly the same schedule.

Convention (shared with training): ``x_t = t * noise + (1 - t) * actions`` and the model predicts
``v = noise - actions``, so ``dx/dt = v`` and an Euler step towards ``t = 0`` is
``x <- x - v / N``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

ArrayT = TypeVar("ArrayT")


def euler_timesteps(num_steps: int) -> np.ndarray:
    """Times ``1, 1 - 1/N, ..., 1/N`` at which the velocity is evaluated (float32, ``(N,)``)."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    return (1.0 - np.arange(num_steps, dtype=np.float64) / num_steps).astype(np.float32)


def euler_sample(
    step: Callable[[ArrayT, float], ArrayT],
    noise: ArrayT,
    num_steps: int,
) -> ArrayT:
    """Integrate the flow from ``noise`` at ``t = 1`` to a sample at ``t = 0``.

    Args:
        step: ``step(x_t, t) -> velocity`` with the shape of ``x_t``; ``t`` is a python float.
        noise: Starting point, e.g. ``(B, H, max_action_dim)`` standard normal (numpy or torch).
        num_steps: Number of Euler steps N.

    Returns:
        The sample at ``t = 0`` (normalised, padded actions), same type as ``noise``.
    """
    dt = -1.0 / num_steps
    x = noise
    for t in euler_timesteps(num_steps):
        v = step(x, float(t))
        x = x + dt * v  # type: ignore[operator,assignment]
    return x


__all__ = ["euler_sample", "euler_timesteps"]
