"""Unitree H1 bimanual layout: joint names, motor indices, limits and the action-vector layout.

This module is the single definition of the robot interface. Data, sim, model, export, the policy
node and the bridge all import from here; nothing else spells out a joint name or a limit.

Action / state vector layout (``ACTION_DIM`` = 20, in this order)::

    [0:4]   left arm   shoulder_pitch, shoulder_roll, shoulder_yaw, elbow        (rad)
    [4:8]   right arm  shoulder_pitch, shoulder_roll, shoulder_yaw, elbow        (rad)
    [8:14]  left hand  pinky, ring, middle, index, thumb_bend, thumb_rotation   (0 closed .. 1 open)
    [14:20] right hand pinky, ring, middle, index, thumb_bend, thumb_rotation   (0 closed .. 1 open)

The model sees this vector zero-padded to ``MAX_ACTION_DIM`` (32) together with a mask.

Hardware facts:
    * unitree_go ``LowCmd_``/``LowState_`` carry 20 motor slots on the H1. Right arm motors are
      12-15, left arm 16-19 (shoulder pitch, roll, yaw, elbow). Slot 9 (``not_use_joint``) is unused
      by the hardware; the arm_sdk reads its ``q`` as the blend weight between the user's arm
      command and the locomotion controller.
    * Position limits are the joint ``range`` values of Unitree's H1 MJCF (checked against the file
      in the tests). Velocity limits are the URDF's per-joint ``velocity`` limits (9 rad/s for the
      shoulder pitch/roll motors, 20 rad/s for shoulder yaw and elbow); the runtime safety filter
      applies its own, much lower, configurable command limits on top of these.
    * The waist (MJCF ``torso_joint``, motor slot 6) is not in the action vector, but the arm_sdk
      takes it over together with the arms (Unitree's ``h1_arm_sdk_dds_example`` commands it with
      them), so whoever raises the arm_sdk weight must hold it (the bridge does).
    * Inspire hands: 6 DoF each, commanded on ``rt/inspire/cmd`` as unitree_go ``MotorCmds_`` with
      12 entries (right hand 0-5, left hand 6-11), each ``q`` normalised 0 (closed) .. 1 (open).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

NUM_MOTORS = 20
ARM_SDK_WEIGHT_INDEX = 9
WAIST_JOINT_NAME = "torso_joint"
WAIST_MOTOR_INDEX = 6
WAIST_LIMITS = (-2.35, 2.35)  # h1.xml torso_joint range (rad)
MAX_ACTION_DIM = 32
HAND_DOF = 6
LAYOUT_VERSION = 1

INSPIRE_CMD_TOPIC = "rt/inspire/cmd"
INSPIRE_STATE_TOPIC = "rt/inspire/state"

_ARM_JOINTS = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow")
_HAND_JOINTS = ("pinky", "ring", "middle", "index", "thumb_bend", "thumb_rotation")

ARM_JOINT_NAMES: tuple[str, ...] = tuple(
    f"{side}_{j}_joint" for side in ("left", "right") for j in _ARM_JOINTS
)
HAND_JOINT_NAMES: tuple[str, ...] = tuple(
    f"{side}_hand_{j}" for side in ("left", "right") for j in _HAND_JOINTS
)

MOTOR_INDEX: dict[str, int] = {
    **{f"right_{j}_joint": 12 + i for i, j in enumerate(_ARM_JOINTS)},
    **{f"left_{j}_joint": 16 + i for i, j in enumerate(_ARM_JOINTS)},
}
INSPIRE_HAND_INDEX: dict[str, int] = {
    **{f"right_hand_{j}": i for i, j in enumerate(_HAND_JOINTS)},
    **{f"left_hand_{j}": 6 + i for i, j in enumerate(_HAND_JOINTS)},
}

# Names other recorders give these joints, beyond what ``joint_name_key`` already equates
# (``left_elbow_joint`` = ``left_elbow`` = ``kLeftElbow`` = ``LeftElbow``, as written by the Unitree
# SDK and ``unitree_IL_lerobot``): the Inspire hands' URDF joints of the H1 with hands.
_INSPIRE_URDF_JOINTS = {
    "pinky": "pinky_proximal",
    "ring": "ring_proximal",
    "middle": "middle_proximal",
    "index": "index_proximal",
    "thumb_bend": "thumb_proximal_pitch",
    "thumb_rotation": "thumb_proximal_yaw",
}
JOINT_ALIASES: dict[str, tuple[str, ...]] = {
    f"{side}_hand_{j}": (f"{side[0].upper()}_{urdf}_joint",)
    for side in ("left", "right")
    for j, urdf in _INSPIRE_URDF_JOINTS.items()
}


def joint_name_key(name: str) -> str:
    """The spelling-free key of a joint name: ``kLeftShoulderPitch``, ``left_shoulder_pitch``,
    ``left_shoulder_pitch_joint`` and ``LeftShoulderPitch`` all give ``leftshoulderpitch``."""
    s = name.strip()
    if len(s) > 1 and s[0] == "k" and s[1].isupper():  # Unitree SDK enum style: kLeftElbow
        s = s[1:]
    key = "".join(ch for ch in s.lower() if ch.isalnum())
    return key[: -len("joint")] if key.endswith("joint") and len(key) > 5 else key


# (lower, upper) from h1.xml's joint ranges; velocity from the H1 URDF.
_ARM_LIMITS: dict[str, tuple[float, float, float]] = {
    "left_shoulder_pitch_joint": (-2.87, 2.87, 9.0),
    "left_shoulder_roll_joint": (-0.34, 3.11, 9.0),
    "left_shoulder_yaw_joint": (-1.3, 4.45, 20.0),
    "left_elbow_joint": (-1.25, 2.61, 20.0),
    "right_shoulder_pitch_joint": (-2.87, 2.87, 9.0),
    "right_shoulder_roll_joint": (-3.11, 0.34, 9.0),
    "right_shoulder_yaw_joint": (-4.45, 1.3, 20.0),
    "right_elbow_joint": (-1.25, 2.61, 20.0),
}
# The Inspire fingers close fully in about 1 s; in normalised units that is ~1 /s.
_HAND_VELOCITY = 2.0

_REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_H1_MJCF = _REPO_ROOT.parent / "shared" / "models" / "unitree_h1" / "h1.xml"


class LayoutMismatchError(ValueError):
    """Raised when a checkpoint, dataset or bag was made for another robot layout."""


@dataclass(frozen=True)
class JointSpec:
    """One entry of the action/state vector.

    Attributes:
        name: Joint name (H1 MJCF name for arms, ``{side}_hand_{finger}`` for hands).
        lower: Lower position limit (rad for arms, 0 for hands).
        upper: Upper position limit (rad for arms, 1 for hands).
        max_velocity: Hardware velocity limit (rad/s, or normalised units/s for hands).
        kind: ``"arm"`` or ``"hand"``.
    """

    name: str
    lower: float
    upper: float
    max_velocity: float
    kind: str


def _default_joints() -> tuple[JointSpec, ...]:
    arms = tuple(JointSpec(n, *_ARM_LIMITS[n], kind="arm") for n in ARM_JOINT_NAMES)
    hands = tuple(JointSpec(n, 0.0, 1.0, _HAND_VELOCITY, kind="hand") for n in HAND_JOINT_NAMES)
    return arms + hands


@dataclass(frozen=True)
class ActionLayout:
    """The documented order of the action/state vector and its padding to ``max_action_dim``.

    Args:
        joints: Entries in vector order.
        max_action_dim: Width the model works in; entries beyond ``dim`` are zero and masked.
        version: Bumped whenever the meaning of the vector changes.
    """

    joints: tuple[JointSpec, ...] = field(default_factory=_default_joints)
    max_action_dim: int = MAX_ACTION_DIM
    version: int = LAYOUT_VERSION

    def __post_init__(self) -> None:
        if len(self.joints) == 0:
            raise ValueError("ActionLayout needs at least one joint")
        if len(self.joints) > self.max_action_dim:
            raise ValueError(
                f"ActionLayout has {len(self.joints)} joints but max_action_dim is "
                f"{self.max_action_dim}; expected at most max_action_dim joints"
            )
        names = [j.name for j in self.joints]
        if len(set(names)) != len(names):
            raise ValueError(f"ActionLayout joint names must be unique, got {names}")
        for j in self.joints:
            if not j.lower < j.upper:
                raise ValueError(f"joint {j.name}: lower {j.lower} must be < upper {j.upper}")

    @property
    def dim(self) -> int:
        """Number of real (unpadded) entries."""
        return len(self.joints)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints if j.kind == "arm")

    @property
    def hand_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints if j.kind == "hand")

    @property
    def arm_slice(self) -> slice:
        idx = [i for i, j in enumerate(self.joints) if j.kind == "arm"]
        return slice(idx[0], idx[-1] + 1)

    @property
    def hand_slice(self) -> slice:
        idx = [i for i, j in enumerate(self.joints) if j.kind == "hand"]
        return slice(idx[0], idx[-1] + 1)

    @property
    def lower(self) -> np.ndarray:
        return np.array([j.lower for j in self.joints], dtype=np.float64)

    @property
    def upper(self) -> np.ndarray:
        return np.array([j.upper for j in self.joints], dtype=np.float64)

    @property
    def max_velocity(self) -> np.ndarray:
        return np.array([j.max_velocity for j in self.joints], dtype=np.float64)

    def index(self, name: str) -> int:
        """Position of ``name`` in the vector; ``KeyError`` naming the known joints otherwise."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"unknown joint {name!r}; layout has {list(self.names)}") from None

    def mask(self) -> np.ndarray:
        """Boolean mask of shape ``(max_action_dim,)``: True for real entries."""
        m = np.zeros(self.max_action_dim, dtype=bool)
        m[: self.dim] = True
        return m

    def pad(self, x: np.ndarray) -> np.ndarray:
        """Zero-pad the last axis from ``dim`` to ``max_action_dim``."""
        x = np.asarray(x)
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected last dim {self.dim}, got shape {x.shape}")
        out = np.zeros((*x.shape[:-1], self.max_action_dim), dtype=x.dtype)
        out[..., : self.dim] = x
        return out

    def unpad(self, x: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`pad`: keep the first ``dim`` entries of the last axis."""
        x = np.asarray(x)
        if x.shape[-1] != self.max_action_dim:
            raise ValueError(f"expected last dim {self.max_action_dim}, got shape {x.shape}")
        return x[..., : self.dim]

    def clip(self, x: np.ndarray) -> np.ndarray:
        """Clip an unpadded vector (or batch) to the position limits."""
        return np.clip(x, self.lower, self.upper)

    def within_limits(self, x: np.ndarray, tol: float = 1e-9) -> bool:
        x = np.asarray(x)
        return bool(np.all(x >= self.lower - tol) and np.all(x <= self.upper + tol))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description, stored in checkpoints, manifests and datasets."""
        return {
            "robot": "unitree_h1",
            "version": self.version,
            "max_action_dim": self.max_action_dim,
            "joints": [
                {
                    "name": j.name,
                    "lower": j.lower,
                    "upper": j.upper,
                    "max_velocity": j.max_velocity,
                    "kind": j.kind,
                }
                for j in self.joints
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionLayout:
        try:
            joints = tuple(JointSpec(**j) for j in d["joints"])
            return cls(joints=joints, max_action_dim=int(d["max_action_dim"]), version=d["version"])
        except (KeyError, TypeError) as e:
            raise LayoutMismatchError(f"malformed robot layout description: {e}") from e

    def check_compatible(self, other: ActionLayout | dict[str, Any], what: str = "input") -> None:
        """Raise :class:`LayoutMismatchError` unless ``other`` has the same names, order, dims."""
        if isinstance(other, dict):
            other = ActionLayout.from_dict(other)
        problems = []
        if other.version != self.version:
            problems.append(f"layout version {other.version} != {self.version}")
        if other.max_action_dim != self.max_action_dim:
            problems.append(f"max_action_dim {other.max_action_dim} != {self.max_action_dim}")
        if other.names != self.names:
            problems.append(f"joints {list(other.names)} != expected {list(self.names)}")
        if problems:
            raise LayoutMismatchError(f"{what} robot layout does not match: " + "; ".join(problems))


H1_LAYOUT = ActionLayout()
ACTION_DIM = H1_LAYOUT.dim


def resolve_h1_mjcf(path: str | os.PathLike[str] | None = None) -> Path:
    """Find the H1 MJCF: ``path`` if given, else ``$VLA_LEGO_H1_MJCF``, else the shared model.

    Raises:
        FileNotFoundError: naming every location that was tried.
    """
    tried: list[Path] = []
    candidates: list[str | os.PathLike[str]] = []
    if path is not None:
        candidates.append(path)
    else:
        env = os.environ.get("VLA_LEGO_H1_MJCF")
        if env:
            candidates.append(env)
        candidates.append(DEFAULT_H1_MJCF)
    for c in candidates:
        p = Path(c).expanduser()
        if p.is_dir():
            p = p / "h1.xml"
        if p.is_file():
            return p.resolve()
        tried.append(p)
    raise FileNotFoundError(
        "Unitree H1 MJCF not found; tried: "
        + ", ".join(str(t) for t in tried)
        + f" (default {DEFAULT_H1_MJCF}). Pass a path or set VLA_LEGO_H1_MJCF."
    )


__all__ = [
    "ACTION_DIM",
    "ARM_JOINT_NAMES",
    "ARM_SDK_WEIGHT_INDEX",
    "DEFAULT_H1_MJCF",
    "H1_LAYOUT",
    "HAND_DOF",
    "HAND_JOINT_NAMES",
    "INSPIRE_CMD_TOPIC",
    "INSPIRE_HAND_INDEX",
    "INSPIRE_STATE_TOPIC",
    "JOINT_ALIASES",
    "MAX_ACTION_DIM",
    "MOTOR_INDEX",
    "NUM_MOTORS",
    "WAIST_JOINT_NAME",
    "WAIST_LIMITS",
    "WAIST_MOTOR_INDEX",
    "ActionLayout",
    "JointSpec",
    "LayoutMismatchError",
    "joint_name_key",
    "resolve_h1_mjcf",
]
