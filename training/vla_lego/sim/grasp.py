"""The grasp model: how the Inspire hand command picks up and releases bricks in the sim.

The H1 model has rigid "ball" hands, so grasping is modelled, the same way for every policy:

* Each hand's 6 finger commands (0 closed .. 1 open) drive 6 simulated finger positions that
  move toward the command at the Inspire hand's speed limit (``H1_LAYOUT.max_velocity``).
* Hand *closure* = 1 - mean(finger positions), so 0 is fully open and 1 fully closed.
* While an empty hand's closure is at least ``grasp_close`` and the centre of a free brick lies
  within ``grasp_radius`` of the hand's grasp point (the centre of the ball hand), the nearest
  such brick is attached to that hand (a hand that closed a little early still grasps once it
  arrives). A brick held by the other hand is taken over only when the closure *rises* through
  ``grasp_close`` near it (a handover), so a hand that is still opening never grabs it back.
* An attached brick follows the grasp point kinematically: its offset from the grasp point is
  frozen at the moment of the grasp and turns with the hand's heading about the vertical
  (:func:`vla_lego.sim.ik.hand_heading`); the brick stays level and its yaw turns with the heading
  too (a rigid grip about the vertical).
* When the closure falls to ``grasp_open`` or below, the brick is released with zero velocity
  and falls under physics onto whatever is below it.

Because the grasp depends only on the hand command, the same 20-value action vector drives the
sim and the robot.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from vla_lego.sim.ik import hand_heading

SIDES: tuple[str, ...] = ("left", "right")


def yaw_of_quat(quat: np.ndarray) -> float:
    """Rotation about world z of a body quaternion (w, x, y, z)."""
    w, x, y, z = quat
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def quat_of_yaw(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass
class Grip:
    """A brick held by one hand: which brick, its offset and yaw at the moment of the grasp."""

    brick: int
    offset: np.ndarray
    brick_yaw: float
    hand_heading: float


@dataclass(frozen=True)
class GraspEvent:
    """A grasp or release, with what every hand holds right after it (the tasks' history)."""

    time: float
    kind: str  # "grasp" | "release"
    side: str
    brick: int
    holding: tuple[tuple[str, int], ...]  # (side, brick) pairs held after the event


class GraspModel:
    """Attach / release bricks from hand closures (see the module docstring).

    Args:
        model: Compiled scene.
        brick_names: Bodies that can be grasped.
        radius: Grasp radius (m).
        close: Closure at which a grasp happens.
        open_: Closure at which a held brick is released.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        brick_names: tuple[str, ...],
        radius: float,
        close: float,
        open_: float,
    ) -> None:
        self.model = model
        self.radius = radius
        self.close = close
        self.open = open_
        self.bricks = [model.body(n).id for n in brick_names]
        self._qadr = {b: model.jnt_qposadr[model.body_jntadr[b]] for b in self.bricks}
        self._dofadr = {b: model.jnt_dofadr[model.body_jntadr[b]] for b in self.bricks}
        self.sites = {s: model.site(f"{s}_grasp").id for s in SIDES}
        self.grips: dict[str, Grip] = {}
        self._was_closed = dict.fromkeys(SIDES, False)
        self.ever_held: dict[str, set[int]] = {s: set() for s in SIDES}
        self.events: list[GraspEvent] = []

    def reset(self) -> None:
        self.grips.clear()
        self._was_closed = dict.fromkeys(SIDES, False)
        self.ever_held = {s: set() for s in SIDES}
        self.events = []

    def _log(self, data: mujoco.MjData, kind: str, side: str, brick: int) -> None:
        holding = tuple((s, g.brick) for s, g in sorted(self.grips.items()))
        self.events.append(GraspEvent(float(data.time), kind, side, brick, holding))

    def holder_of(self, brick: int) -> str | None:
        """Which hand holds ``brick`` (a body id), or ``None``."""
        for side, grip in self.grips.items():
            if grip.brick == brick:
                return side
        return None

    def _heading(self, data: mujoco.MjData, side: str) -> float:
        return hand_heading(data.site_xmat[self.sites[side]])

    def _nearest(self, data: mujoco.MjData, side: str, free_only: bool) -> int | None:
        site = data.site_xpos[self.sites[side]]
        best, best_d = None, self.radius
        for b in self.bricks:
            if free_only and self.holder_of(b) is not None:
                continue
            d = float(np.linalg.norm(data.xpos[b] - site))
            if d <= best_d:
                best, best_d = b, d
        return best

    def update(self, data: mujoco.MjData, closures: dict[str, float]) -> None:
        """Grasp when closed near a brick (handover on a rising edge); release when opened."""
        for side in SIDES:
            c = closures[side]
            closed = c >= self.close
            if side in self.grips and c <= self.open:
                held = self.grips.pop(side).brick
                data.qvel[self._dofadr[held] : self._dofadr[held] + 6] = 0.0
                self._log(data, "release", side, held)
            elif closed and side not in self.grips:
                b = self._nearest(data, side, free_only=self._was_closed[side])
                if b is not None:
                    other = self.holder_of(b)
                    if other is not None:
                        del self.grips[other]
                        self._log(data, "release", other, b)
                    site = data.site_xpos[self.sites[side]]
                    self.grips[side] = Grip(
                        b,
                        data.xpos[b] - site,
                        yaw_of_quat(data.xquat[b]),
                        self._heading(data, side),
                    )
                    self.ever_held[side].add(b)
                    self._log(data, "grasp", side, b)
            self._was_closed[side] = closed

    def note_open(self) -> None:
        """Record that both hands are below the grasp threshold (the update's fast path)."""
        self._was_closed = dict.fromkeys(SIDES, False)

    def apply(self, data: mujoco.MjData) -> None:
        """Move every held brick to its grip pose (call before each physics step)."""
        for side, g in self.grips.items():
            turn = self._heading(data, side) - g.hand_heading
            pos = data.site_xpos[self.sites[side]] + _rot_z(turn) @ g.offset
            adr = self._qadr[g.brick]
            data.qpos[adr : adr + 3] = pos
            data.qpos[adr + 3 : adr + 7] = quat_of_yaw(g.brick_yaw + turn)
            dof = self._dofadr[g.brick]
            data.qvel[dof : dof + 6] = 0.0


__all__ = ["SIDES", "GraspEvent", "GraspModel", "Grip", "quat_of_yaw", "yaw_of_quat"]
