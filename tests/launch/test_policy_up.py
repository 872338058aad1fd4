"""The pip-environment twin of test_policy_launch.py: ``python -m h1_bringup.up policy.launch.py
robot:=sim ...`` brings up the simulated H1, the bridge and the policy node; the policy runs,
moves the arm, and everything stops cleanly (weight ramped to 0, no process left behind)."""

from __future__ import annotations

import itertools
import os
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from bringup.ddsutil import WireTap, unitree_domain
from rosutil import ChildProcess, spun_node, wait_until

from vla_lego.robot import H1_LAYOUT
from vla_lego.robot import topics as T

pytestmark = [pytest.mark.ros, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
L_ELBOW = H1_LAYOUT.index("left_elbow_joint")
POLICY = "python:reach_policy:reach"


def _up(ros_env: dict[str, str], *args: str) -> ChildProcess:
    env = dict(ros_env)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "h1_bringup.up", "policy.launch.py", *args]
    return ChildProcess(argv, env)


def _pids(up: ChildProcess) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"started (\w+) \(pid (\d+)\)", up.output)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent reaps it later).
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1][0] != "Z"


def _set_task(probe: object, instruction: str) -> None:
    from vla_lego_msgs.srv import SetTask

    cli = probe.node.create_client(SetTask, T.SET_TASK_SERVICE)  # type: ignore[attr-defined]
    assert cli.wait_for_service(timeout_sec=30)
    fut = cli.call_async(SetTask.Request(instruction=instruction))
    assert wait_until(fut.done, 10)
    assert fut.result().accepted, fut.result().message


def test_sim_policy_end_to_end(ros_env: dict[str, str], tap: WireTap) -> None:
    from sensor_msgs.msg import JointState

    from vla_lego_msgs.msg import PolicyStatus, TaskStatus

    up = _up(ros_env, "robot:=sim", f"policy_path:={POLICY}", f"dds_domain:={unitree_domain()}")
    try:
        with spun_node("e2e_probe") as probe:
            states = probe.collect(JointState, T.JOINT_STATES_TOPIC)
            status = probe.collect(PolicyStatus, T.POLICY_STATUS_TOPIC)
            task = probe.collect(TaskStatus, T.SIM_TASK_STATUS_TOPIC)
            assert wait_until(lambda: len(states) >= 10 and task, 60), up.output
            assert list(states[-1].name) == list(H1_LAYOUT.names)
            assert states[-1].position[L_ELBOW] == pytest.approx(1.5, abs=0.1)
            assert set(_pids(up)) == {"h1_sim", "h1_bridge", "policy"}

            _set_task(probe, task[-1].instruction)
            running = PolicyStatus.STATE_RUNNING
            assert wait_until(lambda: status and status[-1].state == running, 30), up.output
            # The commanded elbow reaches the simulated robot and comes back as joint state.
            assert wait_until(lambda: abs(states[-1].position[L_ELBOW] - 0.8) < 0.1, 20), up.output
            assert wait_until(lambda: max(tap.weights()) == 1.0, 10)
            elapsed = task[-1].elapsed
            assert wait_until(lambda: task[-1].elapsed > elapsed + 0.5, 5)  # the sim runs on
            assert status[-1].state == running and status[-1].instruction == task[-1].instruction
        pids = _pids(up)
        assert up.stop(timeout=20) == 0, up.output
    finally:
        up.stop()
    weights = tap.weights()
    peak = max(i for i, w in enumerate(weights) if w == 1.0)
    tail = weights[peak:]
    assert tail[-1] == 0.0, tail[-10:]
    assert all(a >= b for a, b in itertools.pairwise(tail))
    assert "stopped: arm_sdk weight 0.00" in up.output
    assert not [n for n, p in pids.items() if _alive(p)], up.output


