"""A policy with known output for launch tests: ``python:reach_policy:reach``.

It commands the measured state with the left elbow replaced by ``elbow`` (rad), so a test can
check that commands travel policy -> bridge -> rt/arm_sdk -> simulated robot -> joint states.
"""

from __future__ import annotations

import numpy as np

from vla_lego.inference.types import ActionChunk, Observation
from vla_lego.robot import H1_LAYOUT

L_ELBOW = H1_LAYOUT.index("left_elbow_joint")


class ReachPolicy:
    """Moves the left elbow to ``elbow`` and holds every other joint where it is measured."""

    def __init__(self, elbow: float = 0.8, horizon: int = 10, dt: float = 0.1) -> None:
        self.elbow, self.horizon, self.dt = float(elbow), int(horizon), float(dt)
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def predict(self, observation: Observation) -> ActionChunk:
        if "head" not in observation.images:
            raise ValueError(f"expected a head image, got {list(observation.images)}")
        target = H1_LAYOUT.clip(np.asarray(observation.state, dtype=np.float64))
        target[L_ELBOW] = self.elbow
        self.calls += 1
        return ActionChunk(
            actions=np.repeat(target[None].astype(np.float32), self.horizon, axis=0),
            dt=self.dt,
            subtask_text="reach",
            timings={"total": 0.0},
            observation_time=observation.timestamp,
        )


def reach(elbow: float = 0.8) -> ReachPolicy:
    """Factory for ``python:reach_policy:reach``."""
    return ReachPolicy(elbow=elbow)


__all__ = ["ReachPolicy", "reach"]
