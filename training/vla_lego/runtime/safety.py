"""The last gate before a joint command leaves the policy: limits, rate limits, finiteness.

:class:`SafetyFilter` turns a desired target into a command that

* stays inside the position limits (the layout's, or narrower ones from a limits file),
* moves at most ``max_velocity * dt`` per control tick,
* changes its per-tick velocity by at most ``max_acceleration * dt``, moves along with the target
  and closes any remaining gap no faster than allows stopping at the target (the discrete-time
  braking curve, about ``sqrt(2 * max_acceleration * gap)``), so a feasible target is tracked
  exactly and an infeasible jump is approached without overshoot, and
* never contains NaN/inf: a non-finite target is rejected as a whole and the filter brakes to a
  stop at the previous command instead.

Command limits are configurable but may never exceed the hardware limits of the
:class:`~vla_lego.robot.ActionLayout` (a wider value is a ``ValueError``). Every value the filter
changes is counted (:attr:`SafetyFilter.clamp_count`, plus per-cause counters in
:attr:`SafetyFilter.counts`), which the policy node reports in its status.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vla_lego.robot import ActionLayout

_TOL = 1e-9
_LIMIT_KEYS = ("lower", "upper", "max_velocity", "max_acceleration")


@dataclass(frozen=True)
class SafetyLimits:
    """Per-joint command limits in layout order (all ``float64 (D,)``).

    Build with :meth:`from_layout`, which checks them against the hardware limits.
    """

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray
    max_acceleration: np.ndarray

    @classmethod
    def from_layout(
        cls,
        layout: ActionLayout,
        arm_velocity: float,
        hand_velocity: float,
        arm_acceleration: float,
        hand_acceleration: float,
        overrides: Mapping[str, Mapping[str, float]] | None = None,
    ) -> SafetyLimits:
        """Limits for ``layout``: velocity/acceleration per joint kind, then per-joint overrides.

        Args:
            layout: The robot layout (gives names, position and hardware velocity limits).
            arm_velocity: Arm command speed limit, rad/s.
            hand_velocity: Hand command speed limit, normalised units/s.
            arm_acceleration: Arm command acceleration limit, rad/s².
            hand_acceleration: Hand command acceleration limit, units/s².
            overrides: ``joint -> {lower, upper, max_velocity, max_acceleration}`` (any subset).

        Raises:
            ValueError: an unknown joint or key, a limit wider than the hardware's, a non-positive
                rate limit, or ``lower >= upper``.
        """
        kinds = [j.kind for j in layout.joints]
        vel = np.array([arm_velocity if k == "arm" else hand_velocity for k in kinds], float)
        acc = np.array(
            [arm_acceleration if k == "arm" else hand_acceleration for k in kinds], float
        )
        values = {"lower": layout.lower.copy(), "upper": layout.upper.copy()}
        values.update(max_velocity=vel, max_acceleration=acc)
        for name, entry in (overrides or {}).items():
            i = layout.index(name) if name in layout.names else None
            if i is None:
                raise ValueError(f"limits for unknown joint {name!r}; layout has {layout.names}")
            for key, val in entry.items():
                if key not in _LIMIT_KEYS:
                    raise ValueError(
                        f"joint {name!r}: unknown limit {key!r}; allowed {_LIMIT_KEYS}"
                    )
                values[key][i] = float(val)
        limits = cls(tuple(layout.names), **values)
        limits.check(layout)
        return limits

    def check(self, layout: ActionLayout) -> None:
        """Raise ``ValueError`` unless these limits lie within ``layout``'s hardware limits."""
        for i, j in enumerate(layout.joints):
            lo, hi = self.lower[i], self.upper[i]
            v, a = self.max_velocity[i], self.max_acceleration[i]
            if not (np.isfinite([lo, hi, v, a]).all()):
                raise ValueError(f"joint {j.name}: limits must be finite, got {lo, hi, v, a}")
            if lo < j.lower - _TOL or hi > j.upper + _TOL or not lo < hi:
                raise ValueError(
                    f"joint {j.name}: position limits [{lo}, {hi}] must satisfy "
                    f"{j.lower} <= lower < upper <= {j.upper}"
                )
            if not 0.0 < v <= j.max_velocity + _TOL:
                raise ValueError(
                    f"joint {j.name}: max_velocity {v} must be in (0, {j.max_velocity}] "
                    "(the hardware limit)"
                )
            if not a > 0.0:
                raise ValueError(f"joint {j.name}: max_acceleration must be > 0, got {a}")


