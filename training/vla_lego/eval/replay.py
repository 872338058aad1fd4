"""Deterministic offline replay of a policy on a bag, through the policy node's runtime.

A simulated clock driven by the bag's timestamps replaces the wall clock. Inputs (camera frames,
joint states, the instruction) enter an :class:`~vla_lego.runtime.ObservationSync` at their log
(receive) times; the policy runs on the latest synchronised observation; chunks go through the same
:class:`~vla_lego.runtime.ChunkScheduler` and :class:`~vla_lego.runtime.SafetyFilter` the node
uses; commands are produced at control ticks. Two timings:

* ``recorded``: every inference happens when the node's did — it starts on the observation whose
  stamp the recorded ``/vla/action_chunk`` carries and its chunk arrives at that message's log
  time. The same deterministic policy then reproduces the recorded commands.
* ``simulated``: inferences start back to back (at least ``min_inference_period`` apart, each on a
  newer observation) and take ``inference_delay`` simulated seconds, to study delay effects.

Control ticks are the recorded ``/h1/arm_command`` stamps when the bag has them, else a regular grid
at ``control_rate``. The bag is read in one pass, so long bags need little memory.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
from tqdm import tqdm

from vla_lego.bags.reader import BagReader, stamp_ns
from vla_lego.bags.streams import (
    CHUNK_TYPE,
    JOINT_STATE_TYPE,
    STRING_TYPE,
    JointMapper,
    decode_image,
    msg_time,
    require_inputs,
)
from vla_lego.bags.typestore import BagError
from vla_lego.inference.types import ActionChunk, Observation, Policy, supports_guidance
from vla_lego.robot import H1_LAYOUT, ActionLayout, LayoutMismatchError
from vla_lego.runtime import InputRejectedError, SafetyLimits
from vla_lego.runtime.build import build_controller, camera_map, safety_limits
from vla_lego.runtime.controller import STATE_HOLDING, STATE_RUNNING, ChunkEvent
from vla_lego.runtime.policy_params import POLICY_PARAMS

TIMINGS = ("auto", "recorded", "simulated")
# Event priorities at equal times: a chunk arrives before the tick that may use it; an inference
# starts after the tick (as the node's inference thread wakes after the control timer).
_INIT, _ARRIVE, _TICK, _START, _TRY = -1, 0, 1, 2, 3


@dataclass(frozen=True)
class ReplayConfig:
    """What to replay, and the node settings the simulated node runs with.

    Attributes:
        params: The policy node's settings (:data:`~vla_lego.runtime.policy_params.POLICY_PARAMS`
            names; missing ones take the table's defaults, which are the deployed values). Build
            them from the node's parameter files with :func:`vla_lego.runtime.build.node_values`.
        cameras: View name -> image topic, in model view order (default: the node's
            ``camera_topics`` / ``camera_names``).
        joint_topics: JointState topics that together carry every layout joint (default: the
            node's ``joint_states_topic``).
        instruction: Overrides the bag's instruction topic when set.
        timing: ``recorded``, ``simulated`` or ``auto`` (recorded when the bag has chunks).
        inference_delay: Simulated seconds per inference (``simulated`` timing).
        settle_time: Seconds after the first replayed chunk has blended in that are still left
            out of the comparison (the warm-up; see :attr:`ReplayResult.compare_from`).
        allow_extra_joints: Ignore joint names outside the layout instead of failing.
        layout: Robot layout.
    """

    params: Mapping[str, Any] = field(default_factory=POLICY_PARAMS.defaults)
    cameras: Mapping[str, str] | None = None
    joint_topics: tuple[str, ...] | None = None
    instruction: str | None = None
    timing: str = "auto"
    inference_delay: float = 0.0
    settle_time: float = 0.5
    allow_extra_joints: bool = False
    layout: ActionLayout = H1_LAYOUT

    def __post_init__(self) -> None:
        params = POLICY_PARAMS.resolve(self.params)
        object.__setattr__(self, "params", params)
        cameras = dict(self.cameras) if self.cameras is not None else camera_map(params)
        if not cameras:
            raise ValueError("cameras must name at least one camera topic")
        object.__setattr__(self, "cameras", cameras)
        if self.joint_topics is None:
            object.__setattr__(self, "joint_topics", (params["joint_states_topic"],))
        if self.timing not in TIMINGS:
            raise ValueError(f"timing must be one of {TIMINGS}, got {self.timing!r}")
        if not (math.isfinite(self.inference_delay) and 0.0 <= self.inference_delay <= 60.0):
            raise ValueError(f"inference_delay must be in [0, 60] s, got {self.inference_delay}")
        if not 0.0 <= self.settle_time <= 60.0:
            raise ValueError(f"settle_time must be in [0, 60] s, got {self.settle_time}")

    @property
    def camera_topics(self) -> dict[str, str]:
        """View name -> image topic, as resolved from ``cameras`` or the node's settings."""
        return dict(cast(Mapping[str, str], self.cameras))

    @property
    def joint_state_topics(self) -> tuple[str, ...]:
        """The joint-state topics, as resolved from ``joint_topics`` or the node's settings."""
        return cast(tuple[str, ...], self.joint_topics)

    def with_params(self, **changes: Any) -> ReplayConfig:
        """A copy whose node settings have ``changes`` (checked against the table)."""
        return replace(self, params={**self.params, **changes})

    # The node settings the replay itself reads (all others go to build_controller).
    @property
    def command_topic(self) -> str:
        return str(self.params["command_topic"])

    @property
    def action_chunk_topic(self) -> str:
        return str(self.params["action_chunk_topic"])

    @property
    def instruction_topic(self) -> str:
        return str(self.params["instruction_topic"])

    @property
    def control_rate(self) -> float:
        return float(self.params["control_rate"])

    @property
    def min_inference_period(self) -> float:
        return float(self.params["min_inference_period"])

    def safety_limits(self) -> SafetyLimits:
        """The command limits the simulated node applies."""
        return safety_limits(self.params, self.layout)


@dataclass
class ChunkRecord:
    """One inference of the replay."""

    observation_time: float
    start: float
    arrival: float
    actions: np.ndarray
    subtask: str = ""
    chunk_id: int = -1
    skipped: int = 0
    dropped: str = ""
    recorded_actions: np.ndarray | None = None


@dataclass
class ReplayResult:
    """Everything a replay produced (times are seconds on the bag's clock)."""

    label: str
    timing: str
    inference_delay: float
    tick_times: np.ndarray
    predicted: np.ndarray  # (N, D); NaN before the first usable joint state
    recorded: np.ndarray  # (N, D) recorded command at each tick; NaN where none
    recorded_times: np.ndarray  # every recorded command (M,)
    recorded_values: np.ndarray  # (M, D)
    chunks: list[ChunkRecord]
    stats: dict[str, Any]
    compare_from: float = -math.inf

    @property
    def boundaries(self) -> np.ndarray:
        """Arrival times of accepted chunks."""
        return np.array([c.arrival for c in self.chunks if c.chunk_id >= 0], float)


@dataclass
class _Recorded:
    """The node's outputs in the bag, and when the first camera's frames arrived."""

    command_times: np.ndarray
    commands: np.ndarray
    chunk_stamps: np.ndarray  # observation times of recorded chunks
    chunk_logs: np.ndarray  # their log times
    chunk_infer: np.ndarray  # their inference durations
    chunk_actions: list[np.ndarray]
    frame_stamps: np.ndarray  # first camera: header stamps
    frame_logs: np.ndarray  # first camera: log times


def _read_recorded(reader: BagReader, cfg: ReplayConfig, progress: bool) -> _Recorded:
    mapper = JointMapper(cfg.layout, (cfg.command_topic,), cfg.allow_extra_joints)
    first_cam = next(iter(cfg.camera_topics.values()))
    cols: dict[str, list[Any]] = {k: [] for k in ("t", "cmd", "cs", "cl", "ci", "ca", "fs", "fl")}
    wanted = [
        t for t in (cfg.command_topic, cfg.action_chunk_topic, first_cam) if t in reader.topics
    ]
    scan = tqdm(reader.messages(wanted), desc="scanning", unit="msg", disable=not progress)
    for m in scan:
        if m.topic == first_cam:
            cols["fs"].append(msg_time(m.msg, m.log_time_ns))
            cols["fl"].append(m.log_time_ns / 1e9)
        elif m.topic == cfg.command_topic:
            idx, vals = mapper.values(m.topic, m.msg)
            row = np.full(cfg.layout.dim, np.nan)
            row[idx] = vals
            cols["t"].append(msg_time(m.msg, m.log_time_ns))
            cols["cmd"].append(row)
        else:
            cols["cs"].append(stamp_ns(m.msg) / 1e9)
            cols["cl"].append(m.log_time_ns / 1e9)
            cols["ci"].append(float(m.msg.inference_time))
            cols["ca"].append(_chunk_positions(m.msg, cfg.layout, m.topic))
    if cols["cmd"]:
        mapper.check_complete()
    order = np.argsort(cols["t"], kind="stable")
    arr = {k: np.asarray(v, float) for k, v in cols.items() if k not in ("cmd", "ca")}
    return _Recorded(
        arr["t"][order],
        np.asarray(cols["cmd"], float).reshape(-1, cfg.layout.dim)[order],
        arr["cs"],
        arr["cl"],
        arr["ci"],
        cols["ca"],
        arr["fs"],
        arr["fl"],
    )


def _chunk_positions(msg: Any, layout: ActionLayout, topic: str) -> np.ndarray:
    names = list(msg.joint_names)
    if names != list(layout.names):
        raise LayoutMismatchError(
            f"ActionChunk on {topic} has joint_names {names}; expected the layout "
            f"{list(layout.names)}"
        )
    pos = np.asarray(msg.positions, float)
    if pos.size != int(msg.horizon) * len(names):
        raise BagError(
            f"ActionChunk on {topic}: {pos.size} positions != horizon {msg.horizon} x "
            f"{len(names)} joints"
        )
    return pos.reshape(int(msg.horizon), len(names))


class _SimClock:
    """The simulated clock every runtime object reads (seconds on the bag's clock)."""

    def __init__(self) -> None:
        self.now = -math.inf

    def __call__(self) -> float:
        return self.now


class _GatedPolicy:
    """Wraps the policy so a replayed inference can take simulated time.

    ``predict`` computes the chunk at once, reports it, then blocks until the replay loop has
    moved the clock to the chunk's arrival time and releases it; meanwhile the loop runs the
    control ticks that fall inside the inference, as the node's timer would.
    """

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.reached = threading.Event()  # predict computed (or the attempt ended without one)
        self.release = threading.Event()
        self.last: tuple[Observation, ActionChunk] | None = None
        self.errors: dict[str, int] = {}  # what predict raised (the controller only holds)

    @property
    def supports_guidance(self) -> bool:
        return supports_guidance(self.inner)

    def reset(self) -> None:
        self.inner.reset()

    def predict(self, observation: Observation) -> ActionChunk:
        try:
            chunk = self.inner.predict(observation)
            self.last = (observation, chunk)
        except Exception as e:
            key = f"{type(e).__name__}: {e}"[:300]
            self.errors[key] = self.errors.get(key, 0) + 1
            raise
        finally:
            self.reached.set()
        self.release.wait()
        return chunk


class _Simulation:
    """The policy node's :class:`PolicyController` on a simulated clock (see module docstring)."""

    def __init__(
        self, policy: Policy, cfg: ReplayConfig, rec: _Recorded, timing: str, ticks: np.ndarray
    ) -> None:
        self.cfg, self.rec, self.timing, self.ticks = cfg, rec, timing, ticks
        self.clock = _SimClock()
        self.gate = _GatedPolicy(policy)
        # The node's controller, built from the node's settings as the node builds it.
        self.controller = build_controller(
            cfg.params,
            self.gate,
            self.clock,
            layout=cfg.layout,
            cameras=tuple(cfg.camera_topics),
            on_chunk=self._on_chunk,
        )
        self.mapper = JointMapper(cfg.layout, cfg.joint_state_topics, cfg.allow_extra_joints)
        self.camera_of = {topic: name for name, topic in cfg.camera_topics.items()}
        self.predicted = np.full((len(ticks), cfg.layout.dim), np.nan)
        self.states = np.zeros(len(ticks), np.int8)
        self.chunks: list[ChunkRecord] = []
        self.events: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self._inflight: tuple[threading.Thread, ChunkRecord] | None = None
        self._accepted: ChunkEvent | None = None
        self.next_allowed, self.last_obs = -math.inf, -math.inf
        self.counts = {"observation_mismatch": 0, "not_reproduced": 0, "chunks_before_inputs": 0}
        self.first_camera = next(iter(cfg.camera_topics.values()))
        self._first_stamp = -math.inf  # stamp of the newest frame of the first camera
        self._pending: int | None = None  # recorded inference waiting for its frame
        self._seen: set[str] = set()  # input topics that delivered at least one message
        if cfg.instruction is not None:
            self.controller.set_instruction(cfg.instruction)

    # -- events ------------------------------------------------------------------------------
    def _push(self, t: float, prio: int, payload: Any) -> None:
        self._seq += 1  # unique tie-breaker: payloads are never compared
        heapq.heappush(self.events, (t, prio, self._seq, payload))

    def schedule(self) -> None:
        if self.rec.command_times.size:
            self._push(float(self.rec.command_times[0]), _INIT, None)
        for i, t in enumerate(self.ticks):
            self._push(float(t), _TICK, i)
        if self.timing == "recorded":
            prev_arrival = -math.inf
            first_frame = self.rec.frame_stamps.min() if self.rec.frame_stamps.size else math.inf
            for i in range(len(self.rec.chunk_stamps)):
                if self.rec.chunk_stamps[i] < first_frame - 1e-6:
                    # Made from a frame the bag does not hold (the recorder subscribed to the
                    # chunks first): nothing to reproduce it from.
                    self.counts["chunks_before_inputs"] += 1
                    continue
                start = max(self._recorded_start(i), prev_arrival)
                self._push(start, _START, i)
                prev_arrival = float(self.rec.chunk_logs[i])

    def _recorded_start(self, i: int) -> float:
        """When the node started inference ``i``: after the frame it used arrived and before the
        next one, as close to ``log time - inference_time`` as that allows."""
        rec = self.rec
        start = rec.chunk_logs[i] - rec.chunk_infer[i]
        hit = np.flatnonzero(np.abs(rec.frame_stamps - rec.chunk_stamps[i]) < 1e-6)
        if hit.size:
            f = int(hit[0])
            nxt = rec.frame_logs[f + 1] if f + 1 < len(rec.frame_logs) else math.inf
            start = min(max(start, rec.frame_logs[f]), nxt - 1e-6)
        return float(min(start, rec.chunk_logs[i]))

    def advance(self, until: float) -> None:
        """Process every event strictly before ``until``."""
        while self.events and self.events[0][0] < until:
            t, prio, _, payload = heapq.heappop(self.events)
            self.clock.now = t
            if prio == _TICK:
                self._tick(payload)
            elif prio == _INIT:
                self._init_from_recorded()
            elif prio == _START:
                self._start_recorded(payload)
            elif prio == _TRY:
                self._maybe_start()
            else:
                self._arrive()

    # -- inputs ------------------------------------------------------------------------------
    def apply(self, topic: str, log_ns: int, msgtype: str, msg: Any, first: bool) -> None:
        now = self.clock.now = log_ns / 1e9
        sync = self.controller.sync
        self._seen.add(topic)
        try:
            if topic in self.camera_of:
                rgb = decode_image(msg, msgtype, topic)
                sync.add_image(self.camera_of[topic], rgb, msg_time(msg, log_ns), now)
                if topic == self.first_camera:
                    self._first_stamp = msg_time(msg, log_ns)
                    self._run_pending()
            elif topic in self.mapper.topics:
                idx, vals = self.mapper.values(topic, msg)
                names = [self.cfg.layout.names[i] for i in idx]
                sync.add_joint_state(names, vals.tolist(), msg_time(msg, log_ns), now)
            elif self.cfg.instruction is None and not first:
                self.controller.set_instruction(str(msg.data))
        except InputRejectedError:
            pass  # counted by ObservationSync.rejected, as in the node
        if self.timing == "simulated":
            self._maybe_start()

    def _run_pending(self) -> None:
        i = self._pending
        if i is not None and self._first_stamp >= self.rec.chunk_stamps[i] - 1e-6:
            self._pending = None
            self._start_recorded(i)

    def set_initial_instruction(self, text: str) -> None:
        """The instruction latched before recording began holds from the bag's start."""
        self.controller.set_instruction(text)

    # -- control loop ------------------------------------------------------------------------
    def _init_from_recorded(self) -> None:
        """Start where the node was when the bag begins: at its first recorded command.

        A bag recorded while the node was already running starts mid-chunk; the replay cannot
        know the chunks before the bag, but it can start the safety filter and the scheduler from
        the node's command instead of the measured position (the node's own starting point when
        it starts inside the bag, so nothing changes then).
        """
        cmd = self.rec.commands[0]
        if np.all(np.isfinite(cmd)):
            self.controller.safety.reset(cmd)
            self.controller.scheduler.hold(cmd, self.clock.now)

    def _tick(self, i: int) -> None:
        out = self.controller.tick(self.clock.now)
        self.states[i] = out.state
        if out.command is not None:
            self.predicted[i] = out.command.position

    # -- inference ---------------------------------------------------------------------------
    def _launch(self, arrival: float | None) -> ChunkRecord | None:
        """Run ``infer_once`` at the current time; its chunk arrives at ``arrival`` (None:
        after ``inference_delay``). Returns the record, or None when nothing was predicted."""
        start = self.clock.now
        self.gate.reached.clear()
        self.gate.release.clear()
        self.gate.last = None
        thread = threading.Thread(target=self._infer, daemon=True)
        thread.start()
        self.gate.reached.wait()
        if self.gate.last is None:  # no fresh observation, or predict raised
            thread.join()
            return None
        obs, chunk = self.gate.last
        t_arr = start + self.cfg.inference_delay if arrival is None else max(start, arrival)
        record = ChunkRecord(
            float(chunk.observation_time),
            start,
            t_arr,
            np.asarray(chunk.actions, np.float32),
            chunk.subtask_text,
        )
        self.chunks.append(record)
        self.last_obs = float(obs.timestamp)
        self._inflight = (thread, record)
        self._push(t_arr, _ARRIVE, record)
        return record

    def _infer(self) -> None:
        try:
            self.controller.infer_once(timeout=0.0)
        finally:
            self.gate.reached.set()

    def _start_recorded(self, i: int) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._start_recorded(pending)  # its frame never came; run it on what there is
        stamp = float(self.rec.chunk_stamps[i])
        if self._first_stamp < stamp - 1e-6 and np.any(
            np.abs(self.rec.frame_stamps - stamp) < 1e-6
        ):
            # The recorder received the frame after the chunk made from it (a busy machine
            # delivers big images late): start once the frame is in, as the node did.
            self._pending = i
            return
        if self._inflight is not None:
            self._arrive()  # the previous chunk cannot still be running (the node is sequential)
        failed = sum(self.gate.errors.values())
        record = self._launch(float(self.rec.chunk_logs[i]))
        if record is None:
            if sum(self.gate.errors.values()) > failed:
                return  # predict raised: counted in inference_errors
            complete = set(self.cfg.camera_topics.values()) <= self._seen
            complete = complete and self.controller.sync.joint_positions() is not None
            self.counts["not_reproduced" if complete else "chunks_before_inputs"] += 1
            return
        if abs(record.observation_time - self.rec.chunk_stamps[i]) > 1e-6:
            self.counts["observation_mismatch"] += 1
        record.recorded_actions = self.rec.chunk_actions[i]

    def _maybe_start(self) -> None:
        now = self.clock.now
        if self._inflight is not None or now < self.next_allowed:
            return
        instruction = self.controller.instruction
        obs = self.controller.sync.latest(now, instruction) if instruction else None
        if obs is None or obs.timestamp <= self.last_obs:
            return  # infer_once would not predict either; spare the thread
        self.next_allowed = now + self.cfg.min_inference_period
        self._launch(None)

    def _arrive(self) -> None:
        if self._inflight is None:
            return
        thread, record = self._inflight
        self._inflight, self._accepted = None, None
        self.clock.now = max(self.clock.now, record.arrival)
        self.gate.release.set()
        thread.join()
        if self._accepted is not None:
            record.chunk_id = self._accepted.accept.chunk_id
            record.skipped = self._accepted.accept.skipped
        else:
            record.dropped = self.controller.status().reason or "dropped"
        if self.timing == "simulated":
            if self.next_allowed > self.clock.now:
                self._push(self.next_allowed, _TRY, None)
            self._maybe_start()

    def _on_chunk(self, event: ChunkEvent) -> None:
        self._accepted = event

    def finish(self) -> None:
        self.advance(math.inf)
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._start_recorded(pending)
        self.advance(math.inf)
        self._arrive()

    def stats(self) -> dict[str, Any]:
        c = self.controller
        status = c.status()
        return {
            **self.counts,
            "inferences": len(self.chunks),
            "accepted_chunks": sum(r.chunk_id >= 0 for r in self.chunks),
            "inference_failures": status.inference_failures,
            "inference_errors": dict(self.gate.errors),
            "ticks_with_command": int(np.isfinite(self.predicted[:, 0]).sum()),
            "ticks_running": int((self.states == STATE_RUNNING).sum()),
            "ticks_holding": int((self.states == STATE_HOLDING).sum()),
            "scheduler": dict(c.scheduler.stats),
            "safety": {**c.safety.counts, "clamp_count": c.safety.clamp_count},
            "rejected_inputs": dict(c.sync.rejected),
        }


def _tick_times(rec: _Recorded, cfg: ReplayConfig, reader: BagReader) -> np.ndarray:
    """The recorded command stamps, preceded by the node's unrecorded ticks (same phase) back to
    the bag's start; a regular grid when the bag has no commands."""
    period = 1.0 / cfg.control_rate
    start = reader.start_ns / 1e9
    if rec.command_times.size:
        first = rec.command_times[0]
        n_before = math.floor((first - start) / period)
        before = first - period * np.arange(n_before, 0, -1)
        return np.concatenate([before, rec.command_times])
    n = math.floor(reader.duration_s * cfg.control_rate) + 1
    return start + np.arange(n) * period


def _recorded_at(rec: _Recorded, ticks: np.ndarray) -> np.ndarray:
    """Recorded command at each tick: exact when ticks are the recorded stamps, else linear."""
    if rec.command_times.size == 0:
        return np.full((len(ticks), rec.commands.shape[1]), np.nan)
    if rec.command_times.shape == ticks.shape and np.array_equal(rec.command_times, ticks):
        return rec.commands.copy()
    out = np.full((len(ticks), rec.commands.shape[1]), np.nan)
    inside = (ticks >= rec.command_times[0]) & (ticks <= rec.command_times[-1])
    for j in range(rec.commands.shape[1]):
        out[inside, j] = np.interp(ticks[inside], rec.command_times, rec.commands[:, j])
    return out


def replay(
    bag: str | BagReader,
    policy: Policy,
    cfg: ReplayConfig,
    label: str = "",
    progress: bool = True,
) -> ReplayResult:
    """Replay ``policy`` on ``bag`` (see the module docstring).

    Raises:
        BagError: missing input topics, ``timing="recorded"`` without recorded chunks, no
            instruction anywhere, or a damaged bag.
        LayoutMismatchError: joint names that do not fit ``cfg.layout``.
    """
    if not isinstance(bag, BagReader):
        with BagReader(bag) as reader:
            return replay(reader, policy, cfg, label, progress)
    try:
        return _replay(bag, policy, cfg, label, progress)
    except LayoutMismatchError as e:  # name the bag: the joint names came from it
        raise LayoutMismatchError(f"bag {bag.path}: {e}") from e


def _check_bag(reader: BagReader, cfg: ReplayConfig) -> str:
    extra: dict[str, Any] = {}
    if cfg.instruction is None:
        extra[cfg.instruction_topic] = STRING_TYPE
    require_inputs(reader, cfg.camera_topics, cfg.joint_state_topics, extra)
    for topic, typ in ((cfg.command_topic, JOINT_STATE_TYPE), (cfg.action_chunk_topic, CHUNK_TYPE)):
        if topic in reader.topics and reader.topics[topic].count:
            reader.require({topic: typ})
    has_chunks = (
        cfg.action_chunk_topic in reader.topics and reader.topics[cfg.action_chunk_topic].count > 0
    )
    timing = cfg.timing if cfg.timing != "auto" else ("recorded" if has_chunks else "simulated")
    if timing == "recorded" and not has_chunks:
        raise BagError(
            f"bag {reader.path}: timing 'recorded' needs the policy's chunks on "
            f"{cfg.action_chunk_topic}, which the bag lacks; use timing 'simulated'"
        )
    return timing


def _warmup_end(chunks: list[ChunkRecord], cfg: ReplayConfig, ticks: np.ndarray) -> float:
    """Until the first replayed chunk has fully blended in, the target still depends on chunks
    the node computed before the bag began, and the safety filter needs ``settle_time`` more to
    forget that start; comparisons begin after that."""
    first = next((c.arrival for c in chunks if c.chunk_id >= 0), None)
    if first is None:
        return float(ticks[0]) if ticks.size else -math.inf
    return first + float(cfg.params["blend_time"]) + cfg.settle_time


def _first_instruction(reader: BagReader, cfg: ReplayConfig) -> str | None:
    if cfg.instruction is not None:
        return None
    for m in reader.messages([cfg.instruction_topic]):
        return str(m.msg.data)
    return None


def _replay(
    reader: BagReader, policy: Policy, cfg: ReplayConfig, label: str, progress: bool
) -> ReplayResult:
    timing = _check_bag(reader, cfg)
    rec = _read_recorded(reader, cfg, progress)
    ticks = _tick_times(rec, cfg, reader)
    sim = _Simulation(policy, cfg, rec, timing, ticks)
    first_text = _first_instruction(reader, cfg)
    if first_text is not None:
        sim.set_initial_instruction(first_text)
    sim.schedule()
    inputs = [*cfg.camera_topics.values(), *cfg.joint_state_topics]
    if cfg.instruction is None:
        inputs.append(cfg.instruction_topic)
    total = sum(reader.topics[t].count for t in inputs)
    bar = tqdm(total=total, desc=f"replay {label}".strip(), unit="msg", disable=not progress)
    seen_instruction = False
    with bar:
        for m in reader.messages(inputs):
            sim.advance(m.log_time_ns / 1e9)
            first = m.topic == cfg.instruction_topic and not seen_instruction
            seen_instruction = seen_instruction or m.topic == cfg.instruction_topic
            sim.apply(m.topic, m.log_time_ns, m.msgtype, m.msg, first)
            bar.update(1)
        sim.finish()
    delay = f" delay {cfg.inference_delay:g} s" if timing == "simulated" else ""
    return ReplayResult(
        label=label or f"{timing}{delay}",
        timing=timing,
        inference_delay=cfg.inference_delay if timing == "simulated" else float("nan"),
        tick_times=ticks,
        predicted=sim.predicted,
        recorded=_recorded_at(rec, ticks),
        recorded_times=rec.command_times,
        recorded_values=rec.commands,
        chunks=sim.chunks,
        stats=sim.stats(),
        compare_from=_warmup_end(sim.chunks, cfg, ticks),
    )


__all__ = ["TIMINGS", "ChunkRecord", "ReplayConfig", "ReplayResult", "replay"]
