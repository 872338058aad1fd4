"""Every setting of h1_bridge_node: the one table its ROS parameters, ``config/bridge.yaml`` and
:class:`h1_bringup.bridge_core.BridgeConfig` come from (no ROS imports).

``config/bridge.yaml`` is generated (``python -m vla_lego.runtime params-yaml
h1_bringup.bridge_params --write ros2_ws/src/h1_bringup/config/bridge.yaml``; a test fails when it
is out of date); ``bridge_sim.yaml`` / ``bridge_real.yaml`` hold the per-robot overrides that
``system.yaml`` adds after it.
"""

from __future__ import annotations

from vla_lego.robot import topics as T
from vla_lego.runtime.params import Setting, SettingsTable

_S = Setting
BRIDGE_PARAMS = SettingsTable(
    "h1_bridge",
    (
        _S("control_rate", "float", 50.0, "rt/arm_sdk publish rate, Hz.", 1.0, 1000.0),
        _S("joint_state_rate", "float", 50.0, "/h1/joint_states publish rate, Hz.", 1.0, 1000.0),
        _S(
            "kp",
            "float_list",
            (60.0,) * 8,
            "Arm position gains, layout arm order (left shoulder pitch/roll/yaw, elbow, right "
            "shoulder pitch/roll/yaw, elbow); Unitree's H1 arm_sdk example uses 60.",
            0.0,
            500.0,
            length=8,
        ),
        _S("kd", "float_list", (1.5,) * 8, "Arm damping gains, same order.", 0.0, 50.0, length=8),
        _S("ramp_up_time", "float", 2.0, "Seconds for the arm_sdk weight 0 -> 1.", 1e-3, 60.0),
        _S(
            "ramp_down_time",
            "float",
            1.0,
            "Seconds for the weight 1 -> 0 (stale commands, fault, shutdown).",
            1e-3,
            5.0,
        ),
        _S("command_timeout", "float", 0.1, "Watchdog on /h1/arm_command, s.", 1e-3, 10.0),
        _S(
            "state_timeout",
            "float",
            0.25,
            "rt/lowstate silence while commanding that is a latched fault, s; while idle it "
            "only sends the bridge back to waiting (bridge_sim.yaml, bridge_real.yaml override).",
            1e-3,
            60.0,
        ),
        _S(
            "state_wait_timeout",
            "float",
            5.0,
            "Report a robot whose DDS is silent at start after this long, s.",
            0.1,
            3600.0,
        ),
        _S(
            "arm_max_velocity",
            "float",
            2.0,
            "Per-tick arm delta clamp, rad/s (demos move the elbow at <= 1.7 rad/s; a joint's "
            "hardware limit applies where lower).",
            1e-3,
            20.0,
        ),
        _S(
            "hand_max_velocity",
            "float",
            2.0,
            "Per-tick clamp of the hand openings, 1/s (hardware limit where lower).",
            1e-3,
            20.0,
        ),
        _S(
            "waist_kp",
            "float",
            60.0,
            "Waist hold gain while the arm_sdk weight is up (the arm_sdk takes the waist over "
            "with the arms; it is held where it was measured when the weight left 0).",
            0.0,
            500.0,
        ),
        _S("waist_kd", "float", 1.5, "Waist hold damping, same.", 0.0, 50.0),
        _S(
            "max_tracking_error",
            "float",
            0.5,
            "Command-measure gap (collision, sim reset) that restarts from measured, rad (above "
            "any joint's range, e.g. 10, never restarts).",
            0.01,
            10.0,
        ),
        _S("dds_domain", "int", 0, "Unitree DDS domain id (the H1 uses 0).", 0, 232),
        _S(
            "network_interface",
            "str",
            "lo",
            "Network interface the Unitree DDS binds to (the robot's NIC for robot:=real).",
        ),
        _S(
            "joint_states_topic",
            "str",
            T.JOINT_STATES_TOPIC,
            "sensor_msgs/JointState output (the layout joints).",
        ),
        _S(
            "arm_command_topic",
            "str",
            T.ARM_COMMAND_TOPIC,
            "sensor_msgs/JointState command input (the layout joints).",
        ),
    ),
    sections={
        "control_rate": "Rates.",
        "kp": "Arm gains and the arm_sdk weight ramp.",
        "command_timeout": "Watchdogs.",
        "arm_max_velocity": "Command limits.",
        "dds_domain": "Unitree DDS and ROS topics.",
    },
)

FILE_HEADER = """\
Parameters of h1_bringup/h1_bridge_node: /h1/arm_command (sensor_msgs/JointState) -> rt/arm_sdk +
rt/inspire/cmd, rt/lowstate (+ rt/inspire/state) -> /h1/joint_states. GENERATED from
h1_bringup.bridge_params by
`python -m vla_lego.runtime params-yaml h1_bringup.bridge_params --write FILE`;
edit the table, not this file. Per-robot overrides: bridge_sim.yaml, bridge_real.yaml.
"""


def params_yaml() -> str:
    """The bridge's ``config/bridge.yaml``."""
    return BRIDGE_PARAMS.params_yaml(FILE_HEADER)


__all__ = ["BRIDGE_PARAMS", "FILE_HEADER", "params_yaml"]
