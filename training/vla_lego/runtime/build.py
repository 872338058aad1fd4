"""The policy node's controller built from its settings: one function for the node, replay and sim.

The ROS node, bag replay (:mod:`vla_lego.eval.replay`) and the direct sim evaluation
(:mod:`vla_lego.eval.sim`) all call :func:`build_controller` with values resolved from
:data:`~vla_lego.runtime.policy_params.POLICY_PARAMS`, so they run the same
:class:`~vla_lego.runtime.controller.PolicyController` with the same sync thresholds, blending,
safety limits and inference pacing; only the transport (topics, a bag, the simulator) and the
clock (ROS time, bag time, simulated time) differ.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from vla_lego.inference.loading import load_policy_from_spec
from vla_lego.inference.types import Policy
from vla_lego.robot import H1_LAYOUT, ActionLayout
from vla_lego.robot.topics import camera_name_from_topic
from vla_lego.runtime.controller import ChunkEvent, ControllerConfig, PolicyController
from vla_lego.runtime.params import parse_params_text, read_params_files
from vla_lego.runtime.policy_params import NODE_NAMES, POLICY_PARAMS, json_object
from vla_lego.runtime.safety import SafetyFilter, SafetyLimits, load_limit_overrides
from vla_lego.runtime.scheduler import ChunkScheduler, SchedulerConfig
from vla_lego.runtime.sync import ObservationSync, SyncConfig

POLICY_PACKAGE = "vla_lego_policy"
# Parameters every rclpy node has (or that ROS 2's QoS overriding reads): not policy settings.
ROS_BUILTIN_PARAMS = ("use_sim_time", "start_type_description_service")


def is_ros_param(name: str) -> bool:
    """True for parameters that belong to rclpy rather than to the policy's table."""
    return name in ROS_BUILTIN_PARAMS or name.startswith("qos_overrides.")


def installed_params_file() -> Path | None:
    """``vla_lego_policy``'s installed ``config/policy.yaml`` (ament prefixes), if any."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        path = Path(prefix) / "share" / POLICY_PACKAGE / "config" / "policy.yaml"
        if prefix and path.is_file():
            return path
    return None


def values_from_text(text: str, source: str) -> dict[str, Any]:
    """The settings in a parameter file's text (e.g. a bag's ``params_topic`` message).

    Raises:
        ValueError: not a parameter file, an unknown name (listed) or an invalid value.
    """
    raw = parse_params_text(text, NODE_NAMES, source)
    values = {k: v for k, v in raw.items() if not is_ros_param(k)}
    return POLICY_PARAMS.resolve(values, source=source)


def node_values(
    files: Iterable[str | os.PathLike[str]] = (),
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The node's settings: table defaults, then each parameter file, then ``overrides``.

    Args:
        files: ROS 2 parameter files, applied in order (as ``--params-file`` is).
        overrides: Values that win over the files (e.g. command-line flags).

    Raises:
        FileNotFoundError / ValueError: a missing file, an unknown name or an invalid value.
    """
    paths = [str(os.fspath(f)) for f in files]
    raw = read_params_files(paths, NODE_NAMES) if paths else {}
    values = {k: v for k, v in raw.items() if not is_ros_param(k)}
    return POLICY_PARAMS.resolve(values, dict(overrides or {}), source=", ".join(paths))


def camera_map(values: Mapping[str, Any]) -> dict[str, str]:
    """View name -> topic in model order (``camera_names`` or names derived from the topics)."""
    topics = [t for t in values["camera_topics"] if t]
    names = [n for n in values["camera_names"] if n] or [camera_name_from_topic(t) for t in topics]
    if len(set(names)) != len(names):
        raise ValueError(f"camera names {names} are not unique; set camera_names")
    return dict(zip(names, topics, strict=True))


def sync_config(values: Mapping[str, Any], camera_names: Iterable[str]) -> SyncConfig:
    """Observation sync thresholds."""
    return SyncConfig(
        tuple(camera_names),
        values["max_input_age"],
        values["max_time_skew"],
        values["max_future_stamp"],
    )


def scheduler_config(values: Mapping[str, Any]) -> SchedulerConfig:
    """Chunk blending, interpolation and target shaping."""
    return SchedulerConfig(
        values["blend"],
        values["blend_time"],
        values["ensemble_decay"],
        interpolation=values["interpolation"],
        feasible_targets=values["feasible_targets"],
    )


def safety_limits(values: Mapping[str, Any], layout: ActionLayout = H1_LAYOUT) -> SafetyLimits:
    """Command limits: the layout's, narrowed by the speed settings and ``limits_file``."""
    path = values["limits_file"]
    return SafetyLimits.from_layout(
        layout,
        values["arm_max_velocity"],
        values["hand_max_velocity"],
        values["arm_max_acceleration"],
        values["hand_max_acceleration"],
        load_limit_overrides(path) if path else None,
    )


def controller_config(values: Mapping[str, Any]) -> ControllerConfig:
    """Watchdogs and inference pacing."""
    return ControllerConfig(
        max_inference_latency=values["max_inference_latency"],
        min_inference_period=values["min_inference_period"],
        inference_nice=values["inference_nice"],
        hold_relatch_distance=values["hold_relatch_distance"],
        max_consecutive_failures=values["max_consecutive_failures"],
        rtc_delay=values["rtc_delay"],
    )


def build_controller(
    values: Mapping[str, Any],
    policy: Policy,
    clock: Callable[[], float],
    *,
    layout: ActionLayout = H1_LAYOUT,
    cameras: Iterable[str] | None = None,
    on_chunk: Callable[[ChunkEvent], None] | None = None,
) -> PolicyController:
    """The policy node's controller for these settings.

    Args:
        values: Settings resolved from :data:`POLICY_PARAMS` (e.g. by :func:`node_values`).
        policy: The policy to run.
        clock: Seconds on the clock the inputs are stamped with.
        layout: Robot layout.
        cameras: View names in model order (default: from the settings' camera topics).
        on_chunk: Called with every accepted chunk.
    """
    POLICY_PARAMS.check_rules(values)
    names = tuple(cameras) if cameras is not None else tuple(camera_map(values))
    limits, period = safety_limits(values, layout), 1.0 / values["control_rate"]
    return PolicyController(
        policy,
        ObservationSync(layout, sync_config(values, names)),
        ChunkScheduler(layout.dim, scheduler_config(values), limits, period),
        SafetyFilter(limits, period),
        clock=clock,
        config=controller_config(values),
        on_chunk=on_chunk,
    )


def load_policy(values: Mapping[str, Any]) -> Policy:
    """The policy named by the ``policy`` setting, with its kwargs, backend options and seed.

    Raises:
        ValueError: ``policy`` is empty or malformed.
    """
    spec = str(values["policy"]).strip()
    if not spec:
        raise ValueError("parameter policy is empty; give 'python:module:attr' or a model path")
    return load_policy_from_spec(
        spec,
        kwargs=json_object(values, "policy_kwargs"),
        backend_options=json_object(values, "backend_options") or None,
        device=values["device"],
        seed=values["seed"],
        decode_text=values["decode_text"],
    )


__all__ = [
    "POLICY_PACKAGE",
    "ROS_BUILTIN_PARAMS",
    "build_controller",
    "camera_map",
    "controller_config",
    "installed_params_file",
    "is_ros_param",
    "load_policy",
    "node_values",
    "safety_limits",
    "scheduler_config",
    "sync_config",
    "values_from_text",
]
