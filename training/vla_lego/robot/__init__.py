"""The Unitree H1 bimanual interface: the single source of joint layout, limits and indices."""

from vla_lego.robot import topics
from vla_lego.robot.h1 import (
    ACTION_DIM,
    ARM_JOINT_NAMES,
    ARM_SDK_WEIGHT_INDEX,
    DEFAULT_H1_MJCF,
    H1_LAYOUT,
    HAND_DOF,
    HAND_JOINT_NAMES,
    INSPIRE_CMD_TOPIC,
    INSPIRE_HAND_INDEX,
    INSPIRE_STATE_TOPIC,
    MAX_ACTION_DIM,
    MOTOR_INDEX,
    NUM_MOTORS,
    ActionLayout,
    JointSpec,
    LayoutMismatchError,
    resolve_h1_mjcf,
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
    "MAX_ACTION_DIM",
    "MOTOR_INDEX",
    "NUM_MOTORS",
    "ActionLayout",
    "JointSpec",
    "LayoutMismatchError",
    "resolve_h1_mjcf",
    "topics",
]
