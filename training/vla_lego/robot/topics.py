"""Names of every ROS 2 topic/service and Unitree DDS channel the stack uses (one place).

ROS nodes take these as parameter defaults; bag tools and tests import them from here.
"""

from __future__ import annotations

from collections.abc import Iterable

# ROS 2 graph
HEAD_CAMERA_TOPIC = "/h1/camera/head/image_raw"
WRIST_CAMERA_TOPICS = ("/h1/camera/left_wrist/image_raw", "/h1/camera/right_wrist/image_raw")
JOINT_STATES_TOPIC = "/h1/joint_states"
ARM_COMMAND_TOPIC = "/h1/arm_command"
INSTRUCTION_TOPIC = "/vla/instruction"
ACTION_CHUNK_TOPIC = "/vla/action_chunk"
POLICY_STATUS_TOPIC = "/vla/status"
# std_msgs/String, latched: the policy node's effective parameters as a ROS parameter file.
POLICY_PARAMS_TOPIC = "/vla/policy_params"
SET_TASK_SERVICE = "/vla/set_task"
SIM_RESET_SERVICE = "/h1_sim/reset"
SIM_TASK_STATUS_TOPIC = "/h1_sim/task_status"

# Unitree DDS channels (unitree_sdk2py, CycloneDDS)
LOWSTATE_CHANNEL = "rt/lowstate"
LOWCMD_CHANNEL = "rt/lowcmd"
ARM_SDK_CHANNEL = "rt/arm_sdk"

# Trailing image-transport / driver path elements that do not name the camera.
_IMAGE_SUFFIXES = ("compressed", "image_raw", "image", "image_rect", "color")


def camera_name_from_topic(topic: str) -> str:
    """The view name of an image topic when none is given (the policy node and the bag tools):
    ``/h1/camera/head/image_raw`` -> ``head``, ``/c/left_wrist/image_raw/compressed`` ->
    ``left_wrist``.

    Raises:
        ValueError: only image-transport elements in the topic (name the camera explicitly).
    """
    parts = [p for p in topic.split("/") if p]
    while parts and parts[-1] in _IMAGE_SUFFIXES:
        parts.pop()
    if not parts:
        raise ValueError(
            f"cannot derive a camera name from topic {topic!r}; name the camera explicitly"
        )
    return parts[-1]


def parse_camera_items(items: Iterable[str]) -> dict[str, str]:
    """``["head=/h1/camera/head/image_raw", ...]`` (``--camera NAME=/topic``) -> view -> topic.

    Raises:
        ValueError: an item that is not ``NAME=/topic``.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, topic = item.partition("=")
        if not sep or not name or not topic.startswith("/"):
            raise ValueError(f"--camera expects NAME=/topic, got {item!r}")
        out[name] = topic
    return out


__all__ = [
    "ACTION_CHUNK_TOPIC",
    "ARM_COMMAND_TOPIC",
    "ARM_SDK_CHANNEL",
    "HEAD_CAMERA_TOPIC",
    "INSTRUCTION_TOPIC",
    "JOINT_STATES_TOPIC",
    "LOWCMD_CHANNEL",
    "LOWSTATE_CHANNEL",
    "POLICY_STATUS_TOPIC",
    "SET_TASK_SERVICE",
    "SIM_RESET_SERVICE",
    "SIM_TASK_STATUS_TOPIC",
    "WRIST_CAMERA_TOPICS",
    "camera_name_from_topic",
    "parse_camera_items",
]
