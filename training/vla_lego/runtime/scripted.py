"""Policies with known output, for tests, benchmarks, baselines and smoke runs of the stack.

They implement the :class:`~vla_lego.inference.types.Policy` protocol and load through
``load_policy_from_spec("python:vla_lego.runtime.scripted:SinePolicy")`` (a class or factory:
``SinePolicy``, ``hold``, ``zero_policy``; or a mapping with ``factory`` and ``kwargs``). Their
output is a closed-form function of time and state, so a test can compute exactly what the robot
should be commanded.
"""

from __future__ import annotations

import math
import time

import numpy as np

from vla_lego.inference.types import ActionChunk, Observation
from vla_lego.robot import H1_LAYOUT, ActionLayout


class SinePolicy:
    """Each joint follows ``mid + amp * sin(2π f t + phase_j)`` in absolute time ``t``.

    The chunk computed from an observation stamped ``t_obs`` holds that curve at
    ``t_obs + k * dt``. Optionally every chunk is shifted by ``chunk_offset`` with alternating sign
    (chunks then disagree, which exercises blending), inference is slowed down, or fails.

    Args:
        horizon: Actions per chunk.
        dt: Seconds between actions (1 / dataset fps).
        frequency: Hz of the sine.
        amplitude: Fraction of each joint's half range (0..1).
        chunk_offset: Fraction of each joint's half range added as ``(-1)^n * offset`` to chunk n.
        latency: Seconds every ``predict`` takes.
        busy: Spend ``latency`` computing (matrix products) instead of sleeping.
        fail_after: Raise ``RuntimeError`` from the ``fail_after``-th call on (0: never).
        subtask: Subtask text reported in every chunk.
        layout: Robot layout (default ``H1_LAYOUT``).
    """

    def __init__(
        self,
        horizon: int = 10,
        dt: float = 0.1,
        frequency: float = 0.25,
        amplitude: float = 0.3,
        chunk_offset: float = 0.0,
        latency: float = 0.0,
        busy: bool = False,
        fail_after: int = 0,
        subtask: str = "follow the sine",
        layout: ActionLayout = H1_LAYOUT,
    ) -> None:
        if horizon < 1 or not dt > 0 or not 0 <= amplitude <= 1 or latency < 0:
            raise ValueError(
                f"need horizon >= 1, dt > 0, 0 <= amplitude <= 1, latency >= 0; got "
                f"{horizon=}, {dt=}, {amplitude=}, {latency=}"
            )
        self.horizon, self.dt, self.frequency = int(horizon), float(dt), float(frequency)
        self.amplitude, self.chunk_offset = float(amplitude), float(chunk_offset)
        self.latency, self.busy, self.fail_after = float(latency), bool(busy), int(fail_after)
        self.subtask, self.layout = subtask, layout
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def target(self, t: np.ndarray | float, chunk_number: int = 0) -> np.ndarray:
        """Actions at absolute times ``t`` (shape ``t.shape + (D,)``) for chunk ``chunk_number``."""
        lo, hi = self.layout.lower, self.layout.upper
        mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
        phase = np.linspace(0.0, math.pi, self.layout.dim)
        tt = np.asarray(t, dtype=np.float64)[..., None]
        shift = self.chunk_offset * (-1.0) ** chunk_number
        y = mid + half * (
            self.amplitude * np.sin(2 * math.pi * self.frequency * tt + phase) + shift
        )
        return np.clip(y, lo, hi)

    def predict(self, observation: Observation) -> ActionChunk:
        n = self.calls
        self.calls += 1
        if self.fail_after and self.calls >= self.fail_after:
            raise RuntimeError(f"SinePolicy: scripted failure on call {self.calls}")
        start = time.perf_counter()
        self._spend(start)
        t0 = float(observation.timestamp)
        actions = self.target(t0 + self.dt * np.arange(self.horizon), n).astype(np.float32)
        total = (time.perf_counter() - start) * 1e3
        return ActionChunk(actions, self.dt, self.subtask, {"total": total}, t0)

    def _spend(self, start: float) -> None:
        if self.latency <= 0:
            return
        if not self.busy:
            time.sleep(self.latency)
            return
        a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
        while time.perf_counter() - start < self.latency:
            a = np.tanh(a @ a.T * 1e-3)


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
    """Factory for ``python:vla_lego.runtime.scripted:hold``."""
    return HoldPolicy(horizon=horizon, dt=dt)


__all__ = ["HoldPolicy", "SinePolicy", "hold"]
