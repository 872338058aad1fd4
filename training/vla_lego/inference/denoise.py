"""The host-side flow-matching sampler: N Euler steps around a backend's one-step function.

Every backend (torch, ONNX Runtime, TensorRT) exposes only "velocity of the action block at time
``t`` given the cached prefix"; integrating from noise (``t = 1``) to actions (``t = 0``) happens
here, once, with the schedule and update of :mod:`vla_lego.models.flow_matching` (the maths the
model is trained with), so every backend follows exactly the same steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from vla_lego.models import flow_matching as fm

ArrayT = TypeVar("ArrayT")


def euler_timesteps(num_steps: int) -> np.ndarray:
    """Times ``1, 1 - 1/N, ..., 1/N`` at which the velocity is evaluated (float32, ``(N,)``)."""
    return np.asarray(fm.euler_times(num_steps), dtype=np.float32)


def euler_sample(step: Callable[[ArrayT, float], ArrayT], noise: ArrayT, num_steps: int) -> ArrayT:
    """Integrate the flow from ``noise`` at ``t = 1`` to a sample at ``t = 0``.

    Args:
        step: ``step(x_t, t) -> velocity`` with the shape of ``x_t``; ``t`` is a python float.
        noise: Starting point, e.g. ``(B, H, max_action_dim)`` standard normal (numpy or torch).
        num_steps: Number of Euler steps N.

    Returns:
        The sample at ``t = 0`` (normalised, padded actions), same type as ``noise``.
    """
    dt = -1.0 / num_steps
    x: Any = noise
    for t in fm.euler_times(num_steps):
        v: Any = step(x, float(t))
        x = fm.euler_step(x, v, dt)
    return x  # type: ignore[no-any-return]


__all__ = ["euler_sample", "euler_timesteps"]
