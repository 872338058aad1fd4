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


def inpaint(
    x: np.ndarray, t: float, noise: np.ndarray, target: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Pull the first ``K`` steps of ``x_t`` towards where ``target`` lies on its noise path.

    On the flow's straight path a sample ``a`` sits at ``t * noise + (1 - t) * a`` at time ``t``;
    the guided steps are moved there by ``weights`` (1: exactly, 0: untouched). Gradient-free (no
    backward pass through the denoiser), so every backend, ONNX Runtime and TensorRT included, can
    do it in the shared host loop.

    Args:
        x: ``(1, H, D)`` current sample at time ``t``.
        t: Its flow time.
        noise: ``(1, H, D)`` the noise the sampler started from.
        target: ``(1, K, D)`` guided actions, model units, K <= H.
        weights: ``(K,)`` in [0, 1].
    """
    k = target.shape[1]
    w = np.asarray(weights, np.float32)[None, :, None]
    out = np.array(x, dtype=np.float32, copy=True)
    on_path = t * noise[:, :k] + (1.0 - t) * target
    out[:, :k] = w * on_path + (1.0 - w) * out[:, :k]
    return out


def euler_sample(
    step: Callable[[ArrayT, float], ArrayT],
    noise: ArrayT,
    num_steps: int,
    guide: Callable[[ArrayT, float], ArrayT] | None = None,
) -> ArrayT:
    """Integrate the flow from ``noise`` at ``t = 1`` to a sample at ``t = 0``.

    Args:
        step: ``step(x_t, t) -> velocity`` with the shape of ``x_t``; ``t`` is a python float.
        noise: Starting point, e.g. ``(B, H, max_action_dim)`` standard normal (numpy or torch).
        num_steps: Number of Euler steps N.
        guide: ``guide(x_t, t) -> x_t`` applied after every step (and to the noise at ``t = 1``),
            e.g. :func:`inpaint` for real-time chunking.

    Returns:
        The sample at ``t = 0`` (normalised, padded actions), same type as ``noise``.
    """
    dt = -1.0 / num_steps
    x: Any = noise if guide is None else guide(noise, 1.0)
    for t in fm.euler_times(num_steps):
        v: Any = step(x, float(t))
        x = fm.euler_step(x, v, dt)
        if guide is not None:
            x = guide(x, max(0.0, float(t) + dt))
    return x  # type: ignore[no-any-return]


__all__ = ["euler_sample", "euler_timesteps", "inpaint"]
