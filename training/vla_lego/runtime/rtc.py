"""Real-time chunking (Black, Galliker, Levine 2025): what the next chunk has to continue.

While a chunk is computed the robot keeps executing the current plan, so the first actions of the
next chunk are decided before it exists: those with times before its expected arrival, ``d`` steps
of the chunk. :func:`rtc_guidance` freezes them to the plan (weight 1), pulls the rest of the
overlap with the plan towards it with the paper's exponentially decaying soft mask, and leaves the
steps after the plan's end free; the policy's guided sampler
(:func:`vla_lego.inference.denoise.inpaint`) generates a chunk consistent with them.

The paper's guidance differentiates through the denoiser (vector-Jacobian products per step); the
sampler here inpaints without gradients, so the same host loop drives torch, ONNX Runtime and
TensorRT sessions (an exported graph has no backward pass).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vla_lego.inference.types import ActionGuidance
from vla_lego.runtime.scheduler import ChunkScheduler


@dataclass(frozen=True)
class RtcRequest:
    """Guidance for the next chunk and how it was sized.

    Attributes:
        guidance: The actions and weights (None: nothing to continue, sample freely).
        frozen: ``d``, steps reproduced exactly (executed before the chunk can arrive).
        overlap: Steps of the next chunk that the current plan covers.
        warning: Non-empty when the delay could not be honoured (see :func:`rtc_guidance`).
    """

    guidance: ActionGuidance | None
    frozen: int
    overlap: int
    warning: str = ""


def soft_weights(overlap: int, frozen: int) -> np.ndarray:
    """The paper's guidance weights over the overlap, ``(overlap,)``.

    1 for the ``frozen`` steps, then ``c (e^c - 1) / (e - 1)`` with
    ``c = (overlap - i) / (overlap - frozen + 1)``, decaying towards 0 at the plan's end.
    """
    if not 0 <= frozen <= overlap:
        raise ValueError(f"frozen steps must be in [0, overlap={overlap}], got {frozen}")
    i = np.arange(overlap, dtype=np.float64)
    c = (overlap - i) / (overlap - frozen + 1)
    soft = c * np.expm1(c) / math.expm1(1.0)
    return np.where(i < frozen, 1.0, soft)


def rtc_guidance(scheduler: ChunkScheduler, observation_time: float, delay: float) -> RtcRequest:
    """What a chunk observed at ``observation_time`` and arriving ``delay`` s later continues.

    The step spacing and horizon are the current chunk's (the same policy makes the next one).

    Args:
        scheduler: The scheduler whose plan the robot is executing.
        observation_time: Stamp of the observation the next chunk is computed from.
        delay: Expected seconds from ``observation_time`` to the chunk's arrival.

    Returns:
        The request; without a chunk in control (a hold, or the plan already ran out) its
        guidance is None. A delay that covers the whole chunk is capped to one step less than
        the horizon and says so in ``warning``: such a chunk arrives with every action in the
        past, and the scheduler rejects it rather than execute stale actions.

    Raises:
        ValueError: ``delay`` is negative or not finite.
    """
    if not (math.isfinite(delay) and delay >= 0.0):
        raise ValueError(f"rtc delay must be a finite number of seconds >= 0, got {delay}")
    plan = scheduler.current_plan()
    if plan is None:
        return RtcRequest(None, 0, 0)
    steps = np.arange(plan.horizon)
    times = observation_time + steps * plan.dt
    overlap = int(np.count_nonzero(times <= plan.t_end + 1e-9))
    if overlap == 0:
        return RtcRequest(None, 0, 0)
    frozen, warning = math.ceil(delay / plan.dt - 1e-9), ""
    if frozen >= plan.horizon:
        warning = (
            f"rtc: expected delay {delay:.3f} s covers the whole chunk ({plan.horizon} steps of "
            f"{plan.dt:.3f} s); freezing {plan.horizon - 1} steps"
        )
        frozen = plan.horizon - 1
    frozen = min(frozen, overlap)
    actions = scheduler.preview(times[:overlap])
    return RtcRequest(
        ActionGuidance(actions, soft_weights(overlap, frozen)), frozen, overlap, warning
    )


__all__ = ["RtcRequest", "rtc_guidance", "soft_weights"]
