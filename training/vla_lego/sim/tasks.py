"""Tasks: randomised initial conditions, templated instructions, subtask text, success checks.

``pick_place``  one brick (2x4 or 2x2, random colour) onto the white target pad, right arm.
``stack``       a brick onto a 2x4 base brick, aligned within ``stack_tolerance_m`` (horizontal)
                and ``stack_tolerance_deg`` (yaw, modulo the pair's symmetry), right arm.
``handover``    the right hand picks a brick and hands it to the left hand, which places it on
                the target pad on the left (bimanual).

The right arm works in front of the robot's right side (grasp point x ~ 0.18-0.28 m at table
height, see ``vla_lego.sim.ik`` for the measured reach); positions below are in the world frame
(x forward, y left, z up, pelvis at the origin's vertical).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vla_lego.sim.config import SimConfig
from vla_lego.sim.ik import wrap_angle

WORK_X = 0.24  # nominal x of the bricks (m)
_REST_SPEED = 0.02  # m/s: a brick slower than this counts as resting


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
    """A sampled episode set-up."""

    task: str
    seed: int
    bricks: dict[str, BrickSetup]
    targets: dict[str, tuple[float, float]]
    instruction: str
    extra: dict[str, float] = field(default_factory=dict)


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


def _noise(rng: np.random.Generator, half: float) -> float:
    return float(rng.uniform(-half, half)) if half > 0 else 0.0


def _yaw(rng: np.random.Generator, cfg: SimConfig) -> float:
    return float(np.deg2rad(_noise(rng, cfg.yaw_noise_deg)))


def _random_kind(rng: np.random.Generator) -> str:
    return "2x4" if rng.random() < 0.5 else "2x2"


def _brick_near(
    rng: np.random.Generator,
    cfg: SimConfig,
    kind: str,
    colour: str,
    y: float,
    body: str | None = None,
) -> BrickSetup:
    """A brick at ``(WORK_X, y)`` plus position and yaw noise, drawn in the order x, y, yaw (the
    order fixes which scene a seed gives). ``body`` defaults to the model's brick of ``kind``."""
    n = cfg.position_noise
    return BrickSetup(
        body or ("brick_0" if kind == "2x4" else "brick_2"),
        kind,
        colour,
        WORK_X + _noise(rng, n),
        y + _noise(rng, n),
        _yaw(rng, cfg),
    )


def _two_colours(rng: np.random.Generator, cfg: SimConfig) -> tuple[str, str]:
    if len(cfg.colours) < 2:
        c = cfg.colours[0]
        return c, c
    a, b = rng.choice(len(cfg.colours), size=2, replace=False)
    return cfg.colours[int(a)], cfg.colours[int(b)]


class Task(ABC):
    """A task definition; stateless, all episode state lives in the env and the instance."""

    name: str
    arm: str = "right"
    templates: tuple[str, ...] = ()
    time_limit: float = 12.0  # seconds; the expert needs 8.5 s for the one-arm tasks

    @abstractmethod
    def sample(self, rng: np.random.Generator, cfg: SimConfig, seed: int) -> TaskInstance:
        """Random initial conditions and instruction."""

    @abstractmethod
    def success(self, env: TaskEnv) -> bool:
        """Whether the episode's goal holds now."""

    @abstractmethod
    def subtask(self, env: TaskEnv) -> str:
        """Subtask text for the current state (the autoregressive text target)."""

    def _instruction(self, rng: np.random.Generator, **kw: str) -> str:
        return self.templates[int(rng.integers(len(self.templates)))].format(**kw)


def _resting(env: TaskEnv, body: str) -> bool:
    return env.holder_of(body) is None and float(np.linalg.norm(env.brick_velocity(body))) < (
        _REST_SPEED
    )


def _on_table(env: TaskEnv, body: str) -> bool:
    z = env.brick_pose(body)[2]
    return abs(z - (env.cfg.table_height + env.brick_half_height(body))) < 0.005


