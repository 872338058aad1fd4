"""``LegoEnv``: the H1 LEGO workcell in MuJoCo (data generation, evaluation, the DDS sim node).

High level (policies, data generation, evaluation)::

    env = LegoEnv(SimConfig())
    obs = env.reset("pick_place", seed=0)   # dict: images {cam: uint8 HxWx3}, state [20],
                                            #       instruction, subtask, timestamp
    obs = env.step(action)                  # action [20] in the H1_LAYOUT order: arm position
                                            # targets (rad) + hand openings (0 closed..1 open);
                                            # advances one control step (1 / cfg.fps) of physics
    env.command(action)                     # the same targets without stepping (for other rates)
    env.success(); env.observation()        # -> vla_lego.inference.types.Observation

Low level (what ``h1_bringup``'s simulated-robot node calls; arrays in H1 *motor* terms)::

    ARM_MOTOR_JOINTS                        # the 8 arm joints in unitree_go motor-slot order:
                                            # right sh_pitch, sh_roll, sh_yaw, elbow (slots 12-15),
                                            # then left (slots 16-19); from vla_lego.robot
    env.set_arm_command(q[8], kp[8], kd[8], weight)
        # arm_sdk semantics: the PD target / gains are blended with the hold posture by weight
        # (0 = the hold controller owns the arms, 1 = the command does):
        #   q* = w q + (1-w) q_hold,  kp* = w kp + (1-w) kp_hold,  kd* = w kd + (1-w) kd_hold
        # q is clipped to the joint limits; non-finite values or wrong shapes raise ValueError.
    env.set_hand_command(q[12])             # Inspire order (rt/inspire/cmd): right 0-5, left 6-11,
                                            # each 0 closed .. 1 open (clipped to [0, 1])
    env.physics_step(n=1)                   # n MuJoCo steps of cfg.physics_dt, grasp model applied
    env.arm_joint_state() -> (q[8], dq[8])  # motor-slot order, rad and rad/s
    env.hand_state() -> q[12]               # simulated finger positions, Inspire order
    env.render(camera) -> uint8 [H, W, 3]   # "head", "left_wrist" or "right_wrist"
    env.success(); env.reset(task, seed); env.sim_time

Arm joints are driven by PD position actuators (torque-limited to the H1 motor ranges) with
gravity compensation on the arm links; legs and torso are welded. Grasping is the kinematic model
documented in :mod:`vla_lego.sim.grasp`.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from vla_lego.inference.types import Observation
from vla_lego.robot import ACTION_DIM, H1_LAYOUT, INSPIRE_HAND_INDEX, MOTOR_INDEX
from vla_lego.sim.config import BRICK_COLOURS, CAMERA_NAMES, SimConfig
from vla_lego.sim.grasp import SIDES, GraspModel, quat_of_yaw, yaw_of_quat
from vla_lego.sim.scene import BRICK_POOL, TARGET_NAMES, build_scene, park_position
from vla_lego.sim.tasks import GraspRecord, Task, TaskInstance, get_task

ARM_MOTOR_JOINTS: tuple[str, ...] = tuple(sorted(MOTOR_INDEX, key=MOTOR_INDEX.__getitem__))
HAND_INSPIRE_ORDER: tuple[str, ...] = tuple(
    sorted(INSPIRE_HAND_INDEX, key=INSPIRE_HAND_INDEX.__getitem__)
)
# Arms hanging down, hands beside the hips (motor-slot order): the posture the hold controller
# keeps and every episode starts from. (Elbow 0 is a right angle on the H1.)
HOME_ARM_Q = np.array([0.0, -0.15, 0.0, 1.5, 0.0, 0.15, 0.0, 1.5])
HOLD_KP = 80.0
HOLD_KD = 3.0


class LegoEnv:
    """The simulated workcell (see the module docstring for the API).

    Args:
        cfg: Scene / control configuration; defaults to ``SimConfig()``.
    """

    def __init__(self, cfg: SimConfig | None = None) -> None:
        self.cfg = cfg or SimConfig()
        self.model = build_scene(self.cfg)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._arm_layout = [H1_LAYOUT.index(n) for n in ARM_MOTOR_JOINTS]
        self._arm_qadr = np.array([m.joint(n).qposadr[0] for n in ARM_MOTOR_JOINTS])
        self._arm_dofadr = np.array([m.joint(n).dofadr[0] for n in ARM_MOTOR_JOINTS])
        self._arm_act = np.array([m.actuator(n).id for n in ARM_MOTOR_JOINTS])
        self._arm_lo = np.array([H1_LAYOUT.lower[H1_LAYOUT.index(n)] for n in ARM_MOTOR_JOINTS])
        self._arm_hi = np.array([H1_LAYOUT.upper[H1_LAYOUT.index(n)] for n in ARM_MOTOR_JOINTS])
        # Inspire order <-> layout order for the 12 hand values.
        self._hand_layout = np.array([H1_LAYOUT.index(n) for n in HAND_INSPIRE_ORDER])
        self._hand_speed = H1_LAYOUT.max_velocity[self._hand_layout]
        sides = [n.split("_")[0] for n in HAND_INSPIRE_ORDER]  # Inspire: one side, then the other
        self._hand_slices = {
            s: slice(sides.index(s), len(sides) - sides[::-1].index(s)) for s in SIDES
        }
        self._bricks = {name: m.body(name).id for name, _, _ in BRICK_POOL}
        self._half_h = {name: float(m.geom(f"{name}_body").size[2]) for name, _, _ in BRICK_POOL}
        self._targets = {name: m.body(name).mocapid[0] for name in TARGET_NAMES}
        self.grasp = GraspModel(
            m,
            tuple(self._bricks),
            self.cfg.grasp_radius,
            self.cfg.grasp_close,
            self.cfg.grasp_open,
        )
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._task: Task | None = None
        self._instance: TaskInstance | None = None
        self._hand_cmd = np.ones(12)
        self._hand_q = np.ones(12)
        self._reset_robot()

    # ----------------------------------------------------------------- episode level
    def reset(self, task: str = "pick_place", seed: int = 0, render: bool = True) -> dict[str, Any]:
        """Start an episode of ``task`` with initial conditions drawn from ``seed``."""
        self._task = get_task(task)
        rng = np.random.default_rng(seed)
        self._instance = self._task.sample(rng, self.cfg, seed)
        mujoco.mj_resetData(self.model, self.data)
        self._reset_robot()
        self.grasp.reset()
        self._place_scene(self.instance)
        mujoco.mj_forward(self.model, self.data)
        self.physics_step(10)  # let contacts settle
        self.data.time = 0.0
        return self.observe(render)

    def step(self, action: np.ndarray, render: bool = True) -> dict[str, Any]:
        """Apply ``action`` [20] (layout order) for one control step and observe."""
        self.command(action)
        self.physics_step(self.cfg.substeps)
        return self.observe(render)

    def command(self, action: np.ndarray) -> None:
        """Set arm PD targets (default gains, weight 1) and hand targets from a layout vector."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (ACTION_DIM,) or not np.all(np.isfinite(a)):
            raise ValueError(f"action must be {ACTION_DIM} finite values, got shape {a.shape}")
        kp = np.full(8, self.cfg.arm_kp)
        kd = np.full(8, self.cfg.arm_kd)
        self.set_arm_command(a[self._arm_layout], kp, kd, 1.0)
        self.set_hand_command(a[self._hand_layout])

    def observe(self, render: bool = True) -> dict[str, Any]:
        """The observation dict (images only when ``render``)."""
        images = {c: self.render(c) for c in self.cfg.cameras} if render else {}
        return {
            "images": images,
            "state": self.state(),
            "instruction": self.instance.instruction,
            "subtask": self.subtask(),
            "timestamp": self.sim_time,
        }

    def observation(self) -> Observation:
        """The current observation as the inference ``Observation``."""
        o = self.observe(True)
        return Observation(o["images"], o["state"], o["instruction"], o["timestamp"])

    def state(self) -> np.ndarray:
        """Measured state in the H1_LAYOUT order: arm positions (rad) + finger positions."""
        s = np.zeros(ACTION_DIM, dtype=np.float32)
        s[self._arm_layout] = self.data.qpos[self._arm_qadr]
        s[self._hand_layout] = self._hand_q
        return s

    def success(self) -> bool:
        return self.task.success(self)

    def outcome(self) -> str:
        """``success`` or the failure category the scene shows now (``FAILURE_CATEGORIES``)."""
        return self.task.outcome(self)

    def first_grasp_ok(self) -> bool | None:
        """None before any grasp, else whether the first brick grasped is one the task uses."""
        return self.task.first_grasp_ok(self)

    def grasp_history(self) -> list[GraspRecord]:
        """Every grasp and release of this episode, in order, with body names."""
        names = {v: k for k, v in self._bricks.items()}
        return [
            GraspRecord(e.time, e.kind, e.side, names[e.brick], {s: names[b] for s, b in e.holding})
            for e in self.grasp.events
        ]

    def subtask(self) -> str:
        return self.task.subtask(self)

    @property
    def task(self) -> Task:
        """The current task; ``RuntimeError`` before the first ``reset``."""
        if self._task is None:
            raise RuntimeError("call reset(task, seed) before using the episode")
        return self._task

    @property
    def instance(self) -> TaskInstance:
        """The current episode's set-up; ``RuntimeError`` before the first ``reset``."""
        if self._instance is None:
            raise RuntimeError("call reset(task, seed) before using the episode")
        return self._instance

    @property
    def sim_time(self) -> float:
        return float(self.data.time)

    @property
    def done(self) -> bool:
        """Time limit reached."""
        return self.sim_time >= self.time_limit - 1e-9

    @property
    def time_limit(self) -> float:
        """Episode time limit: ``cfg.episode_seconds`` or the task's own."""
        return self.cfg.episode_seconds or self.task.time_limit

    # ----------------------------------------------------------------- low level
    def set_arm_command(
        self, q: np.ndarray, kp: np.ndarray, kd: np.ndarray, weight: float = 1.0
    ) -> None:
        """PD targets for the 8 arm motors (motor-slot order), blended with the hold posture."""
        q, kp, kd = (np.asarray(v, dtype=np.float64) for v in (q, kp, kd))
        for name, v in (("q", q), ("kp", kp), ("kd", kd)):
            if v.shape != (8,) or not np.all(np.isfinite(v)):
                raise ValueError(f"{name} must be 8 finite values, got shape {v.shape}")
        if np.any(kp < 0) or np.any(kd < 0):
            raise ValueError(f"kp and kd must be >= 0, got kp={kp}, kd={kd}")
        if not (np.isfinite(weight) and 0.0 <= weight <= 1.0):
            raise ValueError(f"weight must be in [0, 1], got {weight}")
        w = float(weight)
        target = np.clip(w * q + (1 - w) * HOME_ARM_Q, self._arm_lo, self._arm_hi)
        kp_eff = w * kp + (1 - w) * HOLD_KP
        kd_eff = w * kd + (1 - w) * HOLD_KD
        m = self.model
        m.actuator_gainprm[self._arm_act, 0] = kp_eff
        m.actuator_biasprm[self._arm_act, 1] = -kp_eff
        m.actuator_biasprm[self._arm_act, 2] = -kd_eff
        self.data.ctrl[self._arm_act] = target

    def set_hand_command(self, q: np.ndarray) -> None:
        """Finger targets, 12 values in Inspire order (right 0-5, left 6-11), 0 closed..1 open."""
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (12,) or not np.all(np.isfinite(q)):
            raise ValueError(f"hand command must be 12 finite values, got shape {q.shape}")
        self._hand_cmd = np.clip(q, 0.0, 1.0)

    def physics_step(self, n: int = 1) -> None:
        """Advance ``n`` physics steps: fingers, grasp model, then MuJoCo."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        dt = self.model.opt.timestep
        closures = {s: self.hand_closure(s) for s in SIDES}
        for _ in range(int(n)):
            if not np.array_equal(self._hand_q, self._hand_cmd):
                step = self._hand_speed * dt
                self._hand_q = self._hand_q + np.clip(self._hand_cmd - self._hand_q, -step, step)
                closures = {s: self.hand_closure(s) for s in SIDES}
            # Open empty hands cannot grasp or release anything: skip the grasp model then.
            if self.grasp.grips or max(closures.values()) >= self.cfg.grasp_close:
                self.grasp.update(self.data, closures)
                self.grasp.apply(self.data)
            else:
                self.grasp.note_open()
            mujoco.mj_step(self.model, self.data)

    def arm_joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """(q, dq) of the 8 arm motors in motor-slot order."""
        return self.data.qpos[self._arm_qadr].copy(), self.data.qvel[self._arm_dofadr].copy()

    def hand_state(self) -> np.ndarray:
        """Simulated finger positions, Inspire order, 0 closed .. 1 open."""
        return self._hand_q.copy()

    def hand_closure(self, side: str) -> float:
        """1 - mean finger opening of ``side`` (0 open .. 1 closed)."""
        sl = self._hand_slices[side]
        return 1.0 - float(self._hand_q[sl].sum()) / (sl.stop - sl.start)

    def render(
        self, camera: str = "head", height: int | None = None, width: int | None = None
    ) -> np.ndarray:
        """RGB image from ``camera`` at the configured (or given) size."""
        h, w = height or self.cfg.image_height, width or self.cfg.image_width
        if camera not in CAMERA_NAMES:
            raise ValueError(f"unknown camera {camera!r}; expected one of {list(CAMERA_NAMES)}")
        r = self._renderers.get((h, w))
        if r is None:
            r = self._renderers[(h, w)] = mujoco.Renderer(self.model, h, w)
        r.update_scene(self.data, camera=camera)
        return r.render().copy()

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()

    # ----------------------------------------------------------------- scene queries
    def brick_pose(self, body: str) -> np.ndarray:
        """(x, y, z, yaw) of a brick body."""
        b = self._bricks[body]
        return np.append(self.data.xpos[b], yaw_of_quat(self.data.xquat[b]))

    def brick_velocity(self, body: str) -> np.ndarray:
        b = self._bricks[body]
        adr = self.model.jnt_dofadr[self.model.body_jntadr[b]]
        return self.data.qvel[adr : adr + 3].copy()

    def brick_half_height(self, body: str) -> float:
        return self._half_h[body]

    def holder_of(self, body: str) -> str | None:
        return self.grasp.holder_of(self._bricks[body])

    def ever_held(self, side: str, body: str) -> bool:
        return self._bricks[body] in self.grasp.ever_held[side]

    def grasp_point(self, side: str) -> np.ndarray:
        return self.data.site_xpos[self.grasp.sites[side]].copy()

    # ----------------------------------------------------------------- internals
    def _reset_robot(self) -> None:
        self.data.qpos[self._arm_qadr] = HOME_ARM_Q
        self._hand_cmd = np.ones(12)
        self._hand_q = np.ones(12)
        self.set_arm_command(HOME_ARM_Q, np.full(8, HOLD_KP), np.full(8, HOLD_KD), 1.0)

    def _place_scene(self, inst: TaskInstance) -> None:
        used = {b.body: b for b in inst.bricks.values()}
        for k, (name, _, _) in enumerate(BRICK_POOL):
            b = self._bricks[name]
            adr = self.model.jnt_qposadr[self.model.body_jntadr[b]]
            if name in used:
                s = used[name]
                pos = (s.x, s.y, self.cfg.table_height + self._half_h[name] + 1e-4)
                quat = quat_of_yaw(s.yaw)
                rgba = BRICK_COLOURS[s.colour]
            else:
                pos, quat, rgba = park_position(k), quat_of_yaw(0.0), (0.5, 0.5, 0.5, 1.0)
            self.data.qpos[adr : adr + 3] = pos
            self.data.qpos[adr + 3 : adr + 7] = quat
            for g in range(self.model.ngeom):
                if self.model.geom_bodyid[g] == b:
                    self.model.geom_rgba[g] = rgba
        for name, mocap in self._targets.items():
            role = "target" if name == "target_0" else "target_1"
            if role in inst.targets:
                x, y = inst.targets[role]
                self.data.mocap_pos[mocap] = (x, y, self.cfg.table_height + 0.001)
            else:
                self.data.mocap_pos[mocap] = (0.0, 0.0, -1.0)


__all__ = ["ARM_MOTOR_JOINTS", "HAND_INSPIRE_ORDER", "HOLD_KD", "HOLD_KP", "HOME_ARM_Q", "LegoEnv"]
