"""Every setting of the policy node, the one place that says what each is and what it defaults to.

The ROS node (``vla_lego_policy``) declares its parameters from :data:`POLICY_PARAMS`; its
``config/policy.yaml`` is generated from it (``python -m vla_lego.runtime params-yaml
vla_lego.runtime.policy_params --write FILE``; a test fails when the file is out of date); bag
replay and the direct sim evaluation build their controller from it
(:mod:`vla_lego.runtime.build`); the runtime dataclasses take their defaults and ranges from it.
Defaults are the values the robot runs with (``ros2 launch h1_bringup policy.launch.py``), so a
replay or a direct evaluation without a parameter file runs the deployed controller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vla_lego.robot import topics as T
from vla_lego.runtime.params import INT_MAX, Setting, SettingsTable

# The executable's own node name, and the name h1_bringup's launch gives it.
NODE_NAMES = ("policy_node", "policy")


def _rules(values: Mapping[str, Any]) -> None:
    json_object(values, "policy_kwargs")
    if json_object(values, "backend_options") and values["policy"].strip().startswith("python:"):
        raise ValueError(
            "parameter backend_options configures a model backend; 'python:' policies take "
            "policy_kwargs"
        )
    topics = [t for t in values["camera_topics"] if t]
    if not topics:
        raise ValueError("parameter camera_topics is empty; the policy needs at least one camera")
    names = [n for n in values["camera_names"] if n]
    if names and len(names) != len(topics):
        raise ValueError(
            f"camera_names has {len(names)} entries, camera_topics {len(topics)}; give one name "
            "per topic"
        )
    if not values["require_activation"] and not values["instruction"].strip():
        raise ValueError("require_activation is false but instruction is empty; set one of them")


def json_object(values: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The JSON object in string parameter ``name`` (empty means ``{}``).

    Raises:
        ValueError: not JSON, or JSON that is not an object.
    """
    try:
        obj = json.loads(values[name] or "{}")
    except json.JSONDecodeError as e:
        raise ValueError(f"parameter {name} is not JSON: {e}") from e
    if not isinstance(obj, dict):
        raise ValueError(f"parameter {name} must be a JSON object, got {obj!r}")
    return obj


