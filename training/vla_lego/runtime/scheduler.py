"""Execute action chunks at a control rate: time-indexed sampling, stale skipping, smooth blending.

A chunk predicted from the observation taken at ``t_obs`` is a trajectory: action ``k`` is the
target for time ``t_obs + k * dt``. The control loop asks :meth:`ChunkScheduler.sample` for the
target at its own tick time ``now`` and gets an interpolation between the neighbouring actions, so
a 10 Hz dataset drives a 50 Hz loop (or any other pair of rates):

* ``cubic`` (default): monotone cubic Hermite (PCHIP tangents: the harmonic mean of the
  neighbouring slopes, zero at a local extremum and at the chunk's last action). Velocity is
  continuous at every action, and the curve never leaves the range of its two actions (no
  overshoot past a hand's 0/1 or a joint limit). Blend weights ramp with a smoothstep
  (``3s² - 2s³``), whose zero slope at both ends keeps the joins continuous in velocity too.
* ``linear``: straight lines between actions and linear weight ramps (the velocity steps at every
  action and at the start and end of a blend). Actions whose time has
already passed when a chunk arrives (inference delay) are never executed: sampling by time skips
them implicitly, and :meth:`ChunkScheduler.add_chunk` reports how many were skipped.

Every trajectory in use is a *segment* with a weight that ramps in and out over time; the target is
the weighted mean of the active segments. Two blend modes are built from that:

* ``crossfade`` (default): a new chunk ramps in linearly over ``blend_time`` seconds while
  everything before it ramps out over the same window (a real-time-chunking style hand-over).
* ``ensemble``: temporal ensembling (ACT): every chunk that still covers ``now`` contributes with a
  weight ``exp(-ensemble_decay * chunk_id)`` (``decay > 0`` favours older chunks, as in ACT,
  ``< 0`` newer ones, ``0`` is a plain mean); new chunks ramp in and superseded chunks ramp out
  over the ``blend_time`` before their last action, so membership changes are continuous too.
* ``none``: the new chunk replaces the old one at once (jumps are possible; for comparisons).
* ``rtc``: real-time chunking (:mod:`vla_lego.runtime.rtc`): the controller asks the policy for a
  chunk that continues :meth:`ChunkScheduler.preview`; the scheduler hands over as ``crossfade``
  does, which changes nothing where the new chunk reproduces the plan and smooths what it does
  not (a delay longer than expected).

Before the first chunk, and whenever the caller wants the robot to stand still, :meth:`hold`
installs a constant segment (e.g. the measured joint positions), so the next chunk blends in from
there instead of jumping. When the newest chunk runs out, its last action is held and the sample
says so.

Feasible targets: given the command limits (:class:`~vla_lego.runtime.safety.SafetyLimits` and the
control period), the scheduler clips every action into the position limits when a chunk arrives
and passes the blended stream through a tracker with the same discrete-time rules as the safety
filter at ``limit_margin`` of its velocity and acceleration limits, so the stream it returns is
feasible by construction and the safety filter after it changes nothing unless something is
wrong. What this costs is counted: ``stats["clipped_actions"]`` (action values outside the
position limits) and ``stats["shaped_values"]`` (joint-ticks where the returned target differs
from the interpolated one by more than 1e-7).

Time is always passed in (seconds on one clock, e.g. ROS time), so the scheduler is deterministic in
tests and replay. It is not thread-safe; callers serialise access (the ROS node uses a lock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vla_lego.inference.types import ActionChunk
from vla_lego.runtime.policy_params import POLICY_PARAMS as _P
from vla_lego.runtime.safety import SafetyFilter, SafetyLimits

BLEND_MODES = _P["blend"].choices
INTERPOLATIONS = _P["interpolation"].choices
_EPS_WEIGHT = 1e-9
_SHAPED_TOL = 1e-7


@dataclass(frozen=True)
class SchedulerConfig:
    """How chunks are executed.

    Args:
        blend: ``"crossfade"``, ``"ensemble"`` or ``"none"`` (see the module docstring).
        blend_time: Seconds over which a new chunk ramps in (and old segments ramp out);
            ``0`` switches at once.
        ensemble_decay: ``m`` in the ensembling weight ``exp(-m * chunk_id)``; only used by
            ``"ensemble"``.
        max_segments: Upper bound on segments kept at once (the oldest is dropped first).
        interpolation: ``"cubic"`` or ``"linear"`` (see the module docstring).
        feasible_targets: With limits given to the scheduler: clip actions into the position
            limits and shape the stream to the velocity and acceleration limits.
        limit_margin: Fraction of the velocity and acceleration limits the shaped stream uses,
            so rounding never makes the safety filter act on it.
    """

    # Defaults and ranges of the node's settings: vla_lego.runtime.policy_params.
    blend: str = _P.default("blend")
    blend_time: float = _P.default("blend_time")
    ensemble_decay: float = _P.default("ensemble_decay")
    max_segments: int = 64
    interpolation: str = _P.default("interpolation")
    feasible_targets: bool = _P.default("feasible_targets")
    limit_margin: float = 0.98

    def __post_init__(self) -> None:
        for name in ("blend", "blend_time", "ensemble_decay", "interpolation", "feasible_targets"):
            _P.check(name, getattr(self, name))
        if not 2 <= self.max_segments <= 4096:
            raise ValueError(f"max_segments must be in [2, 4096], got {self.max_segments}")
        if not 0.5 <= self.limit_margin <= 1.0:
            raise ValueError(f"limit_margin must be in [0.5, 1], got {self.limit_margin}")


@dataclass(frozen=True)
class ChunkAccept:
    """What :meth:`ChunkScheduler.add_chunk` did with a chunk.

    Attributes:
        accepted: False when every action of the chunk was already in the past.
        chunk_id: Id given to the chunk (monotonic; -1 when rejected).
        skipped: Actions whose time had passed on arrival (never executed).
        latency: ``now - observation_time`` in seconds.
    """

    accepted: bool
    chunk_id: int
    skipped: int
    latency: float


@dataclass(frozen=True)
class ScheduledTarget:
    """The target for one control tick.

    Attributes:
        position: ``float64 (D,)`` target.
        chunk_id: Id of the newest chunk contributing (-1 while only a hold is active).
        chunk_index: Fractional action index of the newest chunk at ``now`` (``nan`` for a hold).
        exhausted: True when the newest chunk has run out and its last action is being held.
        holding: True when no chunk contributes (a :meth:`ChunkScheduler.hold` target).
        blending: True while more than one segment contributes.
        planned: The interpolated, blended target before shaping to the limits (``position``
            itself when the scheduler does not shape).
    """

    position: np.ndarray
    chunk_id: int
    chunk_index: float
    exhausted: bool
    holding: bool
    blending: bool
    planned: np.ndarray | None = None


@dataclass(frozen=True)
class ChunkPlan:
    """Timing of the chunk in control: action ``k`` is the target for ``t0 + k * dt``.

    Attributes:
        t0: Observation time of the chunk.
        dt: Seconds between its actions.
        horizon: Number of actions.
        t_end: Time of its last action.
    """

    t0: float
    dt: float
    horizon: int
    t_end: float


def _ramp_up(t: float, start: float, length: float, smooth: bool = False) -> float:
    if t <= start:
        return 0.0 if length > 0.0 or t < start else 1.0
    if length <= 0.0:
        return 1.0
    x = min(1.0, (t - start) / length)
    return x * x * (3.0 - 2.0 * x) if smooth else x


def _pchip_tangents(actions: np.ndarray, dt: float) -> np.ndarray:
    """Monotone cubic tangents at each action (uniform spacing ``dt``), ``(H, D)``.

    Interior: the harmonic mean of the two neighbouring slopes where they have the same sign,
    else 0 (at most twice the smaller slope, which keeps each piece within its two actions);
    first action: the first slope; last action: 0 (the chunk's end is held).
    """
    m = np.zeros_like(actions)
    if actions.shape[0] < 2 or not math.isfinite(dt):
        return m
    d = np.diff(actions, axis=0) / dt
    m[0] = d[0]
    a, b = d[:-1], d[1:]
    same = a * b > 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        m[1:-1] = np.where(same, 2.0 * a * b / np.where(same, a + b, 1.0), 0.0)
    return m


class _Segment:
    """One trajectory with its weight envelope (ramp in, optional ramp out)."""

    def __init__(
        self,
        actions: np.ndarray,
        t0: float,
        dt: float,
        chunk_id: int,
        fade_in: tuple[float, float],
        cubic: bool = False,
    ) -> None:
        self.actions = actions  # (H, D); a hold is H == 1 with dt = inf
        self.t0 = t0
        self.dt = dt
        self.chunk_id = chunk_id
        self.cubic = cubic
        self.tangents = _pchip_tangents(actions, dt) if cubic else None
        self.t_end = t0 + (actions.shape[0] - 1) * dt if math.isfinite(dt) else math.inf
        self.fade_in = fade_in  # (start, length); length < 0: fully in from the start
        self.fade_out: tuple[float, float] = (math.inf, 0.0)
        self.log_weight = 0.0

    @property
    def is_hold(self) -> bool:
        return self.chunk_id < 0

    def index(self, t: float) -> float:
        if not math.isfinite(self.dt):
            return 0.0
        return min(max((t - self.t0) / self.dt, 0.0), float(self.actions.shape[0] - 1))

    def value(self, t: float) -> np.ndarray:
        x = self.index(t)
        i = math.floor(x)
        if i >= self.actions.shape[0] - 1:
            return self.actions[-1]
        s = x - i
        if self.tangents is None:
            return (1.0 - s) * self.actions[i] + s * self.actions[i + 1]
        s2, s3 = s * s, s * s * s
        h00, h10 = 2.0 * s3 - 3.0 * s2 + 1.0, s3 - 2.0 * s2 + s
        h01, h11 = 3.0 * s2 - 2.0 * s3, s3 - s2
        m = self.tangents
        return (
            h00 * self.actions[i]
            + h01 * self.actions[i + 1]
            + self.dt * (h10 * m[i] + h11 * m[i + 1])
        )

    def envelope(self, t: float) -> float:
        start, length = self.fade_in
        w_in = 1.0 if length < 0.0 else _ramp_up(t, start, length, self.cubic)
        out_start, out_len = self.fade_out
        w_out = (
            1.0 - _ramp_up(t, out_start, out_len, self.cubic) if math.isfinite(out_start) else 1.0
        )
        return w_in * w_out

    def start_fade_out(self, start: float, length: float) -> None:
        if start + length < self.fade_out[0] + self.fade_out[1]:
            self.fade_out = (start, length)

    def dead(self, t: float) -> bool:
        out_start, out_len = self.fade_out
        return math.isfinite(out_start) and t >= out_start + out_len


class ChunkScheduler:
    """Turns action chunks into one target per control tick (see the module docstring).

    Args:
        dim: Width of an action (``H1_LAYOUT.dim``).
        config: Blending, interpolation and shaping settings.
        limits: Command limits (the safety filter's); with ``config.feasible_targets`` the
            returned stream respects them (see the module docstring). None: no shaping.
        dt: Control period in seconds (one :meth:`sample` per period); required with ``limits``.
    """

    def __init__(
        self,
        dim: int,
        config: SchedulerConfig | None = None,
        limits: SafetyLimits | None = None,
        dt: float | None = None,
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = dim
        self.config = config or SchedulerConfig()
        self._segments: list[_Segment] = []
        self._next_id = 0
        self._last: np.ndarray | None = None
        self._shaper: SafetyFilter | None = None
        self._lower = self._upper = None
        if limits is not None and self.config.feasible_targets:
            if dt is None:
                raise ValueError("ChunkScheduler with limits needs the control period dt")
            if len(limits.names) != dim:
                raise ValueError(f"limits cover {len(limits.names)} joints, dim is {dim}")
            k = self.config.limit_margin
            inner = SafetyLimits(
                limits.names,
                limits.lower.copy(),
                limits.upper.copy(),
                limits.max_velocity * k,
                limits.max_acceleration * k,
            )
            self._shaper = SafetyFilter(inner, dt)
            self._lower, self._upper = limits.lower.copy(), limits.upper.copy()
        self.stats = {
            "chunks": 0,
            "rejected": 0,
            "skipped_actions": 0,
            "exhausted_ticks": 0,
            "clipped_actions": 0,
            "shaped_values": 0,
        }

    @property
    def shaping(self) -> bool:
        """True when the returned stream is shaped to the command limits."""
        return self._shaper is not None

    @property
    def active(self) -> bool:
        """True once a hold or a chunk has been installed."""
        return bool(self._segments)

    @property
    def last_target(self) -> np.ndarray | None:
        """The target returned by the latest :meth:`sample` (None before the first)."""
        return None if self._last is None else self._last.copy()

    def clear(self) -> None:
        """Forget every segment (the next :meth:`sample` needs a hold or a chunk first).

        The shaped stream's motion is kept: the next target moves on from the last one within
        the limits (see :meth:`reset_motion`).
        """
        self._segments.clear()
        self._last = None

    def reset_motion(self, position: np.ndarray) -> None:
        """Restart the shaped stream at rest at ``position`` (call with ``SafetyFilter.reset``)."""
        if self._shaper is not None:
            self._shaper.reset(self._vector(position, "reset position"))

    def hold(self, position: np.ndarray, now: float) -> None:
        """Stand still at ``position`` from ``now``: existing segments fade out into it."""
        pos = self._vector(position, "hold position")
        if self._lower is not None:
            pos = np.clip(pos, self._lower, self._upper)
        seg = _Segment(pos[None, :], now, math.inf, -1, (now, -1.0), self._cubic)
        if self._segments:
            seg.fade_in = (now, self.config.blend_time)
            self._fade_out_all(now)
        self._segments.append(seg)

    def add_chunk(self, chunk: ActionChunk, now: float) -> ChunkAccept:
        """Install ``chunk`` (actions at ``chunk.observation_time + k * chunk.dt``) at time ``now``.

        Raises:
            ValueError: the actions are not a finite ``(H, dim)`` array or ``dt`` is not positive.
        """
        actions = self._actions(chunk)
        t0 = float(chunk.observation_time)
        latency = now - t0
        skipped = int(min(actions.shape[0], max(0, math.ceil((now - t0) / chunk.dt - 1e-9))))
        if t0 + (actions.shape[0] - 1) * chunk.dt < now:
            self.stats["rejected"] += 1
            return ChunkAccept(False, -1, actions.shape[0], latency)
        cfg = self.config
        if self._lower is not None:
            inside = np.clip(actions, self._lower, self._upper)
            self.stats["clipped_actions"] += int(np.count_nonzero(inside != actions))
            actions = inside
        seg = _Segment(actions, t0, float(chunk.dt), self._next_id, (now, -1.0), self._cubic)
        self._next_id += 1
        if self._segments:
            seg.fade_in = (now, cfg.blend_time if cfg.blend != "none" else 0.0)
            if cfg.blend == "ensemble":
                seg.log_weight = -cfg.ensemble_decay * seg.chunk_id
                self._fade_out_holds(now)
                # Superseded chunks leave the ensemble continuously over the blend window that
                # ends at their last action (or from now, when that is already under way). The
                # newest chunk never fades out on its own: if it runs out, its last action is
                # held, so the weights never all vanish (their normalised mean would jump).
                for old in self._segments:
                    if not old.is_hold:
                        old.start_fade_out(max(now, old.t_end - cfg.blend_time), cfg.blend_time)
            else:
                self._fade_out_all(now, 0.0 if cfg.blend == "none" else cfg.blend_time)
        self._segments.append(seg)
        self.stats["chunks"] += 1
        self.stats["skipped_actions"] += skipped
        return ChunkAccept(True, seg.chunk_id, skipped, latency)

    def sample(self, now: float) -> ScheduledTarget:
        """The target for the control tick at ``now``.

        Raises:
            RuntimeError: no hold or chunk has been installed yet.
        """
        if not self._segments:
            raise RuntimeError("ChunkScheduler.sample() before any hold() or add_chunk()")
        self._prune(now)
        newest = self._segments[-1]
        mixed, contributing = self._mix(now)
        if mixed is not None:
            pos = mixed
        elif self._last is not None:
            pos = self._last.copy()  # every envelope is momentarily zero: stay put
        else:
            pos = newest.value(now).copy()
        planned = pos.copy()
        if self._shaper is not None:
            if not self._shaper.initialized:
                self._shaper.reset(pos)
            shaped = self._shaper(pos).position
            self.stats["shaped_values"] += int(np.count_nonzero(np.abs(shaped - pos) > _SHAPED_TOL))
            pos = shaped
        exhausted = not newest.is_hold and now > newest.t_end
        if exhausted:
            self.stats["exhausted_ticks"] += 1
        self._last = pos
        newest_chunk = next((s for s in reversed(self._segments) if not s.is_hold), None)
        return ScheduledTarget(
            position=pos.copy(),
            chunk_id=newest.chunk_id,
            chunk_index=newest.index(now) if newest_chunk is newest else math.nan,
            exhausted=exhausted,
            holding=newest.is_hold,
            blending=contributing > 1,
            planned=planned,
        )

    def current_plan(self) -> ChunkPlan | None:
        """Timing of the chunk in control now (None while a hold is the newest segment)."""
        if not self._segments or self._segments[-1].is_hold:
            return None
        seg = self._segments[-1]
        return ChunkPlan(seg.t0, seg.dt, int(seg.actions.shape[0]), seg.t_end)

    def preview(self, times: np.ndarray) -> np.ndarray:
        """The planned stream (interpolated and blended, not shaped) at ``times``, ``(N, dim)``.

        Changes nothing: this is what the current segments will ask for if no chunk arrives,
        what real-time chunking asks the next chunk to continue.

        Raises:
            RuntimeError: no hold or chunk has been installed yet.
        """
        if not self._segments:
            raise RuntimeError("ChunkScheduler.preview() before any hold() or add_chunk()")
        out = np.empty((len(times), self.dim))
        for i, t in enumerate(np.asarray(times, np.float64)):
            mixed, _ = self._mix(float(t))
            out[i] = mixed if mixed is not None else self._segments[-1].value(float(t))
        return out

    def _mix(self, now: float) -> tuple[np.ndarray | None, int]:
        """Weighted mean of the segments at ``now`` (None when every weight is ~0), contributors."""
        total, acc, contributing = 0.0, np.zeros(self.dim), 0
        max_log = max(s.log_weight for s in self._segments)
        for seg in self._segments:
            w = seg.envelope(now) * math.exp(seg.log_weight - max_log)
            if w > _EPS_WEIGHT:
                acc += w * seg.value(now)
                total += w
                contributing += 1
        return (acc / total if total > _EPS_WEIGHT else None), contributing

    @property
    def _cubic(self) -> bool:
        return self.config.interpolation == "cubic"

    def _fade_out_all(self, now: float, length: float | None = None) -> None:
        length = self.config.blend_time if length is None else length
        for seg in self._segments:
            seg.start_fade_out(now, length)

    def _fade_out_holds(self, now: float) -> None:
        for seg in self._segments:
            if seg.is_hold:
                seg.start_fade_out(now, self.config.blend_time)

    def _prune(self, now: float) -> None:
        keep = [s for s in self._segments[:-1] if not s.dead(now)]
        keep.append(self._segments[-1])
        while len(keep) > self.config.max_segments:
            keep.pop(0)
        self._segments = keep

    def _vector(self, x: np.ndarray, what: str) -> np.ndarray:
        v = np.asarray(x, dtype=np.float64).reshape(-1)
        if v.shape != (self.dim,):
            raise ValueError(f"{what} must have shape ({self.dim},), got {np.shape(x)}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{what} contains non-finite values: {v}")
        return v

    def _actions(self, chunk: ActionChunk) -> np.ndarray:
        a = np.asarray(chunk.actions, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != self.dim or a.shape[0] < 1:
            raise ValueError(f"chunk actions must have shape (H>=1, {self.dim}), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("chunk actions contain non-finite values")
        if not (math.isfinite(chunk.dt) and chunk.dt > 0.0):
            raise ValueError(f"chunk dt must be a positive number of seconds, got {chunk.dt}")
        if not math.isfinite(chunk.observation_time):
            raise ValueError(f"chunk observation_time must be finite, got {chunk.observation_time}")
        return a


__all__ = [
    "BLEND_MODES",
    "INTERPOLATIONS",
    "ChunkAccept",
    "ChunkPlan",
    "ChunkScheduler",
    "ScheduledTarget",
    "SchedulerConfig",
]
