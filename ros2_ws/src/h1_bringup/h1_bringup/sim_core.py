"""The simulated H1's protocol side without ROS: Unitree messages in, MuJoCo env, messages out.

:class:`SimRobot` behaves towards DDS like the robot: it checks the CRC of every ``rt/arm_sdk``
``LowCmd_`` (a bad one is ignored and counted), hands the arm targets, gains and weight to the
env (which blends them with its hold posture by the weight, as the H1's arm_sdk does), takes
Inspire hand commands, advances physics to keep up with a clock, and produces ``LowState_`` (with
CRC) and ``rt/inspire/state`` messages. The env is injected (``vla_lego.sim.env.LegoEnv`` in the
node); its low-level API uses motor-slot order for arms and Inspire order for hands.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_, LowState_, MotorCmds_, MotorStates_

from h1_bringup.bridge_core import ARM_NAMES, NUM_HAND, crc_ok, pack_hand_state, pack_lowstate
from vla_lego.robot import ARM_SDK_WEIGHT_INDEX, HAND_JOINT_NAMES, INSPIRE_HAND_INDEX, MOTOR_INDEX

# The env's arm order: unitree_go motor slots ascending (right 12-15, then left 16-19).
MOTOR_ORDER: tuple[str, ...] = tuple(sorted(MOTOR_INDEX, key=MOTOR_INDEX.__getitem__))
_MOTOR_SLOTS = [MOTOR_INDEX[n] for n in MOTOR_ORDER]
_LAYOUT_FROM_MOTOR = [MOTOR_ORDER.index(n) for n in ARM_NAMES]
_INSPIRE_ORDER = tuple(sorted(INSPIRE_HAND_INDEX, key=INSPIRE_HAND_INDEX.__getitem__))
_LAYOUT_FROM_INSPIRE = [_INSPIRE_ORDER.index(n) for n in HAND_JOINT_NAMES]


class LowLevelEnv(Protocol):
    """What :class:`SimRobot` needs of the simulated scene (``LegoEnv`` provides it)."""

    def set_arm_command(
        self, q: np.ndarray, kp: np.ndarray, kd: np.ndarray, weight: float = 1.0
    ) -> None: ...
    def set_hand_command(self, q: np.ndarray) -> None: ...
    def physics_step(self, n: int = 1) -> None: ...
    def arm_joint_state(self) -> tuple[np.ndarray, np.ndarray]: ...
    def hand_state(self) -> np.ndarray: ...

    @property
    def sim_time(self) -> float: ...


@dataclass
class SimCounters:
    """What the simulated robot received (for logs and tests)."""

    arm_cmds: int = 0
    bad_crc: int = 0
    bad_arm_cmds: int = 0
    hand_cmds: int = 0
    bad_hand_cmds: int = 0
    last_weight: float = 0.0
    max_weight: float = 0.0


class SimRobot:
    """Unitree DDS messages <-> an injected MuJoCo env, stepped to follow a clock.

    DDS callbacks (:meth:`on_arm_sdk`, :meth:`on_hand_cmd`) may run on any thread; they only
    store the latest command. :meth:`advance` (one thread) applies it and steps physics.

    Args:
        env: The low-level sim.
        physics_dt: Seconds per ``env.physics_step``.
        max_steps: Most physics steps per :meth:`advance` (the sim falls behind beyond that).
    """

    def __init__(self, env: LowLevelEnv, physics_dt: float, max_steps: int = 200) -> None:
        if not physics_dt > 0:
            raise ValueError(f"physics_dt must be > 0, got {physics_dt}")
        self.env = env
        self.physics_dt = float(physics_dt)
        self.max_steps = int(max_steps)
        self.counters = SimCounters()
        self._lock = threading.Lock()
        self._arm: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None
        self._hand: np.ndarray | None = None
        self._tick = 0
        self.behind_steps = 0

    def on_arm_sdk(self, msg: LowCmd_) -> bool:
        """Take an ``rt/arm_sdk`` command; False (and counted) for a bad CRC or bad values."""
        with self._lock:
            if not crc_ok(msg):
                self.counters.bad_crc += 1
                return False
            cmds = msg.motor_cmd
            q = np.array([cmds[s].q for s in _MOTOR_SLOTS], dtype=np.float64)
            kp = np.array([cmds[s].kp for s in _MOTOR_SLOTS], dtype=np.float64)
            kd = np.array([cmds[s].kd for s in _MOTOR_SLOTS], dtype=np.float64)
            w = float(cmds[ARM_SDK_WEIGHT_INDEX].q)
            finite = np.all(np.isfinite(np.concatenate([q, kp, kd])))
            if not (finite and math.isfinite(w) and 0.0 <= w <= 1.0 and np.all(kp >= 0)):
                self.counters.bad_arm_cmds += 1
                return False
            self._arm = (q, kp, kd, w)
            self.counters.arm_cmds += 1
            self.counters.last_weight = w
            self.counters.max_weight = max(self.counters.max_weight, w)
            return True

    def on_hand_cmd(self, msg: MotorCmds_) -> bool:
        """Take an ``rt/inspire/cmd`` command (12 entries, Inspire order)."""
        with self._lock:
            q = np.array([c.q for c in msg.cmds], dtype=np.float64)
            if q.shape != (NUM_HAND,) or not np.all(np.isfinite(q)):
                self.counters.bad_hand_cmds += 1
                return False
            self._hand = np.clip(q, 0.0, 1.0)
            self.counters.hand_cmds += 1
            return True

    def advance(self, target_time: float) -> int:
        """Apply the latest commands and step physics until ``env.sim_time`` reaches target."""
        with self._lock:
            arm, self._arm = self._arm, None
            hand, self._hand = self._hand, None
        if arm is not None:
            self.env.set_arm_command(*arm)
        if hand is not None:
            self.env.set_hand_command(hand)
        n = math.floor((target_time - self.env.sim_time) / self.physics_dt + 1e-9)
        if n > self.max_steps:
            self.behind_steps += n - self.max_steps
            n = self.max_steps
        if n > 0:
            self.env.physics_step(n)
        return max(n, 0)

    def lowstate(self) -> LowState_:
        """The robot's ``LowState_`` now (arm joints filled in, CRC set)."""
        q, dq = self.env.arm_joint_state()
        self._tick += 1
        return pack_lowstate(
            np.asarray(q)[_LAYOUT_FROM_MOTOR], np.asarray(dq)[_LAYOUT_FROM_MOTOR], self._tick
        )

    def hand_state(self) -> MotorStates_:
        """``rt/inspire/state`` now (12 entries, Inspire order)."""
        return pack_hand_state(np.asarray(self.env.hand_state())[_LAYOUT_FROM_INSPIRE])


__all__ = ["MOTOR_ORDER", "LowLevelEnv", "SimCounters", "SimRobot"]
