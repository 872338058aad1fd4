"""Every parameter of the policy node: type, description, range or choices (no ROS imports).

Values (the defaults included) live in ``config/policy.yaml``; this table says what each one means
and what it may be. The node declares each entry with a ``ParameterDescriptor`` built from it and
refuses to start when a value is missing, of the wrong type, out of range, not one of the choices,
or when the YAML names a parameter that is not in this table.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

_INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter.

    Attributes:
        name: Parameter name.
        kind: ``"str"``, ``"float"``, ``"int"``, ``"bool"`` or ``"str_list"``.
        description: What it does, with units.
        low: Inclusive lower bound (numbers only).
        high: Inclusive upper bound (numbers only).
        choices: Allowed values (strings only; empty: any).
    """

    name: str
    kind: str
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def check(self, value: Any) -> None:
        """Raise ``ValueError`` naming the parameter, the value and what is allowed."""
        if self.kind in ("float", "int"):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"parameter {self.name}: expected a {self.kind}, got {value!r}")
            if not math.isfinite(value) or not self.low <= value <= self.high:  # type: ignore[operator]
                raise ValueError(
                    f"parameter {self.name}: {value!r} outside the allowed range "
                    f"[{self.low}, {self.high}]"
                )
        elif self.kind == "str" and self.choices and value not in self.choices:
            raise ValueError(f"parameter {self.name}: {value!r} is not one of {self.choices}")
        elif self.kind == "str_list" and not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"parameter {self.name}: expected non-empty strings, got {value!r}")


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "policy",
        "str",
        "Policy to run: 'python:module:attr' (a Policy or factory), 'BACKEND:PATH' "
        "(torch / onnxruntime / tensorrt) or PATH (export dir -> onnxruntime, else torch).",
    ),
    ParamSpec("policy_kwargs", "str", "JSON object of keyword arguments for a python: factory."),
    ParamSpec(
        "backend_options",
        "str",
        'JSON object of model backend options: onnxruntime {"spin": "run"|"always"|'
        '"never", "threads": N}, torch {"cuda_graphs": true}.',
    ),
    ParamSpec("device", "str", "Inference device: 'cpu', 'cuda' or 'cuda:N'."),
    ParamSpec("seed", "int", "Seed of the flow-matching noise.", 0, _INT_MAX),
    ParamSpec("decode_text", "bool", "Decode the subtask text before the actions."),
    ParamSpec(
        "camera_topics",
        "str_list",
        "Camera topics in model view order; a topic ending in '/compressed' is subscribed as "
        "sensor_msgs/CompressedImage, any other as sensor_msgs/Image.",
    ),
    ParamSpec(
        "camera_names",
        "str_list",
        "View names the policy expects, one per camera topic ([] derives them from the topics, "
        "e.g. /h1/camera/head/image_raw -> head).",
    ),
    ParamSpec("joint_states_topic", "str", "sensor_msgs/JointState input (measured positions)."),
    ParamSpec("command_topic", "str", "sensor_msgs/JointState output (commanded positions)."),
    ParamSpec("instruction_topic", "str", "std_msgs/String instruction input ('' clears)."),
    ParamSpec("action_chunk_topic", "str", "vla_lego_msgs/ActionChunk output, one per chunk."),
    ParamSpec("status_topic", "str", "vla_lego_msgs/PolicyStatus output."),
    ParamSpec("set_task_service", "str", "vla_lego_msgs/SetTask service name."),
    ParamSpec("control_rate", "float", "Command publishing rate, Hz.", 1.0, 500.0),
    ParamSpec("status_rate", "float", "PolicyStatus publishing rate, Hz.", 0.1, 100.0),
    ParamSpec(
        "blend",
        "str",
        "How a new chunk takes over: crossfade (linear over blend_time), ensemble (ACT temporal "
        "ensembling) or none (switch at once).",
        choices=("crossfade", "ensemble", "none"),
    ),
    ParamSpec("blend_time", "float", "Seconds a new chunk takes to fade in.", 0.0, 5.0),
    ParamSpec(
        "ensemble_decay", "float", "m in the ensembling weight exp(-m * chunk_id).", -10.0, 10.0
    ),
    ParamSpec("arm_max_velocity", "float", "Arm command speed limit, rad/s.", 0.01, 9.0),
    ParamSpec("hand_max_velocity", "float", "Hand command speed limit, 1/s.", 0.01, 2.0),
    ParamSpec("arm_max_acceleration", "float", "Arm command accel limit, rad/s^2.", 0.1, 1000.0),
    ParamSpec("hand_max_acceleration", "float", "Hand command accel limit, 1/s^2.", 0.1, 1000.0),
    ParamSpec(
        "limits_file",
        "str",
        "Optional YAML {joints: {NAME: {lower, upper, max_velocity, max_acceleration}}} narrowing "
        "per-joint command limits ('' = none). Never wider than the robot's.",
    ),
    ParamSpec(
        "max_input_age",
        "float",
        "A camera frame or joint state older than this is stale, s.",
        0.01,
        10.0,
    ),
    ParamSpec("max_time_skew", "float", "Largest stamp spread across views+joints, s.", 0.0, 10.0),
    ParamSpec(
        "max_future_stamp",
        "float",
        "Inputs stamped later than now + this are dropped, s.",
        0.0,
        10.0,
    ),
    ParamSpec(
        "max_inference_latency",
        "float",
        "Observation-to-chunk limit, s: an inference running longer holds the robot and its chunk "
        "is dropped.",
        0.01,
        60.0,
    ),
    ParamSpec(
        "min_inference_period",
        "float",
        "Least time between inference starts, s (0: back to back).",
        0.0,
        60.0,
    ),
    ParamSpec(
        "hold_relatch_distance",
        "float",
        "While holding after the task was cleared: re-take the hold pose from fresh joint states "
        "when they are further than this from it (sim reset, arm moved by hand); 0 disables.",
        0.0,
        10.0,
    ),
    ParamSpec(
        "max_consecutive_failures",
        "int",
        "Policy failures in a row (exceptions, invalid chunks) that put the node in FAULT: it "
        "holds and stops calling the policy until a SetTask request; 0 retries forever.",
        0,
        1000,
    ),
    ParamSpec(
        "inference_nice",
        "int",
        "Niceness added to the inference thread (Linux) so the control timer wins the CPU.",
        0,
        19,
    ),
    ParamSpec(
        "require_activation",
        "bool",
        "true: start idle (no commands) until an instruction arrives on the service or topic; "
        "false: start running with 'instruction' (which must then be non-empty).",
    ),
    ParamSpec("instruction", "str", "Initial instruction when require_activation is false."),
)

