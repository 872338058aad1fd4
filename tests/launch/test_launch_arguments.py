"""``ros2 launch h1_bringup policy.launch.py``'s arguments: documented, and checked up front.

``--show-args`` lists every argument (system.yaml's and the launch-only ones) with its
description and default. A wrong value ends the launch with exit code 1 and exactly one error line
naming the argument: no traceback, no process started, nothing sent to the robot. A required
node that dies at start stops the launch with exit code 1 and one line saying which.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from bringup.ddsutil import WireTap, unitree_domain
from rosutil import ChildProcess, require_ros2_tools

from h1_bringup.launch_args import LAUNCH_ONLY_ARGUMENTS, MANIFEST_NAME
from h1_bringup.system import load_system
from vla_lego.inference.manifest import MANIFEST_NAME as INFERENCE_MANIFEST_NAME

pytestmark = [pytest.mark.ros]

HERE = Path(__file__).resolve().parent
POLICY = "python:reach_policy:reach"
LAUNCH_TIMEOUT_S = 60.0


def _system_file() -> Path:
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("h1_bringup")) / "config" / "system.yaml"


def _ros2_launch(ros_env: dict[str, str], *args: str) -> ChildProcess:
    require_ros2_tools("launch")
    env = dict(ros_env)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env.setdefault("ROS_LOG_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "vla_ros_log"))
    ros2 = os.path.join(os.path.dirname(sys.executable), "ros2")
    return ChildProcess([ros2, "launch", "h1_bringup", "policy.launch.py", *args], env)


def _finish(child: ChildProcess) -> int:
    try:
        return child.proc.wait(LAUNCH_TIMEOUT_S)
    finally:
        child.stop()


def test_manifest_name_matches_inference() -> None:
    assert MANIFEST_NAME == INFERENCE_MANIFEST_NAME


def test_show_args_lists_every_argument(ros_env: dict[str, str]) -> None:
    child = _ros2_launch(ros_env, "--show-args")
    assert _finish(child) == 0, child.output
    out = child.output
    arguments = {**load_system(_system_file()).arguments, **LAUNCH_ONLY_ARGUMENTS}
    blocks = dict(re.findall(r"^\s+'(\w+)':\n((?:\s{8}.*\n?)+)", out, flags=re.M))
    assert list(blocks) == list(arguments), out
    for name, arg in arguments.items():
        text = " ".join(blocks[name].split())
        assert arg.description and " ".join(arg.description.split()) in text, (name, text)
        if arg.default is None:
            assert "(default:" not in text, (name, text)  # required
        else:
            assert f"(default: '{arg.default}')" in text, (name, text)
        if arg.choices:
            assert f"Valid choices are: {list(arg.choices)}" in text, (name, text)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([f"policy_path:={POLICY}", "robot:=foo"], "launch argument robot:='foo' is not allowed"),
        ([f"policy_path:={POLICY}", "backend:=tflite"], "launch argument backend:='tflite' is not"),
        (["robot:=sim"], "missing required argument 'policy_path'"),
        (["policy_path:=/no/such/export"], "policy_path:='/no/such/export' is not a directory"),
        (["policy_path:={tmp}", "backend:=onnxruntime"], f"has no {MANIFEST_NAME}: backend"),
        (["policy_path:=python:no_such_module:x"], "no Python module 'no_such_module'"),
        ([f"policy_path:={POLICY}", "dds_domain:=zero"], "dds_domain expects a int, got 'zero'"),
        ([f"policy_path:={POLICY}", "use_camera:=maybe"], "use_camera expects true|false"),
        ([f"policy_path:={POLICY}", "respawn_max:=x"], "respawn_max expects a int, got 'x'"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_wrong_value_is_one_clear_line(
    ros_env: dict[str, str], tmp_path: Path, args: list[str], needle: str
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    child = _ros2_launch(ros_env, *args)
    assert _finish(child) == 1, child.output
    errors = [ln for ln in child.lines if "ERROR" in ln]
    assert len(errors) == 1 and needle in errors[0], child.output
    assert "Traceback" not in child.output
    assert "process started" not in child.output


@pytest.mark.slow
def test_required_node_dying_stops_the_launch(ros_env: dict[str, str], tap: WireTap) -> None:
    """The policy module exists but has no such factory: the node exits at start (code 2)."""
    child = _ros2_launch(
        ros_env,
        "robot:=sim",
        "policy_path:=python:reach_policy:no_such_factory",
        f"dds_domain:={unitree_domain()}",
    )
    assert _finish(child) == 1, child.output
    stop = [ln for ln in child.lines if "Caught exception in launch" in ln]
    assert len(stop) == 1, child.output
    assert re.search(r"required node policy exited with code [1-9]\d*; stopping all", stop[0])
    assert tap.msgs == []  # the robot was never commanded
