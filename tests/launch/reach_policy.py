"""Policies with known output for launch tests: ``python:reach_policy:reach`` and ``:swing``.

``reach`` commands the measured state with the left elbow replaced by ``elbow`` (rad), so a test
can check that commands travel policy -> bridge -> rt/arm_sdk -> simulated robot -> joint states.
``swing`` keeps the left elbow moving (a sine in observation time), for tests that need the arm
in motion at a given moment.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

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


class SwingPolicy(HoldPolicy):
    """Swings the left elbow: ``mid + amplitude * sin(2 pi t / period)`` at observation time t."""

    def __init__(
        self,
        mid: float = 1.15,
        amplitude: float = 0.35,
        period: float = 2.0,
        horizon: int = 10,
        dt: float = 0.1,
    ) -> None:
        super().__init__(horizon=horizon, dt=dt)
        self.mid, self.amplitude, self.period = float(mid), float(amplitude), float(period)

    def predict(self, observation: Observation) -> ActionChunk:
        chunk = super().predict(observation)
        t = observation.timestamp + self.dt * np.arange(chunk.horizon)
        chunk.actions[:, L_ELBOW] = self.mid + self.amplitude * np.sin(
            2 * math.pi * t / self.period
        )
        return replace(chunk, subtask_text="swing")


def reach(elbow: float = 0.8) -> ReachPolicy:
    """Factory for ``python:reach_policy:reach``."""
    return ReachPolicy(elbow=elbow)


def swing() -> SwingPolicy:
    """Factory for ``python:reach_policy:swing``."""
    return SwingPolicy()


__all__ = ["ReachPolicy", "SwingPolicy", "reach", "swing"]
