"""Tasks: randomised initial conditions, templated instructions, subtask text, success checks.

``pick_place``  one brick (2x4 or 2x2, random colour) onto the white target pad, right arm.
``stack``       a brick onto a 2x4 base brick, aligned within ``stack_tolerance_m`` (horizontal)
                and ``stack_tolerance_deg`` (yaw, modulo the pair's symmetry), right arm.
``handover``    the right hand picks a brick and hands it to the left hand, which places it on
                the target pad on the left (bimanual, one arm after the other).
``tower``       three bricks of different colours: the middle one onto the base, then the top one
                onto the middle, in the order the instruction names (stack tolerances each).
``pick_named``  grounding: two or three bricks of different colours, the instruction names one by
                colour; it goes onto the pad. Grasping any other brick is the failure
                ``wrong_brick``.
``assemble``    both arms at once: the left hand brings the base brick from the left onto the
                pad in the middle and *holds it there* while the right hand puts the top brick on
                it (pressing a brick on needs the base held); then both let go. The base starts
                out of the right arm's reach and the top out of the left arm's, and a top released
                while the base is not held is the failure ``not_bimanual``, so neither arm alone,
                nor the two one after the other, can succeed.

Every task describes what must hold at the end as a list of :class:`Goal` (brick role -> where
it must rest), so the success check and the failure category (:func:`outcome`) come from one
description. A brick the task does not use (a distractor of the ``hard`` preset, an unnamed brick
of ``pick_named``) must never be grasped.

The right arm works in front of the robot's right side, the left arm in front of its left side;
they overlap only near y = 0 (see :func:`reachable`). Positions are in the world frame (x forward,
y left, z up, pelvis at the origin's vertical).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from vla_lego.sim.config import BRICK_COLOURS, SimConfig
from vla_lego.sim.ik import wrap_angle

WORK_X = 0.24  # nominal x of the bricks (m)
_REST_SPEED = 0.02  # m/s: a brick slower than this counts as resting
MIN_SEPARATION = 0.085  # m between brick centres: two 2x4 bricks at 30 deg yaw do not overlap
_DISTRACTOR_CLEARANCE = 0.10  # m from every task brick and target
_SAMPLE_TRIES = 500

# What the sim counts when an episode fails, in the order they are tested (first match wins).
FAILURE_CATEGORIES: tuple[str, ...] = (
    "wrong_brick",  # a brick the task does not use was grasped
    "wrong_order",  # a brick rests on a task brick it should not rest on
    "timeout",  # the time ran out with a brick still in a hand
    "missed_grasp",  # a brick that had to move was never grasped (and no hand holds one)
    "dropped_brick",  # a brick was let go away from where it belongs
    "misaligned",  # a brick is where it belongs but outside the tolerances (or still moving)
    "not_bimanual",  # the goal pose was reached without the required second hand
)
SUCCESS = "success"

# Brick bodies of the scene by kind, in pool order (vla_lego.sim.scene.BRICK_POOL).
_BODIES: dict[str, tuple[str, ...]] = {
    "2x4": ("brick_0", "brick_1", "brick_3"),
    "2x2": ("brick_2", "brick_4", "brick_5"),
}


@dataclass(frozen=True)
class BrickSetup:
    """One brick of an episode: which pool body plays the role, its look and start pose."""

    body: str
    kind: str
    colour: str
    x: float
    y: float
    yaw: float

    @property
    def label(self) -> str:
        return f"{self.colour} {self.kind} brick"


@dataclass(frozen=True)
class TaskInstance:
    """A sampled episode set-up.

    ``bricks`` maps roles to bricks; roles starting with ``distractor`` (and the unnamed bricks of
    ``pick_named``, role ``other_<i>``) are on the table but not part of the task.
    """

    task: str
    seed: int
    bricks: dict[str, BrickSetup]
    targets: dict[str, tuple[float, float]]
    instruction: str
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def colours(self) -> set[str]:
        """Colours of every brick on the table."""
        return {b.colour for b in self.bricks.values()}


class Goal(NamedTuple):
    """Where brick ``role`` must end: on top of brick ``on`` (a role) or on ``target`` (a pad)."""

    role: str
    on: str | None = None
    target: str | None = None


class GraspRecord(NamedTuple):
    """A grasp history entry as tasks see it (body names instead of ids)."""

    time: float
    kind: str  # "grasp" | "release"
    side: str
    body: str
    holding: dict[str, str]  # side -> body, right after the event


class TaskEnv(Protocol):
    """The part of the env a task reads; :class:`~vla_lego.sim.env.LegoEnv` provides it.

    A protocol rather than ``LegoEnv`` itself: the env samples and checks tasks, so naming the
    env class here would make the two modules import each other.
    """

    @property
    def cfg(self) -> SimConfig: ...

    @property
    def instance(self) -> TaskInstance: ...

    def brick_pose(self, body: str) -> np.ndarray:
        """(x, y, z, yaw) of a brick body."""

    def brick_velocity(self, body: str) -> np.ndarray:
        """Linear velocity (m/s) of a brick body."""

    def brick_half_height(self, body: str) -> float: ...

    def holder_of(self, body: str) -> str | None:
        """The hand side holding ``body`` now, or None."""

    def ever_held(self, side: str, body: str) -> bool: ...

    def hand_closure(self, side: str) -> float:
        """0 open .. 1 closed."""

    def grasp_history(self) -> list[GraspRecord]:
        """Every grasp and release of this episode, in order."""


# ---------------------------------------------------------------------------- sampling helpers
def reachable(side: str, x: float, y: float, margin: float = 0.01) -> bool:
    """Whether a brick at (x, y) on the table is in ``side``'s reach with ``margin`` to spare.

    Measured with the expert's IK on a 4 cm grid at grasp height (``bench/sim.py --reach``
    prints the map): the right arm reaches x 0.17-0.31 m and y from -0.32 m up to 0 (for
    x <= 0.24 m; the limit falls to -0.12 m at x = 0.31 m); the left arm mirrors it.
    """
    u = y if side == "right" else -y  # < 0 on the arm's own side
    if not 0.17 + margin <= x <= 0.31 - margin:
        return False
    u_max = 0.0 if x <= 0.24 else -(x - 0.24) * 1.7
    return -0.32 + margin <= u <= u_max - margin


def _noise(rng: np.random.Generator, half: float) -> float:
    return float(rng.uniform(-half, half)) if half > 0 else 0.0


def _yaw(rng: np.random.Generator, cfg: SimConfig) -> float:
    return float(np.deg2rad(_noise(rng, cfg.yaw_noise_deg)))


def _random_kind(rng: np.random.Generator) -> str:
    return "2x4" if rng.random() < 0.5 else "2x2"


def _colours(rng: np.random.Generator, cfg: SimConfig, k: int) -> list[str]:
    """``k`` different colours (repeats only when the config has fewer than ``k``)."""
    if len(cfg.colours) < k:
        return [cfg.colours[i % len(cfg.colours)] for i in range(k)]
    return [cfg.colours[int(i)] for i in rng.choice(len(cfg.colours), size=k, replace=False)]


class _Pool:
    """Hands out the scene's brick bodies by kind, each once per episode."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, kind: str) -> str:
        body = next(b for b in _BODIES[kind] if b not in self.used)
        self.used.add(body)
        return body

    def free_kinds(self) -> list[str]:
        return [k for k, bodies in _BODIES.items() if any(b not in self.used for b in bodies)]


