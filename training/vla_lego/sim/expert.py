"""Scripted expert: a timed plan of hand waypoints, turned into joint targets by DLS IK.

The expert reads the privileged scene state (brick poses) at the start of an episode and lays out
phases on a fixed timeline (approach, descend, close, lift, carry, put down, open, retreat). Hand
waypoints are joined by minimum-jerk paths in Cartesian space and every control step's point is
solved with :class:`vla_lego.sim.ik.ArmIK` (warm-started, so the joint trajectory is smooth).
Hand commands ramp instead of jumping. When a brick is actually grasped the remaining phases are
re-planned with the measured grip offset, so the put-down is exact; the timeline does not change.

Two ways to use it:

* step-wise (data generation): ``expert.act()`` returns the action for the env's current time;
* as a :class:`vla_lego.inference.types.Policy`: ``expert.predict(obs)`` returns the next
  ``horizon`` actions of the plan as an ``ActionChunk`` (``dt`` = the env's control period).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vla_lego.inference.types import ActionChunk, Observation
from vla_lego.robot import ACTION_DIM, H1_LAYOUT
from vla_lego.sim.env import ARM_MOTOR_JOINTS, HOME_ARM_Q, LegoEnv
from vla_lego.sim.grasp import SIDES
from vla_lego.sim.ik import ArmIK, wrap_angle

GRASP_DZ = 0.04  # grasp point above the brick centre when grasping from above (m)
HOVER_DZ = 0.10  # approach / carry height of the grasp point above the brick centre (m)
OPEN, CLOSED = 1.0, 0.0
_HAND_RAMP_S = 0.4  # seconds over which a hand command ramps to its new value


# Joint offset from home that starts IK in the "reaching forward" branch of the arm.
_REACH_GUESS = np.array([-0.5, 0.0, 0.0, -0.5])


def _up(dz: float) -> np.ndarray:
    return np.array([0.0, 0.0, dz])


def min_jerk(s: np.ndarray | float) -> np.ndarray | float:
    """Minimum-jerk time scaling of ``s`` in [0, 1]."""
    return 10 * s**3 - 15 * s**4 + 6 * s**5


@dataclass
class ArmGoal:
    """Where an arm should be at the end of a phase.

    ``kind``: ``"hold"`` (stay), ``"joint"`` (joint-space move to ``q``), ``"cart"`` (straight
    line of the grasp point to ``pos``), ``"brick"`` (straight line of the *held brick's centre* to
    ``pos``, using the grip offset). ``heading`` optionally fixes the hand heading.
    """

    kind: str = "hold"
    pos: np.ndarray | None = None
    q: np.ndarray | None = None
    heading: float | None = None


@dataclass
class Phase:
    name: str
    duration: float
    arms: dict[str, ArmGoal] = field(default_factory=dict)
    hands: dict[str, float] = field(default_factory=dict)
    grasp: tuple[str, str] | None = None  # (side, brick body) grasped at the end of the phase


class ScriptedExpert:
    """Solves every task of :data:`vla_lego.sim.tasks.TASKS` in a :class:`LegoEnv`.

    Args:
        env: The environment (the expert reads brick poses and the grasp state from it).
        horizon: Length of the chunks ``predict`` returns.
        assemble_mode: How ``assemble`` is scripted: ``bimanual`` (the solution: the left hand
            holds the base on the pad while the right puts the top on), or the two attempts that
            must fail, kept to test the success check: ``sequential`` (the left lets go of the
            base before the right puts the top on) and ``left_only`` (the right arm never moves).
    """

    ASSEMBLE_MODES = ("bimanual", "sequential", "left_only")

    def __init__(self, env: LegoEnv, horizon: int = 20, assemble_mode: str = "bimanual") -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        if assemble_mode not in self.ASSEMBLE_MODES:
            raise ValueError(
                f"assemble_mode must be one of {self.ASSEMBLE_MODES}, got {assemble_mode!r}"
            )
        self.assemble_mode = assemble_mode
        self.env = env
        self.horizon = horizon
        self.dt = env.cfg.control_dt
        self.ik = {s: ArmIK(env.model, s) for s in SIDES}
        self._arm_idx = {s: self.ik[s].layout_idx for s in SIDES}
        self._hand_idx = {
            s: np.array([i for i, n in enumerate(H1_LAYOUT.names) if n.startswith(f"{s}_hand")])
            for s in SIDES
        }
        self._episode: object | None = None
        self.plan = np.zeros((0, ACTION_DIM), dtype=np.float32)
        self.phases: list[Phase] = []
        self._phase_start: list[int] = []
        self._offsets: dict[str, np.ndarray] = {}
        self._grip_heading: dict[str, float] = {}
        self._replanned: set[str] = set()
        self._snap: dict[str, np.ndarray] = {}
        self._grip_default: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ public API
    def reset(self) -> None:
        """Forget the plan; the next call plans for the env's current episode."""
        self._episode = None

    def act(self) -> np.ndarray:
        """The action [20] for the env's current control step."""
        self._ensure_plan()
        k = self._step_index()
        return self.plan[min(k, len(self.plan) - 1)].copy()

    def predict(self, observation: Observation) -> ActionChunk:
        """The next ``horizon`` plan actions (the observation's images are not needed)."""
        self._ensure_plan()
        k = self._step_index()
        idx = np.minimum(np.arange(k, k + self.horizon), len(self.plan) - 1)
        return ActionChunk(
            actions=self.plan[idx].astype(np.float32),
            dt=self.dt,
            subtask_text=self.env.subtask(),
            observation_time=float(observation.timestamp),
        )

    @property
    def finished(self) -> bool:
        """True once the env's time has passed the end of the plan."""
        return self._episode is not None and self._step_index() >= len(self.plan)

    @property
    def duration(self) -> float:
        """Length of the plan in seconds."""
        self._ensure_plan()
        return len(self.plan) * self.dt

    # ------------------------------------------------------------------ planning
    def _step_index(self) -> int:
        return round(self.env.sim_time / self.dt)

    def _ensure_plan(self) -> None:
        inst = self.env.instance  # raises RuntimeError before the first reset
        if self._episode is not inst:
            self._episode = inst
            # Brick poses at planning time: re-plans must not see a brick that is being carried.
            self._snap = {b.body: self.env.brick_pose(b.body) for b in inst.bricks.values()}
            self._offsets, self._grip_heading, self._replanned = {}, {}, set()
            self._build(0)
        self._maybe_replan()

    def _maybe_replan(self) -> None:
        """After a grasp happened, re-plan the rest with the measured grip offset."""
        for side in SIDES:
            grip = self.env.grasp.grips.get(side)
            key = f"{side}:{grip.brick}" if grip else ""
            if grip is None or key in self._replanned:
                continue
            self._replanned.add(key)
            self._offsets[side] = grip.offset.copy()
            self._grip_heading[side] = grip.hand_heading
            k = self._step_index()
            starts = [i for i, s in enumerate(self._phase_start) if s >= k]
            if starts:
                self._build(starts[0], keep=self._phase_start[starts[0]])

    def _build(self, first_phase: int, keep: int = 0) -> None:
        self.phases = self._make_phases()
        self._phase_start = list(np.cumsum([0] + [self._n(p) for p in self.phases[:-1]]))
        rows = [self.plan[:keep]] if keep else []
        q = self._start_q(keep)
        hands = self._start_hands(keep)
        for i, phase in enumerate(self.phases):
            if i < first_phase:
                continue
            block, q, hands = self._sample_phase(phase, q, hands)
            rows.append(block)
        self.plan = np.concatenate(rows).astype(np.float32)

    def _n(self, phase: Phase) -> int:
        return max(1, round(phase.duration / self.dt))

    def _start_q(self, keep: int) -> dict[str, np.ndarray]:
        if keep:
            return {s: self.plan[keep - 1, self._arm_idx[s]].astype(np.float64) for s in SIDES}
        home = np.zeros(ACTION_DIM)
        for j, name in enumerate(ARM_MOTOR_JOINTS):
            home[H1_LAYOUT.index(name)] = HOME_ARM_Q[j]
        return {s: home[self._arm_idx[s]].copy() for s in SIDES}

    def _start_hands(self, keep: int) -> dict[str, float]:
        if keep:
            return {s: float(self.plan[keep - 1, self._hand_idx[s]].mean()) for s in SIDES}
        return dict.fromkeys(SIDES, OPEN)

    def _sample_phase(
        self, phase: Phase, q: dict[str, np.ndarray], hands: dict[str, float]
    ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]]:
        n = self._n(phase)
        out = np.zeros((n, ACTION_DIM))
        starts = {s: self._pose(s, q[s]) for s in SIDES}
        q = {s: v.copy() for s, v in q.items()}
        for i in range(n):
            tau = (i + 1) / n
            for side in SIDES:
                goal = phase.arms.get(side, ArmGoal())
                q[side] = self._arm_point(side, goal, starts[side], q[side], tau)
                out[i, self._arm_idx[side]] = q[side]
                h0, h1 = hands[side], phase.hands.get(side, hands[side])
                r = min(1.0, (i + 1) * self.dt / _HAND_RAMP_S)
                out[i, self._hand_idx[side]] = h0 + r * (h1 - h0)
        hands = {s: phase.hands.get(s, hands[s]) for s in SIDES}
        return out, q, hands

    def _pose(self, side: str, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(q, grasp point, heading) at joint vector ``q``."""
        pos, head = self.ik[side].forward(q)
        return q.copy(), pos, head

    def _arm_point(self, side: str, goal: ArmGoal, start, q_prev: np.ndarray, tau: float):
        q0, p0, h0 = start
        s = float(min_jerk(tau))
        if goal.kind == "hold":
            return q_prev
        if goal.kind == "joint":
            return q0 + s * (goal.q - q0)
        heading = None
        if goal.heading is not None:
            heading = h0 + s * float(wrap_angle(goal.heading - h0))
        if goal.kind == "cart":
            return self.ik[side].solve(p0 + s * (goal.pos - p0), q_prev, heading, iters=30).q
        b0 = self._brick_of(side, p0, h0)
        return self._solve_brick(side, b0 + s * (goal.pos - b0), q_prev, heading)

    def _brick_of(self, side: str, grasp_point: np.ndarray, heading: float) -> np.ndarray:
        turn = heading - self._grip_heading.get(side, heading)
        return grasp_point + _rot_z(turn) @ self._offset(side)

    def _offset(self, side: str) -> np.ndarray:
        """Brick centre minus grasp point: measured once grasped, else the planned grip."""
        return self._offsets.get(side, -self._grip_default.get(side, _up(GRASP_DZ)))

    def _solve_brick(self, side: str, brick: np.ndarray, q0: np.ndarray, heading: float | None):
        """Joints that put the held brick's centre at ``brick`` (fixed point over the heading)."""
        q = q0
        h = self.ik[side].forward(q0)[1] if heading is None else heading
        for _ in range(4):
            turn = h - self._grip_heading.get(side, h)
            res = self.ik[side].solve(brick - _rot_z(turn) @ self._offset(side), q, heading, 30)
            q = res.q
            h = self.ik[side].forward(q)[1] if heading is None else heading
        return q

    # ------------------------------------------------------------------ task scripts
    def _make_phases(self) -> list[Phase]:
        task = self.env.instance.task
        self._grip_default = {}
        if task == "handover":
            return self._handover()
        if task == "tower":
            return self._tower()
        if task == "assemble":
            return self._assemble()
        return self._pick_and_put()

    def _home(self, side: str) -> np.ndarray:
        return self._start_q(0)[side]

    def _brick_xyz(self, body: str) -> np.ndarray:
        return self._snap[body][:3].copy()

    def _pick_and_put(self) -> list[Phase]:
        inst = self.env.instance
        env = self.env
        h_grasp: float | None
        h_put: float | None
        if inst.task == "stack":
            body = inst.bricks["top"].body
            base = inst.bricks["base"].body
            goal = self._brick_xyz(base) + _up(2 * env.brick_half_height(base) + 0.001)
            h_grasp, h_put = self._stack_headings(body, base, goal, inst.bricks["top"].kind)
        else:
            body = inst.bricks["object"].body
            tx, ty = inst.targets["target"]
            goal = np.array([tx, ty, env.cfg.table_height + env.brick_half_height(body) + 0.001])
            h_grasp, h_put = None, None
        return self._pick_phases("right", body, h_grasp) + self._put_phases("right", goal, h_put)

    def _pick_phases(
        self, side: str, body: str, heading: float | None, grip: np.ndarray | None = None
    ) -> list[Phase]:
        c = self._brick_xyz(body)
        grip = _up(GRASP_DZ) if grip is None else grip
        at = c + grip
        above = at + _up(HOVER_DZ - GRASP_DZ)
        q_above = self.ik[side].solve(above, self._home(side) + _REACH_GUESS, heading, 100).q
        return [
            Phase("wait", 0.3),
            Phase("approach", 1.8, {side: ArmGoal("joint", q=q_above)}),
            Phase("descend", 0.8, {side: ArmGoal("cart", pos=at, heading=heading)}),
            Phase("close", 0.7, hands={side: CLOSED}, grasp=(side, body)),
            Phase("lift", 0.8, {side: ArmGoal("cart", pos=above, heading=heading)}),
        ]

    def _put_phases(self, side: str, goal: np.ndarray, heading: float | None) -> list[Phase]:
        over = goal + _up(HOVER_DZ - GRASP_DZ)
        return [
            Phase("carry", 1.5, {side: ArmGoal("brick", pos=over, heading=heading)}),
            Phase("put", 0.8, {side: ArmGoal("brick", pos=goal, heading=heading)}),
            Phase("settle", 0.3),
            Phase("open", 0.5, hands={side: OPEN}),
            Phase("retreat", 0.7, {side: ArmGoal("cart", pos=goal + _up(0.12))}),
            Phase("rest", 0.3),
        ]

    def _stack_headings(
        self, top: str, base: str, goal: np.ndarray, kind: str, grip: np.ndarray | None = None
    ) -> tuple[float, float]:
        """Forearm headings at grasp and put-down that turn the top brick onto the base's yaw
        (``kind``: the top brick's, which sets its symmetry; ``grip``: grasp point - centre)."""
        period = np.pi / 2 if kind == "2x2" else np.pi
        grip = _up(GRASP_DZ) if grip is None else grip
        d = self._snap[base][3] - self._snap[top][3]
        delta = (d + period / 2) % period - period / 2  # smallest turn that aligns the bricks
        ik = self.ik["right"]
        start = self._home("right") + _REACH_GUESS
        put = ik.solve(goal + grip, start, None, 100)
        h_put = ik.forward(put.q)[1]
        c = self._brick_xyz(top) + grip
        for h_put_try in (h_put, h_put + 0.3, h_put - 0.3, h_put + 0.6, h_put - 0.6):
            g = ik.solve(c, start, h_put_try - delta, 100)
            p = ik.solve(goal + grip, put.q, h_put_try, 100)
            if g.ok and p.ok:
                return h_put_try - delta, h_put_try
        return h_put - delta, h_put

    def _handover(self) -> list[Phase]:
        inst, env = self.env.instance, self.env
        body = inst.bricks["object"].body
        meet = np.array([0.25, 0.0, 1.07])  # where the brick is handed over
        # Beside and a little above the brick: the left hand can then put it down on the table.
        left_at = meet + np.array([0.0, 0.045, 0.03])
        q_left = (
            self.ik["left"]
            .solve(left_at + np.array([0.0, 0.07, 0.03]), self._home("left"), None, 100)
            .q
        )
        tx, ty = inst.targets["target"]
        goal = np.array([tx, ty, env.cfg.table_height + env.brick_half_height(body) + 0.001])
        phases = self._pick_phases("right", body, None)
        phases += [
            Phase(
                "to_meet",
                1.5,
                {"right": ArmGoal("brick", pos=meet), "left": ArmGoal("joint", q=q_left)},
            ),
            Phase("left_reach", 0.8, {"left": ArmGoal("cart", pos=left_at)}),
            Phase("left_close", 0.7, hands={"left": CLOSED}, grasp=("left", body)),
            Phase("right_open", 0.5, hands={"right": OPEN}),
            Phase("right_away", 1.0, {"right": ArmGoal("joint", q=self._home("right"))}),
        ]
        return phases + self._put_phases("left", goal, None)

    def _tower(self) -> list[Phase]:
        """The middle brick onto the base, then the top onto the middle, both aligned to the
        base's yaw (the middle one ends aligned to it within the stack tolerance)."""
        b, env = self.env.instance.bricks, self.env
        base, mid, top = b["base"].body, b["mid"].body, b["top"].body
        hb, hm, ht = (env.brick_half_height(x) for x in (base, mid, top))
        g_mid = self._brick_xyz(base) + _up(hb + hm + 0.001)
        g_top = g_mid + _up(hm + ht + 0.001)
        hg1, hp1 = self._stack_headings(mid, base, g_mid, b["mid"].kind)
        hg2, hp2 = self._stack_headings(top, base, g_top, b["top"].kind)
        return (
            self._pick_phases("right", mid, hg1)
            + self._put_phases("right", g_mid, hp1)
            + self._pick_phases("right", top, hg2)
            + self._put_phases("right", g_top, hp2)
        )

    def _assemble(self) -> list[Phase]:
        """Both arms at once: left brings the base to the pad and holds it there, right brings
        the top above it, puts it on and lets go; then the left lets go."""
        inst, env = self.env.instance, self.env
        base, top = inst.bricks["base"].body, inst.bricks["top"].body
        hb, ht = env.brick_half_height(base), env.brick_half_height(top)
        tx, ty = inst.targets["target"]
        # The held base is pressed 0.5 mm into the table: the table's contact then carries the
        # top put on it (a kinematically held brick alone would give way under the top).
        base_goal = np.array([tx, ty, env.cfg.table_height + hb - 0.0005])
        top_goal = base_goal + _up(hb + ht + 0.0015)
        # Grips off the centre, the left hand beside the base's left side and the right hand
        # towards the top's right side, so the two ball hands never overlap over the pad.
        self._grip_default = {"left": np.array([0.0, 0.05, 0.025]), "right": _up(GRASP_DZ)}
        gl, gr = self._grip_default["left"], self._grip_default["right"]
        h_left = self._grip_heading.get("left")  # keep the base's yaw: hold the heading
        hg, hp = self._stack_headings(top, base, top_goal, inst.bricks["top"].kind, gr)
        left = self._pick_phases("left", base, None, gl)
        right = self._pick_phases("right", top, hg, gr)
        phases = [
            Phase(lp.name, lp.duration, {**lp.arms, **rp.arms}, {**lp.hands, **rp.hands})
            for lp, rp in zip(left, right, strict=True)
        ]
        if self.assemble_mode == "left_only":
            phases = left
        phases += [
            Phase(
                "carry",
                1.5,
                {
                    "left": ArmGoal("brick", pos=base_goal + _up(0.06), heading=h_left),
                    "right": ArmGoal("brick", pos=top_goal + _up(0.10), heading=hp),
                },
            ),
            Phase("put_base", 0.8, {"left": ArmGoal("brick", pos=base_goal, heading=h_left)}),
            Phase("settle", 0.3),
        ]
        let_go_left = [
            Phase("open_left", 0.5, hands={"left": OPEN}),
            Phase("retreat_left", 0.7, {"left": ArmGoal("cart", pos=base_goal + gl + _up(0.12))}),
        ]
        if self.assemble_mode != "bimanual":
            phases += let_go_left
        if self.assemble_mode == "left_only":
            for p in phases:
                p.arms.pop("right", None)
                p.hands.pop("right", None)
            return [*phases, Phase("rest", 0.3)]
        phases += [
            Phase("put_top", 1.0, {"right": ArmGoal("brick", pos=top_goal, heading=hp)}),
            Phase("settle_top", 0.3),
            Phase("open_right", 0.5, hands={"right": OPEN}),
            Phase("retreat_right", 0.7, {"right": ArmGoal("cart", pos=top_goal + gr + _up(0.12))}),
        ]
        if self.assemble_mode == "bimanual":
            phases += let_go_left
        return [*phases, Phase("rest", 0.3)]


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


__all__ = ["GRASP_DZ", "HOVER_DZ", "ArmGoal", "Phase", "ScriptedExpert", "min_jerk"]