def test_required_node_death_stops_everything(ros_env: dict[str, str]) -> None:
    up = _up(ros_env, "robot:=sim", f"policy_path:={POLICY}", f"dds_domain:={unitree_domain()}")
    try:
        assert up.wait_for_line("policy node ready", 60), up.output
        pids = _pids(up)
        os.kill(pids["h1_sim"], signal.SIGKILL)
        assert up.proc.wait(30) == 1, up.output
        assert "required node h1_sim died; stopping all" in up.output
        assert wait_until(lambda: not any(_alive(p) for p in pids.values()), 5), up.output
    finally:
        up.stop()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["robot:=foo", f"policy_path:={POLICY}"], "robot:='foo' is not allowed"),
        (["robot:=sim"], "launch argument policy_path is required"),
        (["robot:=sim", "policy_path=/x"], "launch arguments are name:=value"),
        (["robot:=sim", "policy_path:=/no/such/export"], "is not a directory"),
        (["robot:=sim", "policy_path:=python:no_such_module:x"], "no Python module"),
        ([f"policy_path:={POLICY}", "respawn_policy:=true"], "respawn_policy:=true needs ros2"),
    ],
)
def test_bad_input_starts_nothing(ros_env: dict[str, str], args: list[str], needle: str) -> None:
    up = _up(ros_env, *args)
    try:
        assert up.proc.wait(60) == 2
        assert needle in up.output and "started" not in up.output
    finally:
        up.stop()


def test_policy_node_refusing_bad_policy_stops_everything(
    ros_env: dict[str, str], tap: WireTap
) -> None:
    t0 = time.monotonic()
    up = _up(
        ros_env,
        "robot:=sim",
        "policy_path:=python:reach_policy:no_such_factory",
        f"dds_domain:={unitree_domain()}",
    )
    try:
        assert up.proc.wait(90) == 1, up.output
        assert "required node policy died" in up.output
        assert not any(_alive(p) for p in _pids(up).values())
        assert time.monotonic() - t0 < 90
        assert tap.msgs == []  # the robot never received a command
    finally:
        up.stop()


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny EO-1 exported to ONNX (the real deploy format; ~20 s of CPU)."""
    export = pytest.importorskip("vla_lego.export", reason="vla_lego.export not available")
    torch = pytest.importorskip("torch")
    from vla_lego.models.eo1 import EO1Config, EO1Policy

    torch.manual_seed(0)
    lo, hi = H1_LAYOUT.lower, H1_LAYOUT.upper
    feature = {"mean": (lo + hi) / 2, "std": (hi - lo) / 6, "min": lo, "max": hi}
    feature |= {"q01": lo + 0.05, "q99": hi - 0.05}
    policy = EO1Policy(EO1Config.from_preset("tiny"), stats={"state": feature, "actions": feature})
    ckpt = tmp_path_factory.mktemp("ckpt") / "tiny"
    policy.eval().save_pretrained(ckpt)
    out = tmp_path_factory.mktemp("export") / "tiny_onnx"
    export.export_checkpoint(ckpt, out, export.ExportOptions(exporter="torchscript"))
    return out


def test_tiny_exported_model_end_to_end(
    ros_env: dict[str, str], tap: WireTap, tiny_export: Path
) -> None:
    """The deploy path: ONNX export -> onnxruntime policy node -> bridge -> simulated H1."""
    from sensor_msgs.msg import JointState

    from vla_lego_msgs.msg import PolicyStatus, TaskStatus

    args = ["robot:=sim", "backend:=onnxruntime", f"policy_path:={tiny_export}"]
    up = _up(ros_env, *args, f"dds_domain:={unitree_domain()}")
    try:
        with spun_node("export_probe") as probe:
            states = probe.collect(JointState, T.JOINT_STATES_TOPIC)
            status = probe.collect(PolicyStatus, T.POLICY_STATUS_TOPIC)
            task = probe.collect(TaskStatus, T.SIM_TASK_STATUS_TOPIC)
            assert wait_until(lambda: len(states) >= 10 and task, 60), up.output
            home = np.array(states[-1].position[H1_LAYOUT.arm_slice])
            _set_task(probe, task[-1].instruction)
            running = PolicyStatus.STATE_RUNNING
            assert wait_until(lambda: any(s.state == running for s in status), 60), up.output

            def moved() -> float:
                return float(
                    np.abs(np.array(states[-1].position[H1_LAYOUT.arm_slice]) - home).max()
                )

            assert wait_until(lambda: moved() > 0.1, 30), up.output
            assert max(s.last_inference_latency for s in status) > 0.0
        pids = _pids(up)
        assert up.stop(timeout=20) == 0, up.output
    finally:
        up.stop()
    assert max(tap.weights()) > 0.0 and tap.weights()[-1] == 0.0
    assert not [n for n, p in pids.items() if _alive(p)], up.output
