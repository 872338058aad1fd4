"""The policy execution loop without ROS: task state, inference thread, watchdogs, control ticks.

:class:`PolicyController` glues a :class:`~vla_lego.inference.types.Policy` to the runtime pieces:

* an :class:`~vla_lego.runtime.sync.ObservationSync` that the caller feeds with camera frames and
  joint states,
* a :class:`~vla_lego.runtime.scheduler.ChunkScheduler` that turns chunks into per-tick targets,
* a :class:`~vla_lego.runtime.safety.SafetyFilter` that every command passes through.

Inference runs in its own thread (:meth:`PolicyController.start`): it waits for a fresh synchronised
observation, calls ``policy.predict`` and hands the chunk to the scheduler, so chunk ``k + 1`` is
computed while chunk ``k`` executes. The caller's control loop calls :meth:`PolicyController.tick`
once per period and publishes what it returns. States (numbers as in
``vla_lego_msgs/PolicyStatus``):

* ``IDLE``: no task was ever set; no command is produced.
* ``RUNNING``: chunks are being executed.
* ``HOLDING``: the task was cleared, an input is missing/stale, inference failed or is slower than
  ``max_inference_latency``, no chunk has arrived yet, or the chunk ran out. The command is the last
  measured joint position latched when holding began (or the exhausted chunk's last target); the
  reason says why. Holding ends by itself when the cause goes away, and execution resumes by
  blending from the held position.

Time comes from the ``clock`` callable (seconds; ROS time in the node), so tests and replay can
drive it. All public methods are thread-safe.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vla_lego.inference.types import ActionChunk, Observation, Policy, supports_guidance
from vla_lego.runtime.policy_params import POLICY_PARAMS as _P
from vla_lego.runtime.rtc import RtcRequest, rtc_guidance
from vla_lego.runtime.safety import SafeCommand, SafetyFilter
from vla_lego.runtime.scheduler import ChunkAccept, ChunkScheduler
from vla_lego.runtime.sync import ObservationSync

STATE_IDLE, STATE_RUNNING, STATE_HOLDING, STATE_FAULT = 0, 1, 2, 3
STATE_NAMES = {STATE_IDLE: "idle", STATE_RUNNING: "running", STATE_HOLDING: "holding", 3: "fault"}
_LATENCY_HISTORY = 10  # accepted chunks whose latency sizes the rtc prefix
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControllerConfig:
    """Watchdog and pacing settings.

    Args:
        max_inference_latency: Seconds from observation stamp to chunk arrival; an inference that
            runs longer holds the robot and its chunk is dropped.
        min_inference_period: Least seconds between inference starts (0: back to back).
        rate_window: Ticks used to measure the control rate.
        inference_nice: Niceness added to the inference thread only (Linux), so the kernel runs
            the control loop first when the CPU is busy; 0 leaves it alone.
        hold_relatch_distance: While holding because the task was cleared, a measured joint
            further than this (rad or hand units) from the held pose means the robot was moved
            by something else (a sim reset, a person): the hold pose is re-taken from the fresh
            measurement instead of driving the arm back. 0 disables it.
        max_consecutive_failures: After this many policy failures in a row (exceptions, invalid
            chunks) the controller enters FAULT: it holds and stops calling the policy until the
            task is set again (the operator's acknowledgement). 0: never fault, keep retrying.
        rtc_delay: With ``blend: rtc``, the seconds from observation to chunk arrival that the
            next chunk's frozen prefix covers; negative: the largest of the last 10 measured
            latencies.
    """

    # Defaults and ranges: the node's settings in vla_lego.runtime.policy_params.
    max_inference_latency: float = _P.default("max_inference_latency")
    min_inference_period: float = _P.default("min_inference_period")
    rate_window: int = 50
    inference_nice: int = _P.default("inference_nice")
    hold_relatch_distance: float = _P.default("hold_relatch_distance")
    max_consecutive_failures: int = _P.default("max_consecutive_failures")
    rtc_delay: float = _P.default("rtc_delay")

    def __post_init__(self) -> None:
        for name in (
            "max_inference_latency",
            "min_inference_period",
            "inference_nice",
            "hold_relatch_distance",
            "max_consecutive_failures",
            "rtc_delay",
        ):
            _P.check(name, getattr(self, name))
        if self.rate_window < 2:
            raise ValueError(f"rate_window must be >= 2, got {self.rate_window}")


@dataclass(frozen=True)
class TickOutput:
    """Result of one control tick: ``command`` is None when nothing may be published.

    ``target`` is what the scheduler asked for before the safety filter (None with no command);
    ``planned`` the scheduler's interpolated, blended stream before it shaped it to the limits
    (``target`` itself when it does not shape): what the chunk joins look like.
    """

    state: int
    reason: str
    command: SafeCommand | None
    target: np.ndarray | None = None
    planned: np.ndarray | None = None


@dataclass(frozen=True)
class ChunkEvent:
    """An accepted chunk (given to the ``on_chunk`` callback from the inference thread)."""

    chunk: ActionChunk
    accept: ChunkAccept
    inference_time: float


@dataclass(frozen=True)
class ControllerStatus:
    """Snapshot for status reporting.

    ``clamp_count`` counts the command values the safety filter changed; ``clamp_*`` are its
    per-cause counters (values clipped to a position limit, rate-limited for velocity, for
    acceleration, and non-finite targets rejected, one per tick): one changed
    value can count under several causes.
    """

    state: int
    reason: str
    instruction: str
    subtask_text: str
    last_inference_latency: float
    control_rate: float
    clamp_count: int
    chunks: int
    inference_failures: int
    clamp_position: int = 0
    clamp_velocity: int = 0
    clamp_acceleration: int = 0
    clamp_nonfinite: int = 0


class PolicyController:
    """Runs a policy against live inputs (see the module docstring).

    Args:
        policy: Anything with ``reset()`` and ``predict(Observation) -> ActionChunk``.
        sync: Input store, fed by the caller.
        scheduler: Chunk executor.
        safety: Command filter (its ``dt`` is the control period).
        clock: Seconds on the clock the inputs are stamped with.
        config: Watchdog settings.
        on_chunk: Called from the inference thread with every accepted chunk.

    Raises:
        ValueError: the scheduler's blend is ``rtc`` and the policy cannot follow guidance.
    """

    def __init__(
        self,
        policy: Policy,
        sync: ObservationSync,
        scheduler: ChunkScheduler,
        safety: SafetyFilter,
        clock: Callable[[], float],
        config: ControllerConfig | None = None,
        on_chunk: Callable[[ChunkEvent], None] | None = None,
    ) -> None:
        if scheduler.config.blend == "rtc" and not supports_guidance(policy):
            raise ValueError(
                f"blend 'rtc' needs a policy that follows action guidance (supports_guidance); "
                f"{type(policy).__name__} does not: use blend crossfade or ensemble"
            )
        self.policy, self.sync, self.scheduler, self.safety = policy, sync, scheduler, safety
        self.clock = clock
        self.config = config or ControllerConfig()
        self.on_chunk = on_chunk
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._instruction, self._generation, self._activated = "", 0, False
        self._reset_policy = False
        self._holding = False
        self._planned: np.ndarray | None = None  # this tick's stream before shaping
        self._latched: np.ndarray | None = None
        self._min_obs_time = -math.inf
        self._infer_error = ""
        self._infer_start: float | None = None
        self._seen_version, self._last_obs_time = -1, -math.inf
        self._subtask, self._latency, self._failures = "", math.nan, 0
        self._consecutive_failures, self._fault = 0, ""
        self._clock_note = ""  # set when the clock jumped back, until a chunk is accepted
        self._state, self._reason = STATE_IDLE, "no task set"
        self._ticks: deque[float] = deque(maxlen=self.config.rate_window)
        self._latencies: deque[float] = deque(maxlen=_LATENCY_HISTORY)
        self.last_rtc: RtcRequest | None = None  # the guidance of the last rtc inference
        self._rtc_warning = ""

    # ---- task ---------------------------------------------------------------------------------
    def set_instruction(self, text: str, acknowledge: bool = False) -> bool:
        """Set the task (non-empty: start or switch; empty: stop and hold).

        A different task clears a FAULT; the same one only with ``acknowledge`` (an explicit
        request such as the SetTask service, not a repeated instruction topic message).

        Returns:
            True when this call cleared a FAULT.
        """
        text = text.strip()
        with self._lock:
            if text == self._instruction and not (self._fault and acknowledge):
                return False
            cleared = bool(self._fault)
            self._fault, self._consecutive_failures = "", 0
            self._instruction = text
            self._generation += 1  # chunks in flight belong to the old task
            if text:
                self._activated, self._reset_policy = True, True
        return cleared

    @property
    def instruction(self) -> str:
        with self._lock:
            return self._instruction

    # ---- control ------------------------------------------------------------------------------
    def tick(self, now: float) -> TickOutput:
        """Decide the command for the control tick at ``now``."""
        with self._lock:
            # A step back larger than the allowed clock disagreement (a sim-time reset, a looped
            # bag's /clock), not the odd sub-millisecond step of the system clock.
            if self._ticks and now < self._ticks[-1] - self.sync.config.max_future:
                self._clock_jumped_back(self._ticks[-1] - now)
            self._ticks.append(now)
            self._planned = None
            if not self._activated:
                return self._set_state(STATE_IDLE, "no task set", None)
            reason = self._fault or self._hold_reason(now)
            if reason:
                target = self._enter_hold(now)
                if target is not None and self.scheduler.active:
                    # The hold pose through the scheduler: shaped to the limits when it shapes.
                    sampled = self.scheduler.sample(now)
                    target, self._planned = sampled.position, sampled.planned
                state = STATE_FAULT if self._fault else STATE_HOLDING
            else:
                state, reason, target = self._run(now)
            if target is None:
                return self._set_state(state, reason or "no joint state to hold", None)
            if not self.safety.initialized:
                self.safety.reset(target)
            return self._set_state(state, reason, self.safety(target), target)

    def status(self) -> ControllerStatus:
        """Snapshot of state, reason and counters."""
        with self._lock:
            t = self._ticks
            rate = (len(t) - 1) / (t[-1] - t[0]) if len(t) >= 2 and t[-1] > t[0] else 0.0
            return ControllerStatus(
                self._state,
                self._reason,
                self._instruction,
                self._subtask,
                self._latency,
                rate,
                self.safety.clamp_count,
                self.scheduler.stats["chunks"],
                self._failures,
                self.safety.counts["position"],
                self.safety.counts["velocity"],
                self.safety.counts["acceleration"],
                self.safety.counts["nonfinite"],
            )

    def _set_state(
        self, state: int, reason: str, cmd: SafeCommand | None, target: np.ndarray | None = None
    ) -> TickOutput:
        self._state, self._reason = state, reason
        planned = self._planned if self._planned is not None else target
        return TickOutput(state, reason, cmd, target, planned)

    def _clock_jumped_back(self, by: float) -> None:
        """``now`` went backwards (sim-time reset, a looped bag's /clock): everything stamped on
        the old timeline is dropped, the robot holds where it is commanded to be, and inference
        starts over from inputs stamped on the new one (lock held)."""
        self.sync.clear()
        self.scheduler.clear()
        self._ticks.clear()
        self._generation += 1  # a chunk in flight was computed on the old timeline
        self._last_obs_time = -math.inf
        self._holding, self._latched = False, None  # re-latch (at the last command: no state)
        self._reset_policy = bool(self._instruction)
        self._infer_start = None
        self._clock_note = f"clock jumped back {by:.3f} s; holding until a chunk from new inputs"

    def _hold_reason(self, now: float) -> str:
        if not self._instruction:
            return "task cleared"
        if self._clock_note:
            return self._clock_note
        problems = self.sync.problems(now)
        if problems:
            return "; ".join(problems)
        if self._infer_error:
            return self._infer_error
        if self._infer_start is not None:
            running = now - self._infer_start
            if running > self.config.max_inference_latency:
                return (
                    f"inference running for {running:.3f} s "
                    f"(limit {self.config.max_inference_latency} s)"
                )
        return ""

    def _enter_hold(self, now: float) -> np.ndarray | None:
        if not self._holding or self._latched is None:
            measured = self.sync.joint_positions()
            self._latched = measured if measured is not None else self.safety.last_position
            self.scheduler.clear()
            if self._latched is not None:
                self.scheduler.hold(self._latched, now)
            self._holding = True
            self._min_obs_time = now  # chunks from older observations are not used after this
        elif not self._instruction and self.config.hold_relatch_distance > 0:
            self._maybe_relatch(now)
        return self._latched

    def _maybe_relatch(self, now: float) -> None:
        """Re-take the hold pose when fresh joint states show the robot was moved externally."""
        if self.sync.problems(now):
            return  # only trust fresh joint states
        measured = self.sync.joint_positions()
        if measured is None or self._latched is None:
            return
        if float(np.max(np.abs(measured - self._latched))) > self.config.hold_relatch_distance:
            self._latched = measured
            self.scheduler.clear()
            self.scheduler.hold(measured, now)
            self.safety.reset(measured)
            self.scheduler.reset_motion(measured)

    def _run(self, now: float) -> tuple[int, str, np.ndarray | None]:
        self._holding = False
        if not self.scheduler.active:
            measured = self.sync.joint_positions()
            if measured is None:
                return STATE_HOLDING, "no joint state yet", None
            self.scheduler.hold(measured, now)
        s = self.scheduler.sample(now)
        self._planned = s.planned
        if s.holding:
            return STATE_HOLDING, "waiting for the first action chunk", s.position
        if s.exhausted:
            return STATE_HOLDING, "action chunk exhausted; holding its last target", s.position
        return STATE_RUNNING, "", s.position

    # ---- inference ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the inference thread."""
        if self._thread is not None:
            raise RuntimeError("PolicyController already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="policy-inference", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the inference thread (waits for a running ``predict`` up to ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        if self.config.inference_nice and hasattr(os, "setpriority"):
            try:  # on Linux a thread id as PRIO_PROCESS target re-prioritises this thread only
                tid = threading.get_native_id()
                os.setpriority(
                    os.PRIO_PROCESS,
                    tid,
                    os.getpriority(os.PRIO_PROCESS, tid) + self.config.inference_nice,
                )
            except OSError:
                pass  # not permitted here: run at normal priority
        while not self._stop.is_set():
            started = time.monotonic()
            ran = self.infer_once(timeout=0.05)
            rest = self.config.min_inference_period - (time.monotonic() - started)
            if ran and rest > 0:
                self._stop.wait(rest)

    def infer_once(self, timeout: float) -> bool:
        """Run one inference if a task is set and a fresh observation exists (waits ``timeout``).

        Returns:
            True when ``predict`` was called (successfully or not).
        """
        with self._lock:
            instruction, generation = self._instruction, self._generation
            faulted = bool(self._fault)
        if not instruction or faulted:
            self._stop.wait(timeout)
            return False
        self._seen_version = self.sync.wait_for_update(self._seen_version, timeout)
        obs = self.sync.latest(self.clock(), instruction)
        if obs is None or obs.timestamp <= self._last_obs_time:
            return False
        with self._lock:
            if generation != self._generation:
                return False  # the task changed meanwhile: start over with the new one
            # consumed only by a call that runs: a switch often finds no new frame at first
            reset, self._reset_policy = self._reset_policy, False
            self._last_obs_time = obs.timestamp
            self._infer_start = self.clock()
            if self.scheduler.config.blend == "rtc":
                obs = self._with_guidance(obs)
        started = time.perf_counter()
        try:
            if reset:
                self.policy.reset()
            chunk = self.policy.predict(obs)
        except Exception as e:  # any policy error holds the robot; the reason goes to the status
            with self._lock:
                self._infer_start = None
                self._policy_failed(f"inference failed: {type(e).__name__}: {e}")
            return True
        self._accept(chunk, generation, time.perf_counter() - started)
        return True

    def _with_guidance(self, obs: Observation) -> Observation:
        """The observation with what the next chunk must continue (lock held)."""
        delay = self.config.rtc_delay
        if delay < 0.0:
            if not self._latencies:
                return obs  # nothing ran yet, so there is no plan to continue either
            delay = max(self._latencies)
        req = rtc_guidance(self.scheduler, obs.timestamp, delay)
        self.last_rtc = req
        if req.warning and req.warning != self._rtc_warning:
            log.warning("%s", req.warning)
        self._rtc_warning = req.warning
        return dataclasses.replace(obs, guidance=req.guidance)

    def _policy_failed(self, error: str) -> None:
        """Count a policy failure (lock held); enough in a row latch FAULT."""
        self._failures += 1
        self._consecutive_failures += 1
        self._infer_error = error
        limit = self.config.max_consecutive_failures
        if limit and self._consecutive_failures >= limit:
            self._fault = (
                f"fault: {self._consecutive_failures} policy failures in a row, last: {error}; "
                "set the task again to retry"
            )

    def _accept(self, chunk: ActionChunk, generation: int, elapsed: float) -> None:
        now = self.clock()
        with self._lock:
            self._infer_start = None
            if generation != self._generation:
                return  # made for another task
            latency = now - chunk.observation_time
            if latency < -self.sync.config.max_future:
                return  # observed "in the future": made before the clock jumped back
            self._latency = latency
            if latency > self.config.max_inference_latency:
                self._failures += 1
                self._infer_error = (
                    f"inference too slow: {latency:.3f} s from observation to chunk "
                    f"(limit {self.config.max_inference_latency} s)"
                )
                return
            if chunk.observation_time < self._min_obs_time:
                return  # observed before the current hold began: not used to resume
            try:
                accept = self.scheduler.add_chunk(chunk, now)
            except ValueError as e:
                self._policy_failed(f"policy returned an invalid chunk: {e}")
                return
            self._infer_error, self._consecutive_failures = "", 0
            self._clock_note = ""
            if accept.accepted:
                self._latencies.append(latency)
            self._subtask = chunk.subtask_text
        if self.on_chunk is not None and accept.accepted:
            self.on_chunk(ChunkEvent(chunk, accept, elapsed))


__all__ = [
    "STATE_FAULT",
    "STATE_HOLDING",
    "STATE_IDLE",
    "STATE_NAMES",
    "STATE_RUNNING",
    "ChunkEvent",
    "ControllerConfig",
    "ControllerStatus",
    "PolicyController",
    "TickOutput",
]
