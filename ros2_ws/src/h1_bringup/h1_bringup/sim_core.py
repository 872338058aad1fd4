"""The simulated H1's protocol side without ROS: Unitree messages in, MuJoCo env, messages out.

:class:`SimRobot` behaves towards DDS like the robot: it checks the CRC of every ``rt/arm_sdk``
``LowCmd_`` (a bad one is ignored and counted), hands the arm targets, gains and weight to the
env (which blends them with its hold posture by the weight, as the H1's arm_sdk does), takes
Inspire hand commands, advances physics to keep up with a clock, and produces ``LowState_`` (with
CRC) and ``rt/inspire/state`` messages. The env is injected (``vla_lego.sim.env.LegoEnv`` in the
node); its low-level API uses motor-slot order for arms and Inspire order for hands.

:class:`SimEpisode` is the task side of the node: ``ResetSim`` (task, seed, an optional
instruction checked against the scene) and the values ``TaskStatus`` carries; :func:`scene_config`
builds the scene's ``SimConfig`` from the node's parameters (``preset`` included).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_, LowState_, MotorCmds_, MotorStates_

from h1_bringup.bridge_core import ARM_NAMES, NUM_HAND, crc_ok, pack_hand_state, pack_lowstate
from vla_lego.robot import ARM_SDK_WEIGHT_INDEX, HAND_JOINT_NAMES, INSPIRE_HAND_INDEX, MOTOR_INDEX

if TYPE_CHECKING:  # vla_lego.sim (MuJoCo) is imported only where the scene is built
    from vla_lego.sim.config import SimConfig

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


def scene_config(params: Mapping[str, Any]) -> SimConfig:
    """The scene's config from the sim node's parameters: randomisation preset ``preset``
    (``vla_lego.sim.config.PRESETS``), image size and the published camera.

    Raises:
        ValueError: an unknown preset (naming the known ones) or a bad image size / camera.
    """
    from vla_lego.sim.config import SimConfig

    return SimConfig.from_preset(
        params["preset"],
        image_width=params["image_width"],
        image_height=params["image_height"],
        cameras=(params["camera"],),
    )


class EpisodeEnv(Protocol):
    """What :class:`SimEpisode` needs of the scene (``LegoEnv`` provides it)."""

    def reset(self, task: str = ..., seed: int = ..., render: bool = ...) -> dict[str, Any]: ...
    def success(self) -> bool: ...
    def outcome(self) -> str: ...
    def subtask(self) -> str: ...

    @property
    def instance(self) -> Any: ...

    @property
    def sim_time(self) -> float: ...


@dataclass(frozen=True)
class TaskState:
    """The fields of ``vla_lego_msgs/TaskStatus`` (its header aside).

    ``outcome`` is the sim's current verdict, ``LegoEnv.outcome()``: ``success`` while the
    success check holds, else the failure category the episode would count if it ended now (read
    it at the episode's end). ``subtask`` is the sim's true phase text, ``LegoEnv.subtask()``.
    """

    task: str
    seed: int
    instruction: str
    success: bool
    elapsed: float
    outcome: str
    subtask: str


class SimEpisode:
    """The episode the sim node runs: resets, the instruction it reports, the task status.

    Not thread-safe: the node calls it under its env lock.

    Args:
        env: The scene.
        task: Task of the first episode.
        seed: Its seed.
    """

    def __init__(self, env: EpisodeEnv, task: str, seed: int) -> None:
        self.env = env
        self.task, self.seed, self.instruction = "", 0, ""
        self.reset(task, seed)

    def reset(self, task: str, seed: int, instruction: str = "") -> str:
        """Start ``task`` at ``seed``; returns the episode's instruction.

        ``instruction`` (optional) replaces the task's own text once it is checked against the
        new scene (:func:`vla_lego.sim.tasks.check_instruction`).

        Raises:
            ValueError: an unknown task, or an instruction naming a brick colour that is not on
                the table; the previous episode is then restarted from its own start (same task,
                seed and instruction), so the sim never runs a scene its instruction does not fit.
        """
        from vla_lego.sim.tasks import check_instruction

        obs = self.env.reset(task, seed, render=False)
        if instruction.strip():
            try:
                check_instruction(self.env.instance, instruction)
            except ValueError:
                if self.task:
                    self.env.reset(self.task, self.seed, render=False)
                raise
        self.task, self.seed = task, int(seed)
        self.instruction = instruction.strip() or str(obs["instruction"])
        return self.instruction

    def status(self) -> TaskState:
        """The values of the next ``TaskStatus``."""
        success = bool(self.env.success())
        return TaskState(
            self.task,
            self.seed,
            self.instruction,
            success,
            float(self.env.sim_time),
            "success" if success else str(self.env.outcome()),
            str(self.env.subtask()),
        )


__all__ = [
    "MOTOR_ORDER",
    "EpisodeEnv",
    "LowLevelEnv",
    "SimCounters",
    "SimEpisode",
    "SimRobot",
    "TaskState",
    "scene_config",
]