SPECS: dict[str, ParamSpec] = {p.name: p for p in PARAMS}


def json_object(values: dict[str, Any], name: str) -> dict[str, Any]:
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


def check_values(values: dict[str, Any]) -> None:
    """Check every value against its spec and the cross-parameter rules.

    Raises:
        ValueError: naming the first problem found.
    """
    for name, spec in SPECS.items():
        if name not in values:
            raise ValueError(f"parameter {name} has no value (add it to config/policy.yaml)")
        spec.check(values[name])
    if not values["policy"].strip():
        raise ValueError("parameter policy is empty; give 'python:module:attr' or a model path")
    json_object(values, "policy_kwargs")
    if json_object(values, "backend_options") and values["policy"].strip().startswith("python:"):
        raise ValueError(
            "parameter backend_options configures a model backend; 'python:' policies take "
            "policy_kwargs"
        )
    if not values["camera_topics"]:
        raise ValueError("parameter camera_topics is empty; the policy needs at least one camera")
    names = values["camera_names"]
    if names and len(names) != len(values["camera_topics"]):
        raise ValueError(
            f"camera_names has {len(names)} entries, camera_topics "
            f"{len(values['camera_topics'])}; give one name per topic"
        )
    if not values["require_activation"] and not values["instruction"].strip():
        raise ValueError("require_activation is false but instruction is empty; set one of them")


__all__ = ["PARAMS", "SPECS", "ParamSpec", "check_values", "json_object"]
