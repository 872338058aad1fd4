"""A deterministic test policy whose chunks depend on the image, the instruction and the time.

Loaded as ``python:replay_policy:ImageTimePolicy`` (``tests/bags`` on ``PYTHONPATH``). Chunks from
different observations disagree when the image brightness changes, so a replay only reproduces the
recorded commands if it feeds the same frames at the same times through the same runtime.
"""

from __future__ import annotations

import math

import numpy as np

from vla_lego.inference.types import ActionChunk, Observation
from vla_lego.robot import H1_LAYOUT


class ImageTimePolicy:
    """``a_k = mid + half * (0.2 sin(2π f (t_obs + k dt) + φ_j) + gain (brightness - 0.5) + c)``."""

    def __init__(self, horizon: int = 10, dt: float = 0.1, gain: float = 0.4) -> None:
        self.horizon, self.dt, self.gain = horizon, dt, gain
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def predict(self, observation: Observation) -> ActionChunk:
        self.calls += 1
        lo, hi = H1_LAYOUT.lower, H1_LAYOUT.upper
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        view = next(iter(observation.images.values()))
        bright = float(view[..., 0].mean()) / 255.0
        bias = (len(observation.instruction) % 5) / 50.0
        t = observation.timestamp + self.dt * np.arange(self.horizon)
        phase = np.linspace(0.0, math.pi, H1_LAYOUT.dim)
        wave = 0.2 * np.sin(2 * math.pi * 0.3 * t[:, None] + phase)
        a = mid + half * (wave + self.gain * (bright - 0.5) + bias)
        a = np.clip(a, lo, hi).astype(np.float32)
        return ActionChunk(a, self.dt, f"brightness {bright:.2f}", {}, observation.timestamp)