class _OneBrickTask(Task):
    """One brick of random kind and colour, carried to a white pad at ``(WORK_X, target_y)``."""

    target_y: float

    def sample(self, rng: np.random.Generator, cfg: SimConfig, seed: int) -> TaskInstance:
        kind = _random_kind(rng)
        colour = cfg.colours[int(rng.integers(len(cfg.colours)))]
        obj = _brick_near(rng, cfg, kind, colour, -0.20)
        n = cfg.position_noise
        target = (WORK_X + _noise(rng, n / 2), self.target_y + _noise(rng, n / 2))
        return TaskInstance(
            self.name,
            seed,
            {"object": obj},
            {"target": target},
            self._instruction(rng, label=obj.label),
        )


class PickPlace(_OneBrickTask):
    name = "pick_place"
    target_y = -0.06
    templates = (
        "pick up the {label} and place it on the white pad",
        "put the {label} on the white target",
        "move the {label} onto the white pad",
        "place the {label} on the target pad",
    )

    def success(self, env: TaskEnv) -> bool:
        inst = env.instance
        body = inst.bricks["object"].body
        xy = env.brick_pose(body)[:2]
        near = np.linalg.norm(xy - np.asarray(inst.targets["target"])) < env.cfg.place_tolerance_m
        return bool(near and _resting(env, body) and _on_table(env, body))

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

    def sample(self, rng: np.random.Generator, cfg: SimConfig, seed: int) -> TaskInstance:
        c_base, c_top = _two_colours(rng, cfg)
        base = _brick_near(rng, cfg, "2x4", c_base, -0.08)
        top_kind = _random_kind(rng)
        top_body = "brick_1" if top_kind == "2x4" else "brick_2"
        top = _brick_near(rng, cfg, top_kind, c_top, -0.21, body=top_body)
        return TaskInstance(
            self.name,
            seed,
            {"base": base, "top": top},
            {},
            self._instruction(rng, top=top.label, base=base.label),
        )

    @staticmethod
    def yaw_error(env: TaskEnv) -> float:
        """Yaw difference of top and base modulo the pair's symmetry (rad, >= 0)."""
        inst = env.instance
        top, base = inst.bricks["top"], inst.bricks["base"]
        period = np.pi / 2 if top.kind == "2x2" else np.pi
        d = env.brick_pose(top.body)[3] - env.brick_pose(base.body)[3]
        return float(abs((d + period / 2) % period - period / 2))

    def success(self, env: TaskEnv) -> bool:
        inst = env.instance
        top, base = inst.bricks["top"].body, inst.bricks["base"].body
        pt, pb = env.brick_pose(top), env.brick_pose(base)
        dz = pt[2] - pb[2] - 2 * env.brick_half_height(base)
        ok_xy = np.linalg.norm(pt[:2] - pb[:2]) < env.cfg.stack_tolerance_m
        ok_yaw = self.yaw_error(env) < np.deg2rad(env.cfg.stack_tolerance_deg)
        return bool(ok_xy and ok_yaw and abs(dz) < 0.003 and _resting(env, top))

    def subtask(self, env: TaskEnv) -> str:
        inst = env.instance
        top, base = inst.bricks["top"], inst.bricks["base"]
        if env.holder_of(top.body) == "right":
            return f"align the {top.label} over the {base.label} and put it down"
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

    def success(self, env: TaskEnv) -> bool:
        inst = env.instance
        body = inst.bricks["object"].body
        xy = env.brick_pose(body)[:2]
        near = np.linalg.norm(xy - np.asarray(inst.targets["target"])) < env.cfg.place_tolerance_m
        handed = env.ever_held("right", body) and env.ever_held("left", body)
        return bool(near and handed and _resting(env, body) and _on_table(env, body))

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


TASKS: dict[str, Task] = {t.name: t for t in (PickPlace(), Stack(), Handover())}


def get_task(name: str) -> Task:
    """The task called ``name``; ``ValueError`` naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}") from None


__all__ = [
    "TASKS",
    "WORK_X",
    "BrickSetup",
    "Handover",
    "PickPlace",
    "Stack",
    "Task",
    "TaskEnv",
    "TaskInstance",
    "get_task",
    "wrap_angle",
]
