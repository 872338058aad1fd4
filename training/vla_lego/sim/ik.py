"""Damped-least-squares inverse kinematics for the H1's 4-DoF arms.

The task for one arm is the position of the ball hand's grasp point (3 values) and, optionally,
the hand's heading about the vertical axis (1 value, see :func:`hand_heading`): with 4 joints
that is the whole arm. The solver runs on a scratch ``MjData`` so it never disturbs the simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from vla_lego.robot import H1_LAYOUT


def hand_heading(xmat: np.ndarray) -> float:
    """Heading of the hand about the vertical (rad), from a site's 3x3 (or flat) frame.

    Taken from the elbow link's y axis (the elbow joint axis), which stays near horizontal in
    every reaching pose, so the heading is well defined even with the forearm pointing straight
    down. 0 when the forearm points forward (+x).
    """
    ay = np.asarray(xmat).reshape(3, 3)[:, 1]
    return float(np.arctan2(-ay[0], ay[1]))


def wrap_angle(a: float | np.ndarray) -> float | np.ndarray:
    """Wrap to (-pi, pi]."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


@dataclass
class IKResult:
    """Joint solution of one arm (layout order) and the remaining task errors."""

    q: np.ndarray
    position_error: float
    heading_error: float

    @property
    def ok(self) -> bool:
        return self.position_error < 2e-3 and self.heading_error < np.deg2rad(2.0)


class ArmIK:
    """DLS IK on the model's own Jacobians (``mj_jacSite``).

    Args:
        model: Compiled scene model (``vla_lego.sim.scene.build_scene``).
        side: ``"left"`` or ``"right"``.
        damping: DLS damping factor lambda.
        heading_weight: Weight of the heading row (metres per radian).
    """

    def __init__(
        self, model: mujoco.MjModel, side: str, damping: float = 0.02, heading_weight: float = 0.1
    ) -> None:
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        self.model = model
        self.data = mujoco.MjData(model)
        self.side = side
        self.damping = damping
        self.heading_weight = heading_weight
        names = [n for n in H1_LAYOUT.arm_names if n.startswith(side)]
        self.layout_idx = np.array([H1_LAYOUT.index(n) for n in names])
        self.qadr = np.array([model.joint(n).qposadr[0] for n in names])
        self.dofadr = np.array([model.joint(n).dofadr[0] for n in names])
        self.lower = H1_LAYOUT.lower[self.layout_idx]
        self.upper = H1_LAYOUT.upper[self.layout_idx]
        self.site = model.site(f"{side}_grasp").id
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, float]:
        """Grasp-point position and hand heading for arm joints ``q`` (4,)."""
        self.data.qpos[self.qadr] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)  # mj_jacSite needs cdof from here
        return self.data.site_xpos[self.site].copy(), self._heading()

    def _heading(self) -> float:
        return hand_heading(self.data.site_xmat[self.site])

    def _jacobian(self, with_heading: bool) -> np.ndarray:
        mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.site)
        jp = self._jacp[:, self.dofadr]
        if not with_heading:
            return jp
        ay = self.data.site_xmat[self.site].reshape(3, 3)[:, 1]
        day = np.cross(self._jacr[:, self.dofadr].T, ay).T  # d(ay)/dq, (3, 4)
        denom = max(ay[0] ** 2 + ay[1] ** 2, 1e-6)
        jh = (ay[0] * day[1] - ay[1] * day[0]) / denom  # d/dq atan2(-ay_x, ay_y)
        return np.vstack([jp, self.heading_weight * jh[None, :]])

    def solve(
        self,
        target: np.ndarray,
        q0: np.ndarray,
        heading: float | None = None,
        iters: int = 60,
        tol: float = 5e-4,
    ) -> IKResult:
        """Solve from the start guess ``q0`` (4,); returns the best iterate."""
        q = np.clip(np.asarray(q0, dtype=np.float64).copy(), self.lower, self.upper)
        lam2 = self.damping**2
        for _ in range(iters):
            pos, head = self.forward(q)
            err = np.asarray(target) - pos
            herr = 0.0 if heading is None else float(wrap_angle(heading - head))
            if np.linalg.norm(err) < tol and abs(herr) < np.deg2rad(0.5):
                break
            jac = self._jacobian(heading is not None)
            e = err if heading is None else np.append(err, self.heading_weight * herr)
            dq = jac.T @ np.linalg.solve(jac @ jac.T + lam2 * np.eye(jac.shape[0]), e)
            step = np.linalg.norm(dq)
            if step > 0.3:  # keep each iterate inside the linearisation's trust region
                dq *= 0.3 / step
            q = np.clip(q + dq, self.lower, self.upper)
        pos, head = self.forward(q)
        herr = 0.0 if heading is None else abs(float(wrap_angle(heading - head)))
        return IKResult(q, float(np.linalg.norm(np.asarray(target) - pos)), herr)


__all__ = ["ArmIK", "IKResult", "hand_heading", "wrap_angle"]