def load_limit_overrides(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a limits file.

    YAML ``{joints: {NAME: {lower, upper, max_velocity, max_acceleration}}}`` (any subset).


    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a mapping of that shape.
    """
    import yaml

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"limits file not found: {str(p)!r}")
    data: Any = yaml.safe_load(p.read_text())
    joints = data.get("joints") if isinstance(data, dict) else None
    if not isinstance(joints, dict):
        raise ValueError(f"limits file {p}: expected a mapping with key 'joints', got {data!r}")
    out: dict[str, dict[str, float]] = {}
    for name, entry in joints.items():
        if not isinstance(entry, dict):
            raise ValueError(f"limits file {p}: joint {name!r} must map to a dict, got {entry!r}")
        out[str(name)] = {str(k): float(v) for k, v in entry.items()}
    return out


def _braking_speed(dist: np.ndarray, acc: np.ndarray, dt: float) -> np.ndarray:
    """Largest speed from which slowing by ``acc * dt`` per tick stops within ``dist``.

    Starting at ``v = (m + f) * acc * dt`` (integer ``m``, ``0 <= f < 1``) the ticks cover
    ``acc * dt² * ((m + 1) * f + m * (m + 1) / 2)``; solve that for ``v`` given ``dist``.
    """
    units = dist / (acc * dt * dt)
    m = np.floor((np.sqrt(1.0 + 8.0 * units) - 1.0) / 2.0)
    f = np.clip((units - m * (m + 1.0) / 2.0) / (m + 1.0), 0.0, 1.0)
    return (m + f) * acc * dt


@dataclass(frozen=True)
class SafeCommand:
    """One filtered command.

    Attributes:
        position: ``float64 (D,)`` commanded positions.
        velocity: ``float64 (D,)`` per-tick velocity of the command stream (``Δposition / dt``).
        changed: Number of values the filter changed on this tick.
        rejected: True when the target was non-finite and replaced by a stop.
    """

    position: np.ndarray
    velocity: np.ndarray
    changed: int
    rejected: bool


class SafetyFilter:
    """Stateful command limiter for a fixed control period (see the module docstring).

    Args:
        limits: Command limits.
        dt: Nominal control period in seconds; per-tick steps are limited with it (a late tick
            moves less, never more).
    """

    def __init__(self, limits: SafetyLimits, dt: float) -> None:
        if not (math.isfinite(dt) and dt > 0.0):
            raise ValueError(f"control period dt must be > 0 s, got {dt}")
        self.limits = limits
        self.dt = float(dt)
        self._pos: np.ndarray | None = None
        self._vel = np.zeros(len(limits.names))
        self._target = np.zeros(
            len(limits.names)
        )  # last (clipped) target: its motion is fed forward
        self.counts = {"position": 0, "velocity": 0, "acceleration": 0, "nonfinite": 0}
        self.clamp_count = 0

    @property
    def initialized(self) -> bool:
        return self._pos is not None

    @property
    def last_position(self) -> np.ndarray | None:
        return None if self._pos is None else self._pos.copy()

    def reset(self, position: np.ndarray) -> None:
        """Start from ``position`` (e.g. measured joint positions) at rest; clipped to the limits.

        Raises:
            ValueError: ``position`` has the wrong shape or is not finite.
        """
        p = np.asarray(position, dtype=np.float64).reshape(-1)
        if p.shape != self.limits.lower.shape or not np.all(np.isfinite(p)):
            raise ValueError(
                f"reset position must be finite with shape {self.limits.lower.shape}, got {p}"
            )
        self._pos = np.clip(p, self.limits.lower, self.limits.upper)
        self._vel = np.zeros_like(self._pos)
        self._target = self._pos.copy()

    def __call__(self, target: np.ndarray) -> SafeCommand:
        """Filter one target into a command.

        Raises:
            RuntimeError: :meth:`reset` was never called (no known starting point).
            ValueError: ``target`` has the wrong shape.
        """
        if self._pos is None:
            raise RuntimeError("SafetyFilter used before reset(position)")
        lim, dt, prev = self.limits, self.dt, self._pos
        want = np.asarray(target, dtype=np.float64).reshape(-1)
        if want.shape != prev.shape:
            raise ValueError(f"target must have shape {prev.shape}, got {np.shape(target)}")
        rejected = not bool(np.all(np.isfinite(want)))
        if rejected:
            self.counts["nonfinite"] += 1
            want = prev.copy()
        inside = np.clip(want, lim.lower, lim.upper)
        self.counts["position"] += int(np.count_nonzero(np.abs(inside - want) > _TOL))
        # Move with the target (feed-forward of its own motion), and close the remaining gap no
        # faster than a stop at the target allows: a smooth feasible target is tracked with no lag.
        v_ff = np.zeros_like(prev) if rejected else (inside - self._target) / dt
        v_ff = np.clip(v_ff, -lim.max_velocity, lim.max_velocity)
        dist = inside - prev
        gap = dist - v_ff * dt
        cap = _braking_speed(np.abs(gap), lim.max_acceleration, dt)
        v_want = np.clip(v_ff + np.clip(gap / dt, -cap, cap), -lim.max_velocity, lim.max_velocity)
        # Never faster towards a position limit than a stop before it allows: a target running
        # into a limit is braked within max_acceleration instead of stopping dead on the clip.
        v_want = np.clip(
            v_want,
            -_braking_speed(np.maximum(prev - lim.lower, 0.0), lim.max_acceleration, dt),
            _braking_speed(np.maximum(lim.upper - prev, 0.0), lim.max_acceleration, dt),
        )
        self.counts["velocity"] += int(np.count_nonzero(np.abs(v_want - dist / dt) > _TOL / dt))
        dv = lim.max_acceleration * dt
        v = np.clip(
            np.clip(v_want, self._vel - dv, self._vel + dv), -lim.max_velocity, lim.max_velocity
        )
        self.counts["acceleration"] += int(np.count_nonzero(np.abs(v - v_want) > _TOL / dt))
        pos = np.clip(prev + v * dt, lim.lower, lim.upper)
        vel = (pos - prev) / dt
        changed = int(np.count_nonzero(np.abs(pos - want) > 1e-7)) if not rejected else len(pos)
        self.clamp_count += changed
        self._pos, self._vel, self._target = pos, vel, inside
        return SafeCommand(pos.copy(), vel.copy(), changed, rejected)


__all__ = ["SafeCommand", "SafetyFilter", "SafetyLimits", "load_limit_overrides"]
