"""The H1 bridge without ROS: Unitree message packing, CRC and the arm_sdk weight state machine.

Protocol (unitree_go IDL, as on the H1):
    * ``rt/arm_sdk`` carries a ``LowCmd_`` whose 8 arm slots (``vla_lego.robot.MOTOR_INDEX``) hold
      position targets with gains, and whose slot ``ARM_SDK_WEIGHT_INDEX`` (9) carries the blend
      weight in ``q``: 0 leaves the arms to the robot's own controller, 1 gives them to us. The
      waist (slot ``WAIST_MOTOR_INDEX``, 6) is taken over with the arms (Unitree's
      ``h1_arm_sdk_dds_example`` commands it too), so it is held where it was measured when the
      weight left 0. The robot checks the CRC computed by the SDK over the packed message.
    * ``rt/inspire/cmd`` carries ``MotorCmds_`` with 12 entries (right hand 0-5, left 6-11) whose
      ``q`` is the normalised opening (0 closed .. 1 open).

:class:`ArmBridge` turns a stream of measured states and commanded 20-vectors (``H1_LAYOUT``
order) into the messages to send at each control tick: it sends nothing before the first valid
state, ramps the weight up while commands are fresh, down to 0 when they go stale, on a fault or
on shutdown, and moves the commanded position at most ``velocity / rate`` per tick (the lower of
the configured and the joint's hardware velocity limit), starting from the measured position.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from unitree_sdk2py.idl.default import (
    unitree_go_msg_dds__LowCmd_,
    unitree_go_msg_dds__LowState_,
    unitree_go_msg_dds__MotorCmd_,
    unitree_go_msg_dds__MotorState_,
)
from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_, LowState_, MotorCmds_, MotorStates_
from unitree_sdk2py.utils.crc import CRC

from h1_bringup.bridge_params import BRIDGE_PARAMS as _P
from vla_lego.robot import (
    ARM_SDK_WEIGHT_INDEX,
    H1_LAYOUT,
    INSPIRE_HAND_INDEX,
    MOTOR_INDEX,
    NUM_MOTORS,
    WAIST_LIMITS,
    WAIST_MOTOR_INDEX,
    ActionLayout,
)

# Header bytes and motor modes the H1 expects (Unitree's H1 examples: arm motors are "weak"
# motors driven in mode 0x01, the waist a "strong" one in mode 0x0A).
LOWCMD_HEAD = (0xFE, 0xEF)
LOWCMD_LEVEL_FLAG = 0xFF
ARM_MOTOR_MODE = 0x01
WAIST_MOTOR_MODE = 0x0A

ARM_NAMES: tuple[str, ...] = H1_LAYOUT.arm_names
HAND_NAMES: tuple[str, ...] = H1_LAYOUT.hand_names
# unitree_go motor slot of each arm entry, in layout order (left arm 16-19, right arm 12-15).
ARM_SLOTS: tuple[int, ...] = tuple(MOTOR_INDEX[n] for n in ARM_NAMES)
# rt/inspire/cmd entry of each hand entry, in layout order (left hand 6-11, right hand 0-5).
HAND_SLOTS: tuple[int, ...] = tuple(INSPIRE_HAND_INDEX[n] for n in HAND_NAMES)
NUM_ARM = len(ARM_NAMES)
NUM_HAND = len(HAND_NAMES)

_crc = CRC()
# Bridge settings that are BridgeConfig fields (the others configure the node's DDS and topics).
_SCALAR_FIELDS = (
    "control_rate",
    "ramp_up_time",
    "ramp_down_time",
    "command_timeout",
    "state_timeout",
    "arm_max_velocity",
    "hand_max_velocity",
    "waist_kp",
    "waist_kd",
    "max_tracking_error",
)
_TABLE_FIELDS = ("kp", "kd", *_SCALAR_FIELDS)


def compute_crc(msg: LowCmd_ | LowState_) -> int:
    """CRC32 of a unitree_go ``LowCmd_``/``LowState_`` as the SDK (and the robot) computes it."""
    return int(_crc.Crc(msg))


def crc_ok(msg: LowCmd_ | LowState_) -> bool:
    """True when the message's ``crc`` field matches the SDK's CRC of its contents."""
    return int(msg.crc) == compute_crc(msg)


def _as_vector(x: Sequence[float] | np.ndarray, n: int, what: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64).reshape(-1)
    if v.shape != (n,):
        raise ValueError(f"{what}: expected {n} values, got shape {np.shape(x)}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{what}: expected finite values, got {v.tolist()}")
    return v


def pack_arm_cmd(
    q: Sequence[float] | np.ndarray,
    kp: Sequence[float] | np.ndarray,
    kd: Sequence[float] | np.ndarray,
    weight: float,
    waist: tuple[float, float, float] | None = None,
) -> LowCmd_:
    """Build the ``rt/arm_sdk`` ``LowCmd_`` for the 8 arm motors (and the waist), with the CRC.

    Args:
        q: Arm position targets (rad), ``H1_LAYOUT`` arm order (left 4, right 4).
        kp: Position gains, same order.
        kd: Damping gains, same order.
        weight: arm_sdk blend weight in [0, 1], written to ``motor_cmd[9].q``.
        waist: ``(q, kp, kd)`` of the waist motor; ``None`` leaves its slot empty.

    Raises:
        ValueError: on a wrong length, a non-finite value, a weight outside [0, 1] or a waist
            target outside its limits.
    """
    qv = _as_vector(q, NUM_ARM, "arm q")
    kpv = _as_vector(kp, NUM_ARM, "arm kp")
    kdv = _as_vector(kd, NUM_ARM, "arm kd")
    if not (math.isfinite(weight) and 0.0 <= weight <= 1.0):
        raise ValueError(f"arm_sdk weight must be in [0, 1], got {weight}")
    if waist is not None:
        wq, wkp, wkd = _as_vector(waist, 3, "waist (q, kp, kd)")
        if not WAIST_LIMITS[0] <= wq <= WAIST_LIMITS[1] or wkp < 0 or wkd < 0:
            raise ValueError(
                f"waist target {wq} must be within {WAIST_LIMITS} and its gains >= 0, "
                f"got kp {wkp}, kd {wkd}"
            )
    msg = unitree_go_msg_dds__LowCmd_()
    msg.head = list(LOWCMD_HEAD)
    msg.level_flag = LOWCMD_LEVEL_FLAG
    for i, slot in enumerate(ARM_SLOTS):
        m = msg.motor_cmd[slot]
        m.mode = ARM_MOTOR_MODE
        m.q, m.dq, m.tau = float(qv[i]), 0.0, 0.0
        m.kp, m.kd = float(kpv[i]), float(kdv[i])
    if waist is not None:
        w = msg.motor_cmd[WAIST_MOTOR_INDEX]
        w.mode = WAIST_MOTOR_MODE
        w.q, w.dq, w.tau, w.kp, w.kd = float(wq), 0.0, 0.0, float(wkp), float(wkd)
    msg.motor_cmd[ARM_SDK_WEIGHT_INDEX].q = float(weight)
    msg.crc = compute_crc(msg)
    return msg


@dataclass(frozen=True)
class ArmCommand:
    """What an ``rt/arm_sdk`` message asks of the arms (the robot side of :func:`pack_arm_cmd`)."""

    q: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    weight: float
    waist: tuple[float, float, float] = (0.0, 0.0, 0.0)  # (q, kp, kd); gains 0: not held


def unpack_arm_cmd(msg: LowCmd_) -> ArmCommand:
    """Read the arm targets, gains and weight out of an ``rt/arm_sdk`` message (no CRC check)."""
    cmds = msg.motor_cmd
    w = cmds[WAIST_MOTOR_INDEX]
    return ArmCommand(
        q=np.array([cmds[s].q for s in ARM_SLOTS], dtype=np.float64),
        kp=np.array([cmds[s].kp for s in ARM_SLOTS], dtype=np.float64),
        kd=np.array([cmds[s].kd for s in ARM_SLOTS], dtype=np.float64),
        weight=float(cmds[ARM_SDK_WEIGHT_INDEX].q),
        waist=(float(w.q), float(w.kp), float(w.kd)),
    )


def pack_hand_cmd(hand: Sequence[float] | np.ndarray) -> MotorCmds_:
    """Build the ``rt/inspire/cmd`` ``MotorCmds_`` from 12 openings in ``H1_LAYOUT`` hand order."""
    hv = np.clip(_as_vector(hand, NUM_HAND, "hand q"), 0.0, 1.0)
    cmds = [unitree_go_msg_dds__MotorCmd_() for _ in range(NUM_HAND)]
    for i, slot in enumerate(HAND_SLOTS):
        cmds[slot].q = float(hv[i])
    return MotorCmds_(cmds=cmds)


def unpack_hand_cmd(msg: MotorCmds_) -> np.ndarray:
    """Hand openings in ``H1_LAYOUT`` hand order from an ``rt/inspire/cmd`` message."""
    if len(msg.cmds) != NUM_HAND:
        raise ValueError(f"rt/inspire/cmd: expected {NUM_HAND} entries, got {len(msg.cmds)}")
    return np.array([msg.cmds[s].q for s in HAND_SLOTS], dtype=np.float64)


def pack_hand_state(hand: Sequence[float] | np.ndarray) -> MotorStates_:
    """``rt/inspire/state`` ``MotorStates_`` (12 entries, Inspire order) from layout openings."""
    hv = _as_vector(hand, NUM_HAND, "hand state")
    states = [unitree_go_msg_dds__MotorState_() for _ in range(NUM_HAND)]
    for i, slot in enumerate(HAND_SLOTS):
        states[slot].q = float(hv[i])
    return MotorStates_(states=states)


def unpack_hand_state(msg: MotorStates_) -> np.ndarray:
    """Hand openings in ``H1_LAYOUT`` hand order from an ``rt/inspire/state`` message."""
    if len(msg.states) != NUM_HAND:
        raise ValueError(f"rt/inspire/state: expected {NUM_HAND} entries, got {len(msg.states)}")
    return np.array([msg.states[s].q for s in HAND_SLOTS], dtype=np.float64)


def pack_lowstate(
    q: Sequence[float] | np.ndarray,
    dq: Sequence[float] | np.ndarray,
    tick: int,
    waist_q: float = 0.0,
) -> LowState_:
    """A ``LowState_`` with the arm joints (layout arm order) and the waist filled in, with the
    SDK's CRC."""
    qv = _as_vector(q, NUM_ARM, "arm state q")
    dqv = _as_vector(dq, NUM_ARM, "arm state dq")
    msg = unitree_go_msg_dds__LowState_()
    msg.head = list(LOWCMD_HEAD)
    msg.level_flag = LOWCMD_LEVEL_FLAG
    msg.motor_state = [unitree_go_msg_dds__MotorState_() for _ in range(NUM_MOTORS)]
    for i, slot in enumerate(ARM_SLOTS):
        msg.motor_state[slot].mode = ARM_MOTOR_MODE
        msg.motor_state[slot].q = float(qv[i])
        msg.motor_state[slot].dq = float(dqv[i])
    msg.motor_state[WAIST_MOTOR_INDEX].mode = WAIST_MOTOR_MODE
    msg.motor_state[WAIST_MOTOR_INDEX].q = float(waist_q)
    msg.tick = int(tick) & 0xFFFFFFFF
    msg.crc = compute_crc(msg)
    return msg