def _jitter(
    rng: np.random.Generator, cfg: SimConfig, x: float, y: float, scale: float = 1.0
) -> tuple[float, float]:
    n = cfg.position_noise * scale
    return x + _noise(rng, n), y + _noise(rng, n)


def _separated(points: list[tuple[float, float]], min_d: float) -> bool:
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            if np.hypot(points[i][0] - points[j][0], points[i][1] - points[j][1]) < min_d:
                return False
    return True


def _colour_words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower())) & set(BRICK_COLOURS)


def check_instruction(instance: TaskInstance, text: str) -> None:
    """Refuse an instruction that names a brick colour not on the table in this episode.

    Raises:
        ValueError: naming the absent colours and the ones present.
    """
    absent = sorted(_colour_words(text) - instance.colours)
    if absent:
        raise ValueError(
            f"instruction names {absent} but the scene (task {instance.task}, seed "
            f"{instance.seed}) has only {sorted(instance.colours)} bricks: {text!r}"
        )


# ---------------------------------------------------------------------------- scene checks
def _resting(env: TaskEnv, body: str) -> bool:
    return env.holder_of(body) is None and float(np.linalg.norm(env.brick_velocity(body))) < (
        _REST_SPEED
    )


def _on_table(env: TaskEnv, body: str) -> bool:
    z = env.brick_pose(body)[2]
    return abs(z - (env.cfg.table_height + env.brick_half_height(body))) < 0.005


