"""MuJoCo H1 LEGO simulation: scene, grasp model, tasks, scripted expert, dataset generation.

See :mod:`vla_lego.sim.env` for the environment API (including the low-level API of the DDS
sim node), :mod:`vla_lego.sim.grasp` for the grasp model and :mod:`vla_lego.sim.tasks` for the
tasks.
"""

from vla_lego.sim.config import BRICK_COLOURS, CAMERA_NAMES, SimConfig
from vla_lego.sim.env import ARM_MOTOR_JOINTS, HAND_INSPIRE_ORDER, LegoEnv
from vla_lego.sim.expert import ScriptedExpert
from vla_lego.sim.tasks import TASKS, get_task

__all__ = [
    "ARM_MOTOR_JOINTS",
    "BRICK_COLOURS",
    "CAMERA_NAMES",
    "HAND_INSPIRE_ORDER",
    "TASKS",
    "LegoEnv",
    "ScriptedExpert",
    "SimConfig",
    "get_task",
]
