"""The demo's ROS stage starts the graph with ``ros2 launch`` and drives an episode through it.

``vla_lego.demo.ros_eval.Stack`` is what ``make demo`` uses for its success rate through the ROS
graph: with the ROS 2 tools installed it must be ``ros2 launch h1_bringup policy.launch.py``
(not the fallback supervisor), an episode must run (reset, task, commands on /h1/arm_command,
status counters), and a stop must end every node cleanly (exit 0, no traceback in the log).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from bringup.ddsutil import unitree_domain
from rosutil import require_ros2_tools

from vla_lego.demo.ros_eval import EvalClient, Stack

pytestmark = [pytest.mark.ros, pytest.mark.slow]

LAUNCH_DIR = Path(__file__).resolve().parents[1] / "launch"  # reach_policy.py


def test_demo_stack_runs_an_episode_through_ros2_launch(
    ros_env: dict[str, str], tmp_path: Path
) -> None:
    require_ros2_tools("launch")
    env = dict(ros_env)
    env["PYTHONPATH"] = os.pathsep.join([str(LAUNCH_DIR), env.get("PYTHONPATH", "")])
    env.setdefault("ROS_LOG_DIR", str(tmp_path / "ros_log"))
    log = tmp_path / "stack.log"
    stack = Stack(
        "python:reach_policy:reach",
        "auto",
        "pick_place",
        log,
        extra_args=(f"dds_domain:={unitree_domain()}",),
        env=env,
        preset="hard",
    )
    assert stack.launcher == "ros2 launch"
    assert stack.argv[1:3] == ["launch", "h1_bringup"] and "preset:=hard" in stack.argv
    client = EvalClient()
    try:
        client.wait_ready(stack, timeout=120.0)
        outcome = client.run_episode("pick_place", 100123, 2.0, stack)
    finally:
        client.close()
        rc = stack.stop()
    text = log.read_text()
    assert rc == 0, text
    assert outcome.seed == 100123 and outcome.instruction
    assert outcome.sim_seconds >= 2.0
    # The sim's verdict from TaskStatus: the reach policy grasps nothing in 2 s.
    assert not outcome.success and outcome.outcome == "missed_grasp", outcome
    assert "preset hard, task pick_place" in text, text  # the sim node ran the hard scene
    assert len(client.stats.command_times) > 50, text  # ~50 Hz for >= 2 s of the episode
    assert client.stats.statuses, "no /vla/status"
    assert client.stats.clamps.values["steady running"] > 0
    assert "Traceback" not in text, text
    # launch reports every node ending by itself on the one SIGINT it passed on
    for node in ("h1_sim_node", "h1_bridge_node", "policy_node"):
        assert re.search(rf"\[{node}-\d+\]: process has finished cleanly", text), text
    assert "stopped: arm_sdk weight 0.00" in text, text  # the bridge's shutdown ramp ran out
    assert "SIGTERM" not in text and "SIGKILL" not in text, text