def yaw_error(env: TaskEnv, top: BrickSetup, base: BrickSetup) -> float:
    """Yaw difference of ``top`` on ``base`` modulo the top's symmetry (rad, >= 0)."""
    period = np.pi / 2 if top.kind == "2x2" else np.pi
    d = env.brick_pose(top.body)[3] - env.brick_pose(base.body)[3]
    return float(abs((d + period / 2) % period - period / 2))


def _sits_on(env: TaskEnv, top: str, base: str, xy_tol: float, z_tol: float) -> bool:
    pt, pb = env.brick_pose(top), env.brick_pose(base)
    dz = pt[2] - pb[2] - env.brick_half_height(base) - env.brick_half_height(top)
    return bool(np.linalg.norm(pt[:2] - pb[:2]) < xy_tol and abs(dz) < z_tol)


def goal_state(env: TaskEnv, goal: Goal) -> str:
    """``ok``, ``held``, ``misaligned`` (near its place but outside the tolerances, or moving) or
    ``away`` for one goal."""
    inst, cfg = env.instance, env.cfg
    brick = inst.bricks[goal.role]
    if env.holder_of(brick.body) is not None:
        return "held"
    if goal.on is not None:
        base = inst.bricks[goal.on]
        if not _sits_on(env, brick.body, base.body, 0.03, 0.01):
            return "away"
        aligned = (
            _sits_on(env, brick.body, base.body, cfg.stack_tolerance_m, 0.003)
            and yaw_error(env, brick, base) < np.deg2rad(cfg.stack_tolerance_deg)
            and _resting(env, brick.body)
        )
        return "ok" if aligned else "misaligned"
    assert goal.target is not None
    d = float(
        np.linalg.norm(env.brick_pose(brick.body)[:2] - np.asarray(inst.targets[goal.target]))
    )
    if not _on_table(env, brick.body) or d > 0.06:  # 0.06: the pad's half diagonal
        return "away"
    return "ok" if d < cfg.place_tolerance_m and _resting(env, brick.body) else "misaligned"


