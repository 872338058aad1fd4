"""Helpers of the launch_testing files in tests/launch (``test_*_launch.py``).

They run under ``python -m launch_testing.launch_test`` with tests/ and tests/launch on
PYTHONPATH (tests/launch/test_launch_files.py sets that up), in the ROS domain of the pytest
session that started them; the Unitree side (CycloneDDS on lo) is on the next domain id
(:func:`bringup.ddsutil.unitree_domain`), where the project's simulated H1 plays the robot.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rclpy
import yaml
from ament_index_python.packages import get_package_share_directory
from launch.actions import IncludeLaunchDescription, RegisterEventHandler
from launch.event_handlers import OnProcessExit, OnProcessStart
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.actions import Node
from unitree_sdk2py.core.channel import ChannelSubscriber
from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowState_

from h1_bringup.system import NodeSpec, load_system
from vla_lego.robot import topics as T

HERE = Path(__file__).resolve().parent
REACH = "python:reach_policy:reach"
SWING = "python:reach_policy:swing"


def share() -> Path:
    """h1_bringup's installed share directory."""
    return Path(get_package_share_directory("h1_bringup"))


def policy_launch_file() -> Path:
    return share() / "launch" / "policy.launch.py"


def add_test_policies_to_path() -> None:
    """Make ``python:reach_policy:...`` importable by the launched policy node (and the launch
    file's policy_path check)."""
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])


def include_policy_launch(**arguments: str) -> IncludeLaunchDescription:
    """``policy.launch.py`` with these ``name:=value`` arguments, in this launch."""
    return IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(policy_launch_file())),
        launch_arguments=list(arguments.items()),
    )


def ros2_launch_argv(*arguments: str) -> list[str]:
    """The user's command: ``ros2 launch h1_bringup policy.launch.py ARGS``."""
    ros2 = shutil.which("ros2")
    if ros2 is None:
        raise RuntimeError("no `ros2` on PATH (make setup installs ros2cli)")
    return [ros2, "launch", "h1_bringup", "policy.launch.py", *arguments]


def node_spec(name: str, **arguments: str) -> NodeSpec:
    """The spec of node ``name`` that policy.launch.py would start for these arguments."""
    system = load_system(share() / "config" / "system.yaml")
    for spec in system.resolve(arguments):
        if spec.name == name:
            return spec
    raise LookupError(f"system.yaml starts no node {name!r} for {arguments}")


def node_of(spec: NodeSpec) -> Node:
    """A launch_ros Node for a spec, as policy.launch.py builds it (without the on_exit rule)."""
    return Node(
        package=spec.package,
        executable=spec.executable,
        name=spec.name,
        output="screen",
        parameters=[*map(str, spec.parameter_files), spec.parameters],
        remappings=list(spec.remappings),
    )


def bridge_parameter(name: str, robot: str = "sim") -> Any:
    """A bridge parameter as the launch sets it: ``bridge.yaml`` then ``bridge_<robot>.yaml``."""
    value = None
    for f in ("bridge.yaml", f"bridge_{robot}.yaml"):
        params = yaml.safe_load((share() / "config" / f).read_text())["/**"]["ros__parameters"]
        value = params.get(name, value)
    if value is None:
        raise KeyError(f"bridge parameter {name!r} in neither bridge.yaml nor bridge_{robot}.yaml")
    return value


class ProcessEvents:
    """Start and exit events of every process of a launch, with their pids and exit codes."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.exited: list[tuple[str, int, int]] = []
        self._lock = threading.Lock()

    def handlers(self) -> list[RegisterEventHandler]:
        """Add these to the test's LaunchDescription."""
        return [
            RegisterEventHandler(OnProcessStart(on_start=self._on_start)),
            RegisterEventHandler(OnProcessExit(on_exit=self._on_exit)),
        ]

    def _on_start(self, event: Any, _context: Any) -> None:
        with self._lock:
            self.started.append((event.process_name, event.pid))

    def _on_exit(self, event: Any, _context: Any) -> None:
        with self._lock:
            self.exited.append((event.process_name, event.pid, event.returncode))

    def pids(self, name_prefix: str) -> list[int]:
        """Pids of the processes whose name starts with ``name_prefix``, in start order."""
        with self._lock:
            return [pid for n, pid in self.started if n.startswith(name_prefix)]


class LowStateTap:
    """Counts rt/lowstate messages: the simulated robot is up and talking."""

    def __init__(self) -> None:
        self.count = 0
        self.sub = ChannelSubscriber(T.LOWSTATE_CHANNEL, LowState_)
        self.sub.Init(self._on, 10)

    def _on(self, _msg: LowState_) -> None:
        self.count += 1


def spin_until(node: Any, pred: Callable[[], Any], timeout: float) -> bool:
    """Spin ``node`` until ``pred()`` is true or ``timeout`` s passed; the last ``pred()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if pred():
            return True
    return bool(pred())


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


__all__ = [
    "REACH",
    "SWING",
    "LowStateTap",
    "ProcessEvents",
    "add_test_policies_to_path",
    "alive",
    "bridge_parameter",
    "include_policy_launch",
    "node_of",
    "node_spec",
    "policy_launch_file",
    "ros2_launch_argv",
    "share",
    "spin_until",
]
