"""VLA-LEGO on the H1 (or its MuJoCo twin): ``ros2 launch h1_bringup policy.launch.py``.

Arguments and nodes come from ``config/system.yaml`` (``SYSTEM_FILE``), the same description
``python -m h1_bringup.up policy.launch.py ...`` starts where ``ros2 launch`` is missing, plus the
launch-only ``respawn_*`` arguments (``h1_bringup.launch_args``). ``--show-args`` lists them all.
Example::

    ros2 launch h1_bringup policy.launch.py robot:=real policy_path:=/models/eo1_onnx \
        network_interface:=enp3s0 backend:=onnxruntime

Every argument is checked before anything starts (``h1_bringup.launch_args.check_launch``): a
wrong value ends the launch with one error line and exit code 1, as does a second launch on a ROS
domain where the graph already runs. A required node that dies stops
the others (SIGINT first: the bridge ramps the arm_sdk weight to 0) and the launch exits 1; with
``respawn_policy:=true`` the policy node is restarted instead while the bridge holds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, Shutdown
from launch.events.process import ProcessExited
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.ros_adapters import get_ros_node

from h1_bringup.launch_args import (
    LAUNCH_ONLY_ARGUMENTS,
    POLICY_NODE,
    check_launch,
    check_not_running,
)
from h1_bringup.system import Argument, NodeSpec, System, SystemDescriptionError, load_system

SYSTEM_FILE = "system.yaml"


class LaunchArgumentError(RuntimeError):
    """A launch argument with a wrong value: launch prints this one line and exits 1."""


class RequiredNodeExitError(RuntimeError):
    """A required node exited on its own: launch stops the others and exits 1."""


def _system() -> System:
    share = get_package_share_directory("h1_bringup")
    return load_system(os.path.join(share, "config", SYSTEM_FILE))


def _arguments(system: System) -> dict[str, Argument]:
    return {**system.arguments, **LAUNCH_ONLY_ARGUMENTS}


def _on_exit(name: str, respawns: int, delay: float) -> Callable[..., Any]:
    """``on_exit`` of a required node: the first ``respawns`` exits are logged (launch restarts
    the node), the next one stops the launch: a clean exit with code 0, a crash with 1."""
    exits = 0

    def handle(event: ProcessExited, context: LaunchContext) -> list[Any] | None:
        nonlocal exits
        if context.is_shutdown:
            return None
        exits += 1
        code = event.returncode
        if respawns < 0 or exits <= respawns:
            limit = "no limit" if respawns < 0 else f"{exits}/{respawns}"
            return [LogInfo(msg=f"{name} exited with code {code}; respawn ({limit}) in {delay} s")]
        if code == 0:
            return [Shutdown(reason=f"required node {name} exited")]
        raise RequiredNodeExitError(f"required node {name} exited with code {code}; stopping all")

    return handle


def _node(spec: NodeSpec, values: dict[str, Any]) -> Node:
    respawn = spec.name == POLICY_NODE and bool(values["respawn_policy"])
    respawns = int(values["respawn_max"]) if respawn else 0
    delay = float(values["respawn_delay"])
    kwargs: dict[str, Any] = {}
    if respawn:
        kwargs = {"respawn": True, "respawn_delay": delay, "respawn_max_retries": respawns}
    return Node(
        package=spec.package,
        executable=spec.executable,
        name=spec.name,
        output="screen",
        parameters=[*map(str, spec.parameter_files), spec.parameters],
        remappings=list(spec.remappings),
        on_exit=_on_exit(spec.name, respawns, delay) if spec.required or respawn else None,
        **kwargs,
    )


def _nodes(context: LaunchContext, system: System) -> list[Node]:
    # Required arguments (no default) are enforced by ros2 launch itself; everything else
    # (choices, types, policy_path) by check_launch, and a graph already running on this ROS
    # domain by check_not_running, before any node starts.
    given = {name: LaunchConfiguration(name).perform(context) for name in _arguments(system)}
    try:
        plan = check_launch(system, given)
        check_not_running(get_ros_node(context), [spec.name for spec in plan.nodes])
    except SystemDescriptionError as e:
        raise LaunchArgumentError(str(e)) from None
    return [_node(spec, plan.values) for spec in plan.nodes]


def _description(arg: Argument) -> str:
    """The description ``--show-args`` prints (choices included: check_launch enforces them)."""
    text = arg.description or arg.name
    if arg.choices:
        text += f". Valid choices are: {list(arg.choices)}"
    if arg.type != "str":
        text += f" [{arg.type}]"
    return text


def generate_launch_description() -> LaunchDescription:
    system = _system()
    declared = [
        DeclareLaunchArgument(name, default_value=arg.default, description=_description(arg))
        for name, arg in _arguments(system).items()
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_nodes, args=[system])])
