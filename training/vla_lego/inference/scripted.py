"""Scripted policies with known output, loadable as ``python:vla_lego.inference.scripted:hold``.

They implement the same :class:`~vla_lego.inference.types.Policy` protocol as the learned
backends, so the ROS node, the sim evaluator and tests can run the whole stack with a policy whose
commands are known in advance.
"""

from __future__ import annotations

import time

import numpy as np

from vla_lego.inference.types import ActionChunk, Observation
from vla_lego.robot import H1_LAYOUT, ActionLayout


class HoldPolicy:
    """Commands the measured state (clipped to the joint limits) for ``horizon`` steps.

    Args:
        horizon: Number of actions per chunk (>= 1).
        dt: Seconds between actions (> 0).
        layout: Robot layout the state is given in.
    """

    def __init__(self, horizon: int = 50, dt: float = 0.1, layout: ActionLayout = H1_LAYOUT):
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        if not dt > 0:
            raise ValueError(f"dt must be > 0, got {dt}")
        self.horizon = int(horizon)
        self.dt = float(dt)
        self.layout = layout
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def predict(self, observation: Observation) -> ActionChunk:
        t0 = time.perf_counter()
        state = np.asarray(observation.state, dtype=np.float64)
        if state.shape != (self.layout.dim,) or not np.all(np.isfinite(state)):
            raise ValueError(
                f"state must be finite with shape ({self.layout.dim},), got shape {state.shape}"
            )
        target = self.layout.clip(state).astype(np.float32)
        self.calls += 1
        return ActionChunk(
            actions=np.repeat(target[None], self.horizon, axis=0),
            dt=self.dt,
            subtask_text="hold",
            timings={"total": (time.perf_counter() - t0) * 1e3},
            observation_time=observation.timestamp,
        )


def hold(horizon: int = 50, dt: float = 0.1) -> HoldPolicy:
    """Factory for ``python:vla_lego.inference.scripted:hold``."""
    return HoldPolicy(horizon=horizon, dt=dt)


__all__ = ["HoldPolicy", "hold"]