class Task(ABC):
    """A task definition; stateless, all episode state lives in the env and the instance."""

    name: str
    arm: str = "right"
    templates: tuple[str, ...] = ()
    time_limit: float = 12.0  # seconds; the expert needs 8.5 s for the one-arm tasks

    @abstractmethod
    def _layout(
        self, rng: np.random.Generator, cfg: SimConfig, pool: _Pool
    ) -> tuple[dict[str, BrickSetup], dict[str, tuple[float, float]]]:
        """One draw of the task's bricks and targets (checked and redrawn by :meth:`sample`)."""

    @abstractmethod
    def _text(self, rng: np.random.Generator, bricks: dict[str, BrickSetup]) -> str:
        """The instruction for a layout."""

    @abstractmethod
    def goals(self, inst: TaskInstance) -> list[Goal]:
        """What must hold at the end, in the order the bricks are placed."""

    @abstractmethod
    def subtask(self, env: TaskEnv) -> str:
        """Subtask text for the current state (the autoregressive text target)."""

    def sides(self, role: str) -> tuple[str, ...]:
        """The hands that should grasp brick ``role``."""
        return (self.arm,) if self.arm != "both" else ("left", "right")

    # ------------------------------------------------------------------ sampling
    def sample(self, rng: np.random.Generator, cfg: SimConfig, seed: int) -> TaskInstance:
        """Random initial conditions and instruction.

        Layouts are drawn until every brick is in the reach of the arm that must grasp it and
        no two bricks (or a brick and a pad) are closer than :data:`MIN_SEPARATION`; then
        ``cfg.distractors`` unused bricks are added. Deterministic in ``rng``.
        """
        for _ in range(_SAMPLE_TRIES):
            pool = _Pool()
            bricks, targets = self._layout(rng, cfg, pool)
            if self._valid(bricks, targets):
                break
        else:  # pragma: no cover - the nominal layouts are valid by construction
            raise RuntimeError(f"{self.name}: no valid layout in {_SAMPLE_TRIES} draws")
        text = self._text(rng, bricks)
        bricks = {**bricks, **self._distractors(rng, cfg, pool, bricks, targets)}
        return TaskInstance(self.name, seed, bricks, targets, text)

    def _valid(
        self, bricks: dict[str, BrickSetup], targets: dict[str, tuple[float, float]]
    ) -> bool:
        for role, b in bricks.items():
            if not any(reachable(s, b.x, b.y) for s in self.sides(role)):
                return False
        pts = [(b.x, b.y) for b in bricks.values()] + list(targets.values())
        return _separated(pts, MIN_SEPARATION)

    def _distractors(
        self,
        rng: np.random.Generator,
        cfg: SimConfig,
        pool: _Pool,
        bricks: dict[str, BrickSetup],
        targets: dict[str, tuple[float, float]],
    ) -> dict[str, BrickSetup]:
        out: dict[str, BrickSetup] = {}
        taken = {b.colour for b in bricks.values()}
        for i in range(cfg.distractors):
            kinds = pool.free_kinds()
            colours = [c for c in cfg.colours if c not in taken]
            if not kinds or not colours:
                break
            kind = kinds[int(rng.integers(len(kinds)))]
            colour = colours[int(rng.integers(len(colours)))]
            occupied = [(b.x, b.y) for b in (*bricks.values(), *out.values())]
            occupied += list(targets.values())
            for _ in range(_SAMPLE_TRIES):
                x, y = float(rng.uniform(0.18, 0.30)), float(rng.uniform(-0.30, 0.30))
                if all(np.hypot(x - px, y - py) >= _DISTRACTOR_CLEARANCE for px, py in occupied):
                    break
            else:  # pragma: no cover - the table has room for two
                break
            out[f"distractor_{i}"] = BrickSetup(pool.take(kind), kind, colour, x, y, _yaw(rng, cfg))
            taken.add(colour)
        return out

    def _pick(self, rng: np.random.Generator) -> str:
        return self.templates[int(rng.integers(len(self.templates)))]

    # ------------------------------------------------------------------ checks
    def task_roles(self, inst: TaskInstance) -> set[str]:
        """Roles of the bricks the task may grasp."""
        return {g.role for g in self.goals(inst)}

    def extra_ok(self, env: TaskEnv) -> bool:
        """Task-specific conditions beyond the goal poses (e.g. who held the brick)."""
        return True

    def _wrong_brick(self, env: TaskEnv) -> bool:
        inst = env.instance
        allowed = {inst.bricks[r].body for r in self.task_roles(inst)}
        return any(h.kind == "grasp" and h.body not in allowed for h in env.grasp_history())

    def success(self, env: TaskEnv) -> bool:
        """Every goal holds, the task's extra conditions hold, no unused brick was grasped."""
        states = [goal_state(env, g) for g in self.goals(env.instance)]
        return all(s == "ok" for s in states) and self.extra_ok(env) and not self._wrong_brick(env)

    def outcome(self, env: TaskEnv) -> str:
        """``success`` or the first of :data:`FAILURE_CATEGORIES` that describes the scene."""
        if self.success(env):
            return SUCCESS
        if self._wrong_brick(env):
            return "wrong_brick"
        inst = env.instance
        goals = self.goals(inst)
        states = {g.role: goal_state(env, g) for g in goals}
        roles = [r for r in inst.bricks if r in self.task_roles(inst)]
        for g in goals:
            if states[g.role] == "away":
                body = inst.bricks[g.role].body
                for other in roles:
                    if other not in (g.role, g.on) and _sits_on(
                        env, body, inst.bricks[other].body, 0.03, 0.01
                    ):
                        return "wrong_order"
        if any(s == "held" for s in states.values()):
            return "timeout"
        held_ever = {h.body for h in env.grasp_history() if h.kind == "grasp"}
        if any(states[g.role] != "ok" and inst.bricks[g.role].body not in held_ever for g in goals):
            return "missed_grasp"
        if any(s == "away" for s in states.values()):
            return "dropped_brick"
        if any(s == "misaligned" for s in states.values()):
            return "misaligned"
        return "not_bimanual"

    def first_grasp_ok(self, env: TaskEnv) -> bool | None:
        """None before any grasp, else whether the first brick grasped is one the task uses."""
        grasps = [h for h in env.grasp_history() if h.kind == "grasp"]
        if not grasps:
            return None
        inst = env.instance
        return grasps[0].body in {inst.bricks[r].body for r in self.task_roles(inst)}


