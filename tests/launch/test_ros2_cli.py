"""The ``ros2`` command line against a running sim stack (``ros2 launch ... robot:=sim``).

Each command of the README's ROS 2 section runs as a user types it, and its output is checked:
``ros2 interface show``, ``ros2 topic echo --once`` (the sim's task, the policy's status),
``ros2 service call /vla/set_task``, ``ros2 topic hz /h1/arm_command`` (the control rate), and
``ros2 param get/set /policy`` (a read-only parameter is refused with the reason, a dynamic one
changes). A second ``ros2 launch`` on the same domain is refused with one line, starting nothing.
The ``ros2`` daemon of this test's ROS domain is started first and stopped at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bringup.ddsutil import unitree_domain
from rosutil import ChildProcess, require_ros2_tools, wait_until

from vla_lego.robot import topics as T

pytestmark = [pytest.mark.ros, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
POLICY = "python:reach_policy:reach"
CONTROL_RATE_HZ = 50.0  # the policy node's control_rate default (checked by `param get` below)
HZ_TOLERANCE = 0.15  # relative: a loaded 2-core machine
HZ_WINDOW_S = 6.0
CLI_TIMEOUT_S = 60.0
NODES = ("/h1_bridge", "/h1_sim", "/policy")


def _ros2() -> str:
    return os.path.join(os.path.dirname(sys.executable), "ros2")


def _cli(env: dict[str, str], *args: str, timeout: float = CLI_TIMEOUT_S) -> str:
    """Run ``ros2 ARGS``; its stdout + stderr (it must exit 0)."""
    p = subprocess.run(
        [_ros2(), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    assert p.returncode == 0, f"ros2 {' '.join(args)}: exit {p.returncode}\n{p.stdout}"
    return p.stdout


@pytest.fixture(scope="module")
def stack(ros_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``ros2 launch h1_bringup policy.launch.py robot:=sim`` up; yields the CLI environment."""
    require_ros2_tools("launch")
    env = dict(ros_env)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env.setdefault("ROS_LOG_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "vla_ros_log"))
    argv = [sys.executable, str(HERE / "in_terminal.py"), _ros2(), "launch", "h1_bringup"]
    argv += ["policy.launch.py", "robot:=sim", f"policy_path:={POLICY}"]
    launch = ChildProcess([*argv, f"dds_domain:={unitree_domain()}"], env)
    try:
        assert launch.wait_for_line("policy node ready", 90), launch.output
        assert launch.wait_for_line("mode waiting_for_state -> idle", 60), launch.output
        # The ros2 daemon keeps the graph the commands look up (as on a user's machine).
        _cli(env, "daemon", "start")

        def all_nodes() -> bool:
            out = _cli(env, "node", "list")
            return all(n in out.split() for n in NODES)

        assert wait_until(all_nodes, 30, period=0.5), _cli(env, "node", "list")
        yield env
    finally:
        rc = launch.stop(timeout=20)
        subprocess.run([_ros2(), "daemon", "stop"], env=env, capture_output=True, timeout=30)
    assert rc == 0, launch.output


def _instruction(env: dict[str, str]) -> str:
    out = _cli(env, "topic", "echo", T.SIM_TASK_STATUS_TOPIC, "--once")
    m = re.search(r"^instruction: (.+)$", out, flags=re.M)
    assert m, out
    return m.group(1).strip().strip("'\"")


def _set_task(env: dict[str, str]) -> str:
    instruction = _instruction(env)
    request = "{instruction: '" + instruction + "'}"
    out = _cli(env, "service", "call", T.SET_TASK_SERVICE, "vla_lego_msgs/srv/SetTask", request)
    assert "accepted=True" in out, out
    return instruction


def test_interface_show(stack: dict[str, str]) -> None:
    out = _cli(stack, "interface", "show", "vla_lego_msgs/srv/SetTask")
    lines = [ln.strip() for ln in out.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert lines == ["string instruction", "---", "bool accepted", "string message"], out


def test_set_task_then_status_says_running(stack: dict[str, str]) -> None:
    instruction = _set_task(stack)

    def running() -> bool:
        out = _cli(stack, "topic", "echo", T.POLICY_STATUS_TOPIC, "--once")
        return "state: 1\n" in out and instruction in out  # PolicyStatus.STATE_RUNNING

    assert wait_until(running, 30, period=0.5)


def test_topic_hz_shows_the_control_rate(stack: dict[str, str]) -> None:
    _set_task(stack)
    hz = ChildProcess([_ros2(), "topic", "hz", T.ARM_COMMAND_TOPIC, "--window", "100"], stack)
    try:
        assert wait_until(lambda: len(re.findall("average rate", hz.output)) >= 3, 30), hz.output
        wait_until(lambda: False, HZ_WINDOW_S / 2)
    finally:
        hz.stop()
    rates = [float(r) for r in re.findall(r"average rate: ([\d.]+)", hz.output)]
    assert rates and abs(rates[-1] - CONTROL_RATE_HZ) <= HZ_TOLERANCE * CONTROL_RATE_HZ, hz.output


def test_param_get_and_set(stack: dict[str, str]) -> None:
    get = ("param", "get", "/policy")
    out = _cli(stack, *get, "control_rate")
    assert out.strip() == f"Double value is: {CONTROL_RATE_HZ}", out

    # control_rate cannot change while the node runs: refused, with the reason.
    out = _cli(stack, "param", "set", "/policy", "control_rate", "10.0")
    assert out.startswith("Setting parameter failed"), out
    assert "read-only" in out or "cannot change" in out, out
    assert _cli(stack, *get, "control_rate").strip().endswith(str(CONTROL_RATE_HZ))

    # min_inference_period is dynamic: it changes, and a bad value is refused with the reason.
    old = _cli(stack, *get, "min_inference_period").split(":")[-1].strip()
    out = _cli(stack, "param", "set", "/policy", "min_inference_period", "0.4")
    assert out.strip() == "Set parameter successful", out
    assert _cli(stack, *get, "min_inference_period").strip().endswith("0.4")
    out = _cli(stack, "param", "set", "/policy", "min_inference_period", "-1.0")
    assert out.startswith("Setting parameter failed: ") and len(out.split(":", 1)[1]) > 5, out
    _cli(stack, "param", "set", "/policy", "min_inference_period", old)


def test_second_launch_on_the_domain_is_refused(stack: dict[str, str]) -> None:
    argv = [_ros2(), "launch", "h1_bringup", "policy.launch.py", "robot:=sim"]
    argv += [f"policy_path:={POLICY}", f"dds_domain:={unitree_domain()}"]
    second = ChildProcess(argv, stack)
    try:
        assert second.proc.wait(CLI_TIMEOUT_S) == 1, second.output
    finally:
        second.stop()
    errors = [ln for ln in second.lines if "ERROR" in ln]
    assert len(errors) == 1, second.output
    assert "the graph already runs on this ROS domain" in errors[0], second.output
    assert any(f"'{name}'" in errors[0] for name in NODES), errors[0]  # those seen so far
    assert "process started" not in second.output and "Traceback" not in second.output
    # The first launch is untouched: its nodes still answer.
    assert all(n in _cli(stack, "node", "list").split() for n in NODES)
