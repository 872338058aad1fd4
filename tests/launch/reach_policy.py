"""A policy with known output for launch tests: ``python:reach_policy:reach``.

It commands the measured state with the left elbow replaced by ``elbow`` (rad), so a test can
check that commands travel policy -> bridge -> rt/arm_sdk -> simulated robot -> joint states.
"""

from __future__ import annotations

from dataclasses import replace

from vla_lego.inference.types import ActionChunk, Observation
from vla_lego.robot import H1_LAYOUT
from vla_lego.runtime.scripted import HoldPolicy

L_ELBOW = H1_LAYOUT.index("left_elbow_joint")


class ReachPolicy(HoldPolicy):
    """Moves the left elbow to ``elbow`` and holds every other joint where it is measured."""

    def __init__(self, elbow: float = 0.8, horizon: int = 10, dt: float = 0.1) -> None:
        super().__init__(horizon=horizon, dt=dt)
        self.elbow = float(elbow)

    def predict(self, observation: Observation) -> ActionChunk:
        if "head" not in observation.images:
            raise ValueError(f"expected a head image, got {list(observation.images)}")
        chunk = super().predict(observation)
        chunk.actions[:, L_ELBOW] = self.elbow
        return replace(chunk, subtask_text="reach")


def reach(elbow: float = 0.8) -> ReachPolicy:
    """Factory for ``python:reach_policy:reach``."""
    return ReachPolicy(elbow=elbow)


__all__ = ["ReachPolicy", "reach"]