# ---------------------------------------------------------------------------- the tasks
class _OneBrickTask(Task):
    """One brick of random kind and colour, carried to a white pad at ``(WORK_X, target_y)``."""

    target_y: float

    def _layout(self, rng, cfg, pool):  # type: ignore[no-untyped-def]
        kind = _random_kind(rng)
        colour = cfg.colours[int(rng.integers(len(cfg.colours)))]
        x, y = _jitter(rng, cfg, WORK_X, -0.20)
        obj = BrickSetup(pool.take(kind), kind, colour, x, y, _yaw(rng, cfg))
        target = _jitter(rng, cfg, WORK_X, self.target_y, 0.5)
        return {"object": obj}, {"target": target}

    def _valid(self, bricks, targets) -> bool:  # type: ignore[no-untyped-def]
        obj, (tx, ty) = bricks["object"], targets["target"]
        side = "left" if self.arm == "both" else "right"
        return (
            reachable("right", obj.x, obj.y)
            and reachable(side, tx, ty)
            and _separated([(obj.x, obj.y), (tx, ty)], MIN_SEPARATION)
        )

    def _text(self, rng, bricks) -> str:  # type: ignore[no-untyped-def]
        return self._pick(rng).format(label=bricks["object"].label)

    def goals(self, inst: TaskInstance) -> list[Goal]:
        return [Goal("object", target="target")]


class PickPlace(_OneBrickTask):
    name = "pick_place"
    target_y = -0.06
    templates = (
        "pick up the {label} and place it on the white pad",
        "put the {label} on the white target",
        "move the {label} onto the white pad",
        "place the {label} on the target pad",
    )

    def subtask(self, env: TaskEnv) -> str:
        obj = env.instance.bricks["object"]
        if env.holder_of(obj.body) == "right":
            return f"place the {obj.label} on the white pad"
        if env.ever_held("right", obj.body):
            return "open the right hand and move it back"
        return f"grasp the {obj.label} with the right hand"


class Stack(Task):
    name = "stack"
    templates = (
        "stack the {top} on the {base}",
        "put the {top} on top of the {base}",
        "place the {top} onto the {base}, aligned",
        "build a tower: {top} on the {base}",
    )

    def _layout(self, rng, cfg, pool):  # type: ignore[no-untyped-def]
        c_base, c_top = _colours(rng, cfg, 2)
        bx, by = _jitter(rng, cfg, WORK_X, -0.08)
        base = BrickSetup(pool.take("2x4"), "2x4", c_base, bx, by, _yaw(rng, cfg))
        top_kind = _random_kind(rng)
        tx, ty = _jitter(rng, cfg, WORK_X, -0.21)
        top = BrickSetup(pool.take(top_kind), top_kind, c_top, tx, ty, _yaw(rng, cfg))
        return {"base": base, "top": top}, {}

    def _text(self, rng, bricks) -> str:  # type: ignore[no-untyped-def]
        return self._pick(rng).format(top=bricks["top"].label, base=bricks["base"].label)

    def goals(self, inst: TaskInstance) -> list[Goal]:
        return [Goal("top", on="base")]

    def task_roles(self, inst: TaskInstance) -> set[str]:
        return {"top", "base"}

    @staticmethod
    def yaw_error(env: TaskEnv) -> float:
        """Yaw difference of top and base modulo the pair's symmetry (rad, >= 0)."""
        inst = env.instance
        return yaw_error(env, inst.bricks["top"], inst.bricks["base"])

    def subtask(self, env: TaskEnv) -> str:
        inst = env.instance
        top, base = inst.bricks["top"], inst.bricks["base"]
        if env.holder_of(top.body) == "right":
            return f"put the {top.label} on the {base.label}"
        if env.ever_held("right", top.body):
            return "open the right hand and move it back"
        return f"grasp the {top.label} with the right hand"