_S = Setting
POLICY_PARAMS = SettingsTable(
    NODE_NAMES[0],
    (
        _S(
            "policy",
            "str",
            "",
            "Policy to run: 'python:module:attr' (a Policy or factory), 'BACKEND:PATH' (torch / "
            "onnxruntime / tensorrt) or PATH (export dir -> onnxruntime, else torch). Empty by "
            "default: the node does not start until a run names the policy it should execute.",
        ),
        _S("policy_kwargs", "str", "{}", "JSON object of keyword arguments for a python: factory."),
        _S(
            "backend_options",
            "str",
            "{}",
            'JSON object of model backend options: onnxruntime {"spin": "run"|"always"|"never", '
            '"threads": N} ("never" keeps idle ORT threads from busy-waiting on a shared CPU), '
            'torch {"cuda_graphs": true}.',
        ),
        _S("device", "str", "cpu", "Inference device: 'cpu', 'cuda' or 'cuda:N'."),
        _S("seed", "int", 0, "Seed of the flow-matching noise.", 0, INT_MAX),
        _S("decode_text", "bool", True, "Decode the subtask text before the actions."),
        _S(
            "camera_topics",
            "str_list",
            (T.HEAD_CAMERA_TOPIC,),
            "Camera topics in model view order; a topic ending in '/compressed' is subscribed as "
            "sensor_msgs/CompressedImage, any other as sensor_msgs/Image.",
        ),
        _S(
            "camera_names",
            "str_list",
            ("",),
            "View names the policy expects, one per camera topic ([''] derives them from the "
            "topics, e.g. /h1/camera/head/image_raw -> head).",
        ),
        _S(
            "joint_states_topic",
            "str",
            T.JOINT_STATES_TOPIC,
            "sensor_msgs/JointState input (measured positions).",
        ),
        _S(
            "command_topic",
            "str",
            T.ARM_COMMAND_TOPIC,
            "sensor_msgs/JointState output (commanded positions).",
        ),
        _S(
            "instruction_topic",
            "str",
            T.INSTRUCTION_TOPIC,
            "std_msgs/String instruction input ('' clears).",
        ),
        _S(
            "action_chunk_topic",
            "str",
            T.ACTION_CHUNK_TOPIC,
            "vla_lego_msgs/ActionChunk output, one per chunk.",
        ),
        _S("status_topic", "str", T.POLICY_STATUS_TOPIC, "vla_lego_msgs/PolicyStatus output."),
        _S(
            "params_topic",
            "str",
            T.POLICY_PARAMS_TOPIC,
            "std_msgs/String output, latched (transient local): the node's effective parameters "
            "as a ROS parameter file, published at start and after every change (vla-record "
            "records it; vla-replay-eval replays with it).",
        ),
        _S("set_task_service", "str", T.SET_TASK_SERVICE, "vla_lego_msgs/SetTask service name."),
        _S("control_rate", "float", 50.0, "Command publishing rate, Hz.", 1.0, 500.0),
        _S("status_rate", "float", 5.0, "PolicyStatus publishing rate, Hz.", 0.1, 100.0),
        _S(
            "blend",
            "str",
            "crossfade",
            "How a new chunk takes over: crossfade (over blend_time), ensemble (ACT "
            "temporal ensembling), none (switch at once) or rtc (real-time chunking: the policy "
            "continues the actions executed while it computes, then a crossfade; needs a policy "
            "that follows guidance).",
            choices=("crossfade", "ensemble", "none", "rtc"),
        ),
        _S(
            "rtc_delay",
            "float",
            -1.0,
            "rtc: seconds from observation to chunk arrival the policy plans for (the frozen "
            "prefix); negative: the largest of the last 10 measured latencies.",
            -1.0,
            2.0,
        ),
        _S("blend_time", "float", 0.2, "Seconds a new chunk takes to fade in.", 0.0, 5.0),
        _S(
            "ensemble_decay",
            "float",
            0.0,
            "m in the ensembling weight exp(-m * chunk_id).",
            -10.0,
            10.0,
        ),
        _S(
            "interpolation",
            "str",
            "cubic",
            "How the 50 Hz targets pass through a chunk's actions: cubic (monotone cubic Hermite "
            "with smoothstep blend weights: velocity continuous at actions and joins, no "
            "overshoot) or linear (velocity steps at every action).",
            choices=("cubic", "linear"),
        ),
        _S(
            "feasible_targets",
            "bool",
            True,
            "Clip chunk actions into the position limits and shape the target stream to 98% of "
            "the velocity and acceleration limits before the safety filter, which then acts only "
            "on faults; false leaves all limiting to the filter.",
        ),
        _S(
            "arm_max_velocity",
            "float",
            2.0,
            "Arm command speed limit, rad/s (the demonstrations move the elbow at up to 1.7 "
            "rad/s; lower limits make the arm lag its chunks; H1 hardware: 9-20 rad/s).",
            0.01,
            9.0,
        ),
        _S(
            "hand_max_velocity",
            "float",
            2.0,
            "Hand command speed limit, 1/s of the 0..1 opening (demonstrations step the hands "
            "at up to 2.5 /s; layout limit 2 /s).",
            0.01,
            2.0,
        ),
        _S(
            "arm_max_acceleration",
            "float",
            15.0,
            "Arm command acceleration limit, rad/s^2.",
            0.1,
            1000.0,
        ),
        _S(
            "hand_max_acceleration",
            "float",
            10.0,
            "Hand command acceleration limit, 1/s^2.",
            0.1,
            1000.0,
        ),
        _S(
            "limits_file",
            "str",
            "",
            "Optional YAML {joints: {NAME: {lower, upper, max_velocity, max_acceleration}}} "
            "narrowing per-joint command limits ('' = none). Never wider than the robot's.",
        ),
        _S(
            "max_input_age",
            "float",
            0.2,
            "A camera frame or joint state older than this is stale, s.",
            0.01,
            10.0,
        ),
        _S(
            "max_time_skew",
            "float",
            0.1,
            "Largest stamp spread across views and joints, s.",
            0.0,
            10.0,
        ),
        _S(
            "max_future_stamp",
            "float",
            0.05,
            "Inputs stamped later than now + this are dropped, s.",
            0.0,
            10.0,
        ),
        _S(
            "max_inference_latency",
            "float",
            1.0,
            "Observation-to-chunk limit, s: an inference running longer holds the robot and its "
            "chunk is dropped.",
            0.01,
            60.0,
            dynamic=True,
        ),
        _S(
            "min_inference_period",
            "float",
            0.5,
            "Least time between inference starts, s (0: back to back). 0.5 s re-plans every 5 "
            "actions of a 10 Hz chunk: re-planning as fast as inference allows kept moving the "
            "hand closure into the future (sim pick_place: 80% at 0.5 s, 50% at 0.2 s).",
            0.0,
            60.0,
            dynamic=True,
        ),
        _S(
            "hold_relatch_distance",
            "float",
            0.3,
            "While holding after the task was cleared: re-take the hold pose from fresh joint "
            "states when they are further than this from it (a sim reset, an arm moved by hand) "
            "instead of driving back to the old pose; 0 disables.",
            0.0,
            10.0,
            dynamic=True,
        ),
        _S(
            "max_consecutive_failures",
            "int",
            3,
            "Policy failures in a row (exceptions, invalid chunks) that put the node in FAULT: it "
            "holds and stops calling the policy until a SetTask request; 0 retries forever.",
            0,
            1000,
            dynamic=True,
        ),
        _S(
            "inference_nice",
            "int",
            10,
            "Niceness added to the inference thread (Linux) so the control timer wins the CPU "
            "(measured in bench/policy_node.py to cut control-period jitter with the ONNX model; "
            "use 0 for a pure-Python policy that holds the GIL).",
            0,
            19,
        ),
        _S(
            "require_activation",
            "bool",
            True,
            "true: start idle (no commands) until an instruction arrives on the service or "
            "topic; false: start running with 'instruction' (which must then be non-empty).",
        ),
        _S("instruction", "str", "", "Initial instruction when require_activation is false."),
    ),
    rules=_rules,
    sections={
        "policy": "Policy.",
        "camera_topics": "Inputs and outputs (names from vla_lego.robot.topics).",
        "control_rate": "Control loop and chunk execution.",
        "arm_max_velocity": "Command limits (never above the robot's: vla_lego.robot.H1_LAYOUT).",
        "max_input_age": "Watchdogs and inference pacing.",
        "require_activation": "Lifecycle.",
    },
)

FILE_HEADER = """\
Parameters of vla_lego_policy/policy_node: every setting at its default, GENERATED from
vla_lego.runtime.policy_params (types, ranges, meaning) by
`python -m vla_lego.runtime params-yaml vla_lego.runtime.policy_params --write FILE`;
edit the table, not this file.
Override per run: --ros-args --params-file my.yaml  or  -p name:=value
"""


EFFECTIVE_HEADER = """\
Effective parameters of vla_lego_policy/policy_node, as published on its params_topic at {stamp} s
(ROS parameter file format: usable with --params-file and vla-replay-eval --params).
"""


def params_yaml() -> str:
    """The node's ``config/policy.yaml``."""
    return POLICY_PARAMS.params_yaml(FILE_HEADER)


def effective_params_yaml(values: Mapping[str, Any], stamp: float) -> str:
    """The parameter file of a running node's ``values`` (what its ``params_topic`` carries)."""
    return POLICY_PARAMS.params_yaml(EFFECTIVE_HEADER.format(stamp=f"{stamp:.3f}"), values)


__all__ = [
    "FILE_HEADER",
    "NODE_NAMES",
    "POLICY_PARAMS",
    "effective_params_yaml",
    "json_object",
    "params_yaml",
]
