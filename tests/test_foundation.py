"""Foundation: the workspace builds, interface types round-trip and cross process boundaries."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rosutil import python_child, spun_node, wait_until

pytestmark = pytest.mark.ros


def test_workspace_installed(repo_root: Path) -> None:
    install = repo_root / "ros2_ws" / "install"
    for pkg in ("vla_lego_msgs", "vla_lego_policy", "h1_bringup"):
        assert (install / pkg / "share" / pkg / "package.xml").is_file(), f"{pkg} not installed"
    msg_py = install / "vla_lego_msgs" / "lib" / "python3.11" / "site-packages" / "vla_lego_msgs"
    assert (msg_py / "msg" / "_action_chunk.py").is_file()


def test_interfaces_roundtrip() -> None:
    from rclpy.serialization import deserialize_message, serialize_message

    from vla_lego_msgs.msg import ActionChunk, PolicyStatus
    from vla_lego_msgs.srv import SetTask

    chunk = ActionChunk()
    chunk.header.stamp.sec = 12
    chunk.header.stamp.nanosec = 345
    chunk.joint_names = ["a", "b"]
    chunk.dt = 0.02
    chunk.horizon = 3
    chunk.positions = [float(i) / 7 for i in range(6)]
    chunk.subtask_text = "grasp the red 2x4 brick — right hand"
    chunk.chunk_id = 2**40
    chunk.inference_time = 0.125
    back = deserialize_message(serialize_message(chunk), ActionChunk)
    assert back == chunk
    assert list(back.positions) == pytest.approx(list(chunk.positions), abs=0)

    status = PolicyStatus(state=PolicyStatus.STATE_HOLDING, reason="camera stale")
    status.safety_clamp_count = 7
    status.instruction = "stack"
    assert deserialize_message(serialize_message(status), PolicyStatus) == status
    assert {
        PolicyStatus.STATE_IDLE,
        PolicyStatus.STATE_RUNNING,
        PolicyStatus.STATE_HOLDING,
        PolicyStatus.STATE_FAULT,
    } == {0, 1, 2, 3}

    req = SetTask.Request(instruction="pick up the blue brick")
    assert deserialize_message(serialize_message(req), SetTask.Request) == req
    resp = SetTask.Response(accepted=True, message="ok")
    assert deserialize_message(serialize_message(resp), SetTask.Response) == resp


PUBLISHER = textwrap.dedent("""
    import time, rclpy
    from vla_lego_msgs.msg import ActionChunk
    rclpy.init()
    node = rclpy.create_node("chunk_pub")
    pub = node.create_publisher(ActionChunk, "/test/chunks", 10)
    deadline = time.monotonic() + 20
    i = 0
    while time.monotonic() < deadline:
        m = ActionChunk(horizon=2, dt=0.02, chunk_id=i, subtask_text="hello")
        m.joint_names = ["j0", "j1"]
        m.positions = [0.5, -0.5, 1.0, -1.0]
        pub.publish(m)
        i += 1
        rclpy.spin_once(node, timeout_sec=0.05)
    """)


def test_action_chunk_between_processes(ros_env: dict[str, str]) -> None:
    from vla_lego_msgs.msg import ActionChunk

    pub = python_child(PUBLISHER, ros_env)
    try:
        with spun_node("chunk_sub") as sub:
            got = sub.collect(ActionChunk, "/test/chunks")
            assert wait_until(lambda: len(got) >= 3, timeout=15), pub.output
            m = got[-1]
            assert m.subtask_text == "hello"
            assert list(m.positions) == [0.5, -0.5, 1.0, -1.0]
            assert list(m.joint_names) == ["j0", "j1"]
    finally:
        pub.stop()


SERVER = textwrap.dedent("""
    import rclpy
    from vla_lego_msgs.srv import SetTask
    rclpy.init()
    node = rclpy.create_node("task_server")
    def handle(req, resp):
        resp.accepted = bool(req.instruction.strip())
        resp.message = "got: " + req.instruction
        return resp
    node.create_service(SetTask, "/test/set_task", handle)
    print("ready", flush=True)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    """)


def test_set_task_served(ros_env: dict[str, str]) -> None:
    from vla_lego_msgs.srv import SetTask

    server = python_child(SERVER, ros_env)
    try:
        assert server.wait_for_line("ready", 20), server.output
        with spun_node("task_client") as c:
            cli = c.node.create_client(SetTask, "/test/set_task")
            assert cli.wait_for_service(timeout_sec=15)
            fut = cli.call_async(SetTask.Request(instruction="stack the bricks"))
            assert wait_until(fut.done, 10)
            assert fut.result().accepted
            assert fut.result().message == "got: stack the bricks"
            fut = cli.call_async(SetTask.Request(instruction="   "))
            assert wait_until(fut.done, 10)
            assert not fut.result().accepted
    finally:
        server.stop()


def test_setup_refuses_wrong_python(tmp_path: Path, repo_root: Path) -> None:
    fake = tmp_path / "python3.9"
    fake.write_text(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Python 3.9.2'; else echo 3.9; fi\n"
    )
    fake.chmod(0o755)
    env = dict(os.environ, VLA_VENV=str(tmp_path / "venv"), VLA_PYTHON=str(fake))
    r = subprocess.run(
        ["bash", str(repo_root / "scripts" / "setup.sh")], env=env, capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "needs Python 3.11" in r.stderr
    assert "3.9" in r.stderr
    assert not (tmp_path / "venv").exists()


def test_setup_second_run_is_fast(repo_root: Path) -> None:
    import time

    t0 = time.monotonic()
    r = subprocess.run(
        ["bash", str(repo_root / "scripts" / "setup.sh")], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 30
    assert "installing" not in r.stderr and "colcon build" not in r.stderr


def test_discovery_range_is_localhost() -> None:
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 0 <= int(os.environ["ROS_DOMAIN_ID"]) <= 232
    assert sys.version_info[:2] == (3, 11)