class Handover(_OneBrickTask):
    name = "handover"
    target_y = 0.15  # on the left of the body; the brick starts on the right (y = -0.20)
    arm = "both"
    time_limit = 16.0  # the expert needs 13 s
    templates = (
        "hand the {label} from the right hand to the left hand and put it on the white pad",
        "pass the {label} to the left hand and place it on the target pad",
        "use both hands to move the {label} to the white pad on the left",
    )

    def extra_ok(self, env: TaskEnv) -> bool:
        body = env.instance.bricks["object"].body
        return env.ever_held("right", body) and env.ever_held("left", body)

    def subtask(self, env: TaskEnv) -> str:
        obj = env.instance.bricks["object"]
        holder = env.holder_of(obj.body)
        if holder == "right":
            return f"hand the {obj.label} to the left hand"
        if holder == "left":
            if env.hand_closure("right") > 0.5:
                return "open the right hand"
            return f"place the {obj.label} on the white pad with the left hand"
        if env.ever_held("left", obj.body):
            return "open the left hand and move it back"
        return f"grasp the {obj.label} with the right hand"


class Tower(Task):
    name = "tower"
    time_limit = 22.0  # the expert needs 17 s
    templates = (
        "put the {mid} on the {base}, then the {top} on top",
        "build a tower: the {mid} on the {base}, the {top} on top",
        "stack the {mid} onto the {base}, then stack the {top} onto it",
    )

    def _layout(self, rng, cfg, pool):  # type: ignore[no-untyped-def]
        c_base, c_mid, c_top = _colours(rng, cfg, 3)
        bx, by = _jitter(rng, cfg, 0.22, -0.07)
        mx, my = _jitter(rng, cfg, 0.21, -0.19)
        top_kind = _random_kind(rng)
        tx, ty = _jitter(rng, cfg, 0.24, -0.28)
        return {
            "base": BrickSetup(pool.take("2x4"), "2x4", c_base, bx, by, _yaw(rng, cfg)),
            "mid": BrickSetup(pool.take("2x4"), "2x4", c_mid, mx, my, _yaw(rng, cfg)),
            "top": BrickSetup(pool.take(top_kind), top_kind, c_top, tx, ty, _yaw(rng, cfg)),
        }, {}

    def _text(self, rng, bricks) -> str:  # type: ignore[no-untyped-def]
        labels = {r: bricks[r].label for r in ("base", "mid", "top")}
        return self._pick(rng).format(**labels)

    def goals(self, inst: TaskInstance) -> list[Goal]:
        return [Goal("mid", on="base"), Goal("top", on="mid")]

    def task_roles(self, inst: TaskInstance) -> set[str]:
        return {"base", "mid", "top"}

    def subtask(self, env: TaskEnv) -> str:
        b = env.instance.bricks
        if env.holder_of(b["top"].body) == "right":
            return f"put the {b['top'].label} on the {b['mid'].label}"
        if env.holder_of(b["mid"].body) == "right":
            return f"put the {b['mid'].label} on the {b['base'].label}"
        if env.ever_held("right", b["top"].body):
            return "open the right hand and move it back"
        if env.ever_held("right", b["mid"].body):
            return f"grasp the {b['top'].label} with the right hand"
        return f"grasp the {b['mid'].label} with the right hand"


class PickNamed(Task):
    """Grounding: only the colour tells the named brick from the others (kinds are random)."""

    name = "pick_named"
    templates = (
        "pick up the {colour} brick and place it on the white pad",
        "put the {colour} brick on the white pad",
        "move the {colour} one onto the target pad",
    )
    _SPOTS = ((0.21, -0.28), (0.28, -0.22), (0.20, -0.17))

    def _layout(self, rng, cfg, pool):  # type: ignore[no-untyped-def]
        k = 2 + int(rng.integers(2))
        colours = _colours(rng, cfg, k)
        spots = [self._SPOTS[int(i)] for i in rng.permutation(3)[:k]]
        bricks = {}
        for i, (colour, (x, y)) in enumerate(zip(colours, spots)):
            kind = _random_kind(rng)
            px, py = _jitter(rng, cfg, x, y)
            role = "object" if i == 0 else f"other_{i}"
            bricks[role] = BrickSetup(pool.take(kind), kind, colour, px, py, _yaw(rng, cfg))
        return bricks, {"target": _jitter(rng, cfg, WORK_X, -0.05, 0.5)}

    def _text(self, rng, bricks) -> str:  # type: ignore[no-untyped-def]
        return self._pick(rng).format(colour=bricks["object"].colour)

    def goals(self, inst: TaskInstance) -> list[Goal]:
        return [Goal("object", target="target")]

    def subtask(self, env: TaskEnv) -> str:
        obj = env.instance.bricks["object"]
        if env.holder_of(obj.body) == "right":
            return f"place the {obj.colour} brick on the white pad"
        if env.ever_held("right", obj.body):
            return "open the right hand and move it back"
        return f"grasp the {obj.colour} brick with the right hand"


