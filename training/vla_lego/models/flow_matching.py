"""Flow-matching maths, stateless: time sampling, interpolation, target, Euler step, time embedding.

Convention (pi0 / EO-1): ``t = 1`` is pure noise and ``t = 0`` the data. Training interpolates
``x_t = t * noise + (1 - t) * actions`` and regresses the velocity ``u = noise - actions``;
sampling integrates ``dx/dt = v(x_t, t)`` from ``t = 1`` to ``t = 0`` with ``N`` Euler steps.
"""

from __future__ import annotations

import math

import torch


def sample_time(
    batch_size: int,
    alpha: float = 1.5,
    beta: float = 1.0,
    time_min: float = 0.001,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``t = time_min + (1 - time_min) * Beta(alpha, beta)``, shape ``[B]`` float32, in (0, 1).

    Beta(1.5, 1) puts more mass near ``t = 1`` (noisy end), where the velocity is hardest.
    ``generator`` (if given) seeds the draw without touching the global RNG.
    """
    dist = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(beta)))
    if generator is None:
        raw = dist.sample((batch_size,))
    else:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            raw = dist.sample((batch_size,))
    return (time_min + (1.0 - time_min) * raw).to(device=device, dtype=torch.float32)


def interpolate(actions: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``x_t = t * noise + (1 - t) * actions``; ``t`` is ``[B]``, the others ``[B, H, D]``."""
    tt = t.view(-1, *([1] * (actions.dim() - 1)))
    return tt * noise + (1.0 - tt) * actions


def target_velocity(actions: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Velocity the model regresses: ``noise - actions`` (``d x_t / d t``)."""
    return noise - actions


def masked_mse(
    pred: torch.Tensor, target: torch.Tensor, dim_mask: torch.Tensor, time_is_pad: torch.Tensor
) -> torch.Tensor:
    """Mean squared error over real entries only.

    Args:
        pred: ``[B, H, D]``.
        target: ``[B, H, D]``.
        dim_mask: ``[D]`` or ``[B, D]`` bool, True for real action dims (not padding to max dim).
        time_is_pad: ``[B, H]`` bool, True past the end of the episode.
    """
    if dim_mask.dim() == 1:
        dim_mask = dim_mask.unsqueeze(0)
    mask = (~time_is_pad).unsqueeze(-1) & dim_mask.unsqueeze(1)
    mask = mask.to(pred.dtype)
    sq = (pred - target) ** 2 * mask
    return sq.sum() / mask.sum().clamp_min(1.0)


def euler_step(x_t: torch.Tensor, velocity: torch.Tensor, dt: float) -> torch.Tensor:
    """One Euler step ``x_{t+dt} = x_t + dt * v``; ``dt`` is negative when going to the data."""
    return x_t + dt * velocity


def euler_times(num_steps: int) -> list[float]:
    """Times at which the velocity is evaluated: ``1, 1 - 1/N, ..., 1/N``."""
    if num_steps <= 0:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    return [1.0 - k / num_steps for k in range(num_steps)]


def sinusoidal_time_embedding(
    t: torch.Tensor, dim: int, min_period: float = 4e-3, max_period: float = 4.0
) -> torch.Tensor:
    """Sin/cos embedding of scalar times ``t`` ``[B]`` -> ``[B, dim]`` (``dim`` even).

    Periods are spaced geometrically between ``min_period`` and ``max_period`` so that times in
    [0, 1] are resolved finely.
    """
    if dim % 2:
        raise ValueError(f"time embedding dim must be even, got {dim}")
    # float32 throughout: ONNX / TensorRT graphs of the denoise step avoid float64.
    frac = torch.linspace(0.0, 1.0, dim // 2, dtype=torch.float32, device=t.device)
    period = min_period * (max_period / min_period) ** frac
    angle = t.to(torch.float32).unsqueeze(-1) * (2.0 * math.pi / period).unsqueeze(0)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)


__all__ = [
    "euler_step",
    "euler_times",
    "interpolate",
    "masked_mse",
    "sample_time",
    "sinusoidal_time_embedding",
    "target_velocity",
]
