"""VLA-LEGO on the H1 (or its MuJoCo twin): ``ros2 launch h1_bringup policy.launch.py``.

Arguments and nodes come from ``config/system.yaml`` (``SYSTEM_FILE``), the same description
``python -m h1_bringup.up policy.launch.py ...`` starts where ``ros2 launch`` is missing. Example::

    ros2 launch h1_bringup policy.launch.py robot:=real policy_path:=/models/eo1_onnx \
        network_interface:=enp3s0 backend:=onnxruntime
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from h1_bringup.system import System, load_system

SYSTEM_FILE = "system.yaml"


def _system() -> System:
    share = get_package_share_directory("h1_bringup")
    return load_system(os.path.join(share, "config", SYSTEM_FILE))


def _nodes(context: LaunchContext, system: System) -> list[Node]:
    # Required arguments (no default) are enforced by ros2 launch itself; the rest is checked
    # (choices, types) by resolve(), which raises a SystemDescriptionError naming the argument.
    given = {name: LaunchConfiguration(name).perform(context) for name in system.arguments}
    actions = []
    for spec in system.resolve(given):
        actions.append(
            Node(
                package=spec.package,
                executable=spec.executable,
                name=spec.name,
                output="screen",
                parameters=[*map(str, spec.parameter_files), spec.parameters],
                remappings=list(spec.remappings),
                on_exit=(
                    Shutdown(reason=f"required node {spec.name} exited") if spec.required else None
                ),
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    system = _system()
    declared = [
        DeclareLaunchArgument(
            name,
            default_value=arg.default,
            description=arg.description,
            choices=list(arg.choices) if arg.choices else None,
        )
        for name, arg in system.arguments.items()
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_nodes, args=[system])])