class Assemble(Task):
    name = "assemble"
    arm = "both"
    time_limit = 18.0  # the expert needs 13 s
    templates = (
        "hold the {base} on the white pad with the left hand and put the {top} on it with "
        "the right hand",
        "bring the {base} to the middle with the left hand, keep holding it, and press the "
        "{top} onto it with the right hand",
        "assemble with both hands: the {top} on the {base}, on the white pad",
    )

    def sides(self, role: str) -> tuple[str, ...]:
        return ("left",) if role == "base" else ("right",)

    def _layout(self, rng, cfg, pool):  # type: ignore[no-untyped-def]
        c_base, c_top = _colours(rng, cfg, 2)
        bx, by = _jitter(rng, cfg, WORK_X, 0.17)
        top_kind = _random_kind(rng)
        tx, ty = _jitter(rng, cfg, WORK_X, -0.17)
        target = _jitter(rng, cfg, 0.20, -0.015, 0.25)
        return {
            "base": BrickSetup(pool.take("2x4"), "2x4", c_base, bx, by, _yaw(rng, cfg)),
            "top": BrickSetup(pool.take(top_kind), top_kind, c_top, tx, ty, _yaw(rng, cfg)),
        }, {"target": target}

    def _valid(self, bricks, targets) -> bool:  # type: ignore[no-untyped-def]
        # The pad lies where both arms reach; the separation check does not apply to it.
        base, top = bricks["base"], bricks["top"]
        return reachable("left", base.x, base.y) and reachable("right", top.x, top.y)

    def _text(self, rng, bricks) -> str:  # type: ignore[no-untyped-def]
        return self._pick(rng).format(top=bricks["top"].label, base=bricks["base"].label)

    def goals(self, inst: TaskInstance) -> list[Goal]:
        return [Goal("base", target="target"), Goal("top", on="base")]

    def extra_ok(self, env: TaskEnv) -> bool:
        """The top was let go onto the base while the left hand held the base."""
        b = env.instance.bricks
        releases = [
            h for h in env.grasp_history() if h.kind == "release" and h.body == b["top"].body
        ]
        return bool(releases) and releases[-1].holding.get("left") == b["base"].body

    def subtask(self, env: TaskEnv) -> str:
        b = env.instance.bricks
        base, top = b["base"], b["top"]
        left, right = env.holder_of(base.body) == "left", env.holder_of(top.body) == "right"
        if env.ever_held("right", top.body) and not right:
            return "open the left hand and move both hands back" if left else "move both hands back"
        if left and right and _on_table(env, base.body):
            # Colours only (unique in a scene): the full labels of two bricks overflow
            # max_subtask_tokens of the tiny preset.
            return f"put the {top.colour} brick on the {base.colour} one, keep holding it"
        if left or right:
            return f"bring the {base.colour} brick to the pad, the {top.colour} one above it"
        return f"grasp the {base.colour} and the {top.colour} brick"


TASKS: dict[str, Task] = {
    t.name: t for t in (PickPlace(), Stack(), Handover(), Tower(), PickNamed(), Assemble())
}


def get_task(name: str) -> Task:
    """The task called ``name``; ``ValueError`` naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}") from None


__all__ = [
    "FAILURE_CATEGORIES",
    "MIN_SEPARATION",
    "SUCCESS",
    "TASKS",
    "WORK_X",
    "Assemble",
    "BrickSetup",
    "Goal",
    "GraspRecord",
    "Handover",
    "PickNamed",
    "PickPlace",
    "Stack",
    "Task",
    "TaskEnv",
    "TaskInstance",
    "Tower",
    "check_instruction",
    "get_task",
    "goal_state",
    "reachable",
    "wrap_angle",
    "yaw_error",
]
