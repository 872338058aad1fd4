"""Settings tables of h1_bringup's sim robot and camera driver (the bridge's: bridge_params).

Declared on the nodes with :func:`vla_lego_policy.ros_params.declare_table`, the one way this
project declares ROS parameters; ``config/sim.yaml`` and ``config/camera.yaml`` hold the values
``system.yaml`` starts them with, checked against these tables by the tests.
"""

from __future__ import annotations

from vla_lego.robot import topics as T
from vla_lego.runtime.params import INT_MAX, Setting, SettingsTable

_S = Setting
SIM_PARAMS = SettingsTable(
    "h1_sim",
    (
        _S("dds_domain", "int", 0, "Unitree DDS domain id.", 0, 232),
        _S("network_interface", "str", "lo", "Network interface the Unitree DDS binds to."),
        _S("task", "str", "pick_place", "Task at start (vla_lego.sim.tasks)."),
        _S(
            "preset",
            "str",
            "easy",
            "Randomisation preset of the scene (vla_lego.sim.config.PRESETS: easy, hard); "
            "checked at start-up.",
        ),
        _S("seed", "int", 0, "Seed of the initial scene.", 0, INT_MAX),
        _S("lowstate_rate", "float", 200.0, "rt/lowstate publish rate, Hz.", 1.0, 1000.0),
        _S("camera_rate", "float", 10.0, "Camera image rate, Hz.", 0.1, 100.0),
        _S("status_rate", "float", 2.0, "TaskStatus publish rate, Hz.", 0.1, 100.0),
        _S("camera", "str", "head", "Scene camera to publish."),
        _S("image_topic", "str", T.HEAD_CAMERA_TOPIC, "sensor_msgs/Image topic."),
        _S("image_width", "int", 128, "Image width, px.", 8, 4096),
        _S("image_height", "int", 128, "Image height, px.", 8, 4096),
        _S("real_time_factor", "float", 1.0, "Sim seconds per wall second.", 0.01, 10.0),
        _S(
            "env_factory",
            "str",
            "vla_lego.sim.env:LegoEnv",
            "module:attr called with a SimConfig to build the scene.",
        ),
    ),
)

CAMERA_PARAMS = SettingsTable(
    "head_camera",
    (
        _S("device", "str", "/dev/video0", "V4L2 device, camera index or video file."),
        _S("width", "int", 640, "Image width, px.", 8, 8192),
        _S("height", "int", 480, "Image height, px.", 8, 8192),
        _S("rate", "float", 30.0, "Publish rate, Hz.", 0.1, 240.0),
        _S("frame_id", "str", "head_camera", "header.frame_id of the images."),
        _S("loop", "bool", False, "Rewind a video file at its end."),
        _S("max_failures", "int", 30, "Failed grabs in a row before the node exits.", 1, 10**6),
        _S("topic", "str", T.HEAD_CAMERA_TOPIC, "sensor_msgs/Image topic."),
    ),
)

__all__ = ["CAMERA_PARAMS", "SIM_PARAMS"]