def unpack_lowstate(msg: LowState_) -> tuple[np.ndarray, np.ndarray]:
    """Measured arm ``(q, dq)`` in ``H1_LAYOUT`` arm order from a ``LowState_``."""
    ms = msg.motor_state
    q = np.array([ms[s].q for s in ARM_SLOTS], dtype=np.float64)
    dq = np.array([ms[s].dq for s in ARM_SLOTS], dtype=np.float64)
    return q, dq


def unpack_waist_q(msg: LowState_) -> float:
    """Measured waist position (rad) from a ``LowState_``."""
    return float(msg.motor_state[WAIST_MOTOR_INDEX].q)


class BridgeMode(enum.Enum):
    """Where the bridge's state machine is."""

    WAITING_FOR_STATE = "waiting_for_state"  # no valid rt/lowstate yet: send nothing
    IDLE = "idle"  # weight 0, no fresh commands: send nothing (state silence: back to waiting)
    RAMP_UP = "ramp_up"
    ACTIVE = "active"
    RAMP_DOWN = "ramp_down"  # stale commands: back to the robot's controller
    STOPPING = "stopping"  # shutdown requested
    STOPPED = "stopped"
    FAULT = "fault"  # latched (state lost while commanding, ...): ramped down, never again


@dataclass(frozen=True)
class BridgeConfig:
    """Parameters of :class:`ArmBridge` (defaults follow Unitree's H1 arm_sdk example).

    Attributes:
        control_rate: Ticks per second (Hz) at which :meth:`ArmBridge.tick` is called.
        kp: Position gain per arm motor, layout arm order (8 values, or 1 for all).
        kd: Damping gain per arm motor, same form.
        ramp_up_time: Seconds for the weight to go from 0 to 1.
        ramp_down_time: Seconds for the weight to go from 1 to 0.
        command_timeout: Commands older than this (s) are stale (the watchdog).
        state_timeout: ``rt/lowstate`` silent for longer (s) while commanding is a latched fault;
            while idle it sends the bridge back to waiting for state.
        arm_max_velocity: Largest commanded arm joint speed (rad/s): per-tick delta clamp; a
            joint whose hardware limit (``layout.max_velocity``) is lower keeps its own.
        hand_max_velocity: Largest commanded hand opening speed (1/s), likewise.
        waist_kp: Position gain holding the waist while the weight is above 0.
        waist_kd: Damping gain of the waist, same.
        max_tracking_error: While active, a commanded arm position this far (rad) from the
            measured one (a collision, or a simulator reset) is dropped: the command restarts
            from the measured position, so the arm is never yanked towards a stale target.
        zero_weight_frames: Weight-0 frames sent after a ramp down reaches 0 (DDS is lossy).
        hand_initial: Hand opening reported before any hand state or command is known.
    """

    # Defaults and ranges: the node's settings table, h1_bringup.bridge_params.
    control_rate: float = _P.default("control_rate")
    kp: tuple[float, ...] = _P.default("kp")
    kd: tuple[float, ...] = _P.default("kd")
    ramp_up_time: float = _P.default("ramp_up_time")
    ramp_down_time: float = _P.default("ramp_down_time")
    command_timeout: float = _P.default("command_timeout")
    state_timeout: float = _P.default("state_timeout")
    arm_max_velocity: float = _P.default("arm_max_velocity")
    hand_max_velocity: float = _P.default("hand_max_velocity")
    waist_kp: float = _P.default("waist_kp")
    waist_kd: float = _P.default("waist_kd")
    max_tracking_error: float = _P.default("max_tracking_error")
    zero_weight_frames: int = 5
    hand_initial: float = 1.0
    kp_vec: np.ndarray = field(init=False, repr=False, compare=False)
    kd_vec: np.ndarray = field(init=False, repr=False, compare=False)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> BridgeConfig:
        """The config for the bridge node's settings (names of :data:`BRIDGE_PARAMS`)."""
        return cls(**{f: values[f] for f in _TABLE_FIELDS})

    def __post_init__(self) -> None:
        for name in _SCALAR_FIELDS:
            v = getattr(self, name)
            try:
                _P.check(name, v)
            except ValueError as e:
                raise ValueError(f"BridgeConfig: {e}") from None
        if self.zero_weight_frames < 1:
            raise ValueError(f"zero_weight_frames must be >= 1, got {self.zero_weight_frames}")
        if not 0.0 <= self.hand_initial <= 1.0:
            raise ValueError(f"hand_initial must be in [0, 1], got {self.hand_initial}")
        for name in ("kp", "kd"):
            v = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1)
            if v.size == 1:
                v = np.full(NUM_ARM, v[0])
            hi = float(_P[name].high or 0.0)
            if v.shape != (NUM_ARM,) or not np.all(np.isfinite(v)) or np.any((v < 0) | (v > hi)):
                raise ValueError(
                    f"BridgeConfig.{name} must be 1 or {NUM_ARM} finite values in [0, {hi}] "
                    f"(layout arm order {list(ARM_NAMES)}), got {getattr(self, name)!r}"
                )
            object.__setattr__(self, f"{name}_vec", v)

    @property
    def dt(self) -> float:
        return 1.0 / self.control_rate


@dataclass
class BridgeOutput:
    """What to send at one tick (``None``: send nothing on that channel)."""

    arm: LowCmd_ | None
    hand: MotorCmds_ | None
    weight: float
    mode: BridgeMode


class ArmBridge:
    """The arm_sdk weight state machine, joint delta clamp and packing (call from one thread).

    Args:
        config: Gains, rates and timeouts.
        layout: Robot layout (must be ``H1_LAYOUT``-compatible).
    """

    def __init__(self, config: BridgeConfig, layout: ActionLayout = H1_LAYOUT) -> None:
        H1_LAYOUT.check_compatible(layout, "bridge")
        self.config = config
        self.layout = layout
        self.mode = BridgeMode.WAITING_FOR_STATE
        self.weight = 0.0
        self.fault_reason = ""
        self.rejected_states = 0
        self.rejected_commands = 0
        self.clamped_values = 0
        self.tracking_resyncs = 0
        self.last_resync = ""
        self._arm_lower = layout.lower[layout.arm_slice]
        self._arm_upper = layout.upper[layout.arm_slice]
        # Per-joint speed caps: the configured one, or the joint's hardware limit where lower.
        self._arm_vmax = np.minimum(config.arm_max_velocity, layout.max_velocity[layout.arm_slice])
        self._hand_vmax = np.minimum(
            config.hand_max_velocity, layout.max_velocity[layout.hand_slice]
        )
        self._q_meas: np.ndarray | None = None
        self._waist_meas = 0.0
        self._waist_hold = 0.0
        self._dq_meas = np.zeros(NUM_ARM)
        self._state_time = -math.inf
        self._hand_meas: np.ndarray | None = None
        self._target: np.ndarray | None = None  # 20-vector, layout order, within limits
        self._command_time = -math.inf
        self._arm_desired = np.zeros(NUM_ARM)
        self._hand_desired: np.ndarray | None = None
        self._zero_frames_left = 0
        self._stop_requested = False
        self.state_gaps = 0  # rt/lowstate silences while idle (back to WAITING_FOR_STATE)

    # ----------------------------------------------------------------------------- inputs
    def on_lowstate(self, msg: LowState_, now: float) -> bool:
        """Take a measured state; returns False (and counts it) for a bad CRC or non-finite q."""
        if not crc_ok(msg):
            self.rejected_states += 1
            return False
        q, dq = unpack_lowstate(msg)
        waist = unpack_waist_q(msg)
        if not (np.all(np.isfinite(q)) and np.all(np.isfinite(dq)) and math.isfinite(waist)):
            self.rejected_states += 1
            return False
        self._q_meas, self._dq_meas, self._state_time = q, dq, now
        self._waist_meas = waist
        if self.mode is BridgeMode.WAITING_FOR_STATE:
            self.mode = BridgeMode.IDLE
        return True

    def on_hand_state(self, msg: MotorStates_) -> None:
        """Take measured hand openings from ``rt/inspire/state``."""
        hand = unpack_hand_state(msg)
        if np.all(np.isfinite(hand)):
            self._hand_meas = np.clip(hand, 0.0, 1.0)

    def on_command(self, positions: Sequence[float] | np.ndarray, now: float) -> None:
        """Take a commanded 20-vector (layout order); limits are enforced, clamps counted.

        Raises:
            ValueError: wrong length or non-finite values (the command is dropped and counted;
                the watchdog is not fed).
        """
        try:
            target = _as_vector(positions, self.layout.dim, "arm command")
        except ValueError:
            self.rejected_commands += 1
            raise
        clipped = self.layout.clip(target)
        self.clamped_values += int(np.count_nonzero(clipped != target))
        self._target, self._command_time = clipped, now

    def request_stop(self) -> None:
        """Shutdown: ramp the weight to 0, then stop sending."""
        self._stop_requested = True

    def fault(self, reason: str) -> None:
        """Latch a fault: ramp the weight to 0 and never command again."""
        if self.mode is not BridgeMode.FAULT:
            self.fault_reason = reason
            self.mode = BridgeMode.FAULT

    # ----------------------------------------------------------------------------- outputs
    @property
    def has_state(self) -> bool:
        return self._q_meas is not None

    @property
    def finished(self) -> bool:
        """True once a requested stop has brought the weight to 0 and the last frames are out."""
        return self._stop_requested and self.weight == 0.0 and self._zero_frames_left == 0

    def state_vector(self) -> np.ndarray | None:
        """Measured 20-vector in layout order (hands: measured, else last command, else initial)."""
        if self._q_meas is None:
            return None
        if self._hand_meas is not None:
            hand = self._hand_meas
        elif self._hand_desired is not None:
            hand = self._hand_desired
        else:
            hand = np.full(NUM_HAND, self.config.hand_initial)
        return np.concatenate([self._q_meas, hand])

    def tick(self, now: float) -> BridgeOutput:
        """Advance one control period and return what to send now."""
        cfg = self.config
        if self._q_meas is None or self.mode is BridgeMode.WAITING_FOR_STATE:
            return BridgeOutput(None, None, 0.0, self.mode)
        if now - self._state_time > cfg.state_timeout:
            silence = f"rt/lowstate silent for {now - self._state_time:.3f} s"
            if self.mode is BridgeMode.IDLE and self.weight == 0.0 and self._zero_frames_left == 0:
                # Nothing of ours reaches the robot while idle, so a gap (a robot or sim stalled
                # at start-up) is no fault: wait for fresh state again before ever ramping up.
                self.mode = BridgeMode.WAITING_FOR_STATE
                self.state_gaps += 1
                return BridgeOutput(None, None, 0.0, self.mode)
            self.fault(silence)
        fresh = self._target is not None and now - self._command_time <= cfg.command_timeout
        self._update_mode(fresh)
        if self.weight == 0.0 and self._zero_frames_left == 0:
            # Idle: the next ramp up starts from where the arm and the waist really are.
            self._arm_desired = np.clip(self._q_meas, self._arm_lower, self._arm_upper)
            self._waist_hold = float(np.clip(self._waist_meas, *WAIST_LIMITS))
        want = 1.0 if self.mode in (BridgeMode.RAMP_UP, BridgeMode.ACTIVE) else 0.0
        was = self.weight
        if want > self.weight:
            self.weight = min(1.0, self.weight + cfg.dt / cfg.ramp_up_time)
        elif want < self.weight:
            self.weight = max(0.0, self.weight - cfg.dt / cfg.ramp_down_time)
        if self.weight == 1.0 and self.mode is BridgeMode.RAMP_UP:
            self.mode = BridgeMode.ACTIVE
        if self.mode is BridgeMode.ACTIVE:
            self._check_tracking()
        if was > 0.0 and self.weight == 0.0:
            self._zero_frames_left = cfg.zero_weight_frames
        return self._emit(fresh)

    def _update_mode(self, fresh: bool) -> None:
        if self.mode in (BridgeMode.FAULT, BridgeMode.STOPPED):
            return
        if self._stop_requested:
            self.mode = BridgeMode.STOPPING
        elif fresh:
            if self.mode in (BridgeMode.IDLE, BridgeMode.RAMP_DOWN):
                self.mode = BridgeMode.RAMP_UP
        elif self.mode in (BridgeMode.RAMP_UP, BridgeMode.ACTIVE):
            self.mode = BridgeMode.RAMP_DOWN

    def _emit(self, fresh: bool) -> BridgeOutput:
        cfg = self.config
        assert self._q_meas is not None
        following = fresh and self.mode in (BridgeMode.RAMP_UP, BridgeMode.ACTIVE)
        if self.weight == 0.0 and self._zero_frames_left == 0:
            if self.mode in (BridgeMode.RAMP_DOWN, BridgeMode.STOPPING):
                self.mode = BridgeMode.STOPPED if self._stop_requested else BridgeMode.IDLE
            if not following:
                return BridgeOutput(None, None, 0.0, self.mode)
        if self.weight == 0.0 and self._zero_frames_left > 0:
            self._zero_frames_left -= 1
        hand_msg = None
        if following:
            assert self._target is not None
            self._arm_desired = self._step_towards(
                self._arm_desired, self._target[self.layout.arm_slice], self._arm_vmax
            )
            hand_target = self._target[self.layout.hand_slice]
            start = self._hand_desired if self._hand_desired is not None else self._hand_start()
            self._hand_desired = self._step_towards(start, hand_target, self._hand_vmax)
            hand_msg = pack_hand_cmd(self._hand_desired)
        waist = (self._waist_hold, cfg.waist_kp, cfg.waist_kd)
        arm_msg = pack_arm_cmd(self._arm_desired, cfg.kp_vec, cfg.kd_vec, self.weight, waist)
        return BridgeOutput(arm_msg, hand_msg, self.weight, self.mode)

    def _check_tracking(self) -> None:
        assert self._q_meas is not None
        err = np.abs(self._arm_desired - self._q_meas)
        j = int(np.argmax(err))
        if err[j] > self.config.max_tracking_error:
            self.tracking_resyncs += 1
            self.last_resync = f"{ARM_NAMES[j]} {err[j]:.2f} rad from its command"
            self._arm_desired = np.clip(self._q_meas, self._arm_lower, self._arm_upper)

    def _hand_start(self) -> np.ndarray:
        if self._hand_meas is not None:
            return self._hand_meas.copy()
        return np.full(NUM_HAND, self.config.hand_initial)

    def _step_towards(self, cur: np.ndarray, target: np.ndarray, vmax: np.ndarray) -> np.ndarray:
        step = vmax * self.config.dt
        return cur + np.clip(target - cur, -step, step)


__all__ = [
    "ARM_MOTOR_MODE",
    "ARM_NAMES",
    "ARM_SLOTS",
    "HAND_NAMES",
    "HAND_SLOTS",
    "ArmBridge",
    "ArmCommand",
    "BridgeConfig",
    "BridgeMode",
    "BridgeOutput",
    "compute_crc",
    "crc_ok",
    "pack_arm_cmd",
    "pack_hand_cmd",
    "pack_hand_state",
    "pack_lowstate",
    "unpack_arm_cmd",
    "unpack_hand_cmd",
    "unpack_hand_state",
    "unpack_lowstate",
    "unpack_waist_q",
]
