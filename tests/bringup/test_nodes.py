"""h1_bridge_node + h1_sim_node as processes: joint states, commands that move the arm, the
arm_sdk weight seen on the wire, a stale stream, bad CRCs, a silent robot and clean shutdown."""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bringup.ddsutil import WireTap, unitree_domain
from rosutil import ChildProcess, spun_node, wait_until
from unitree_sdk2py.core.channel import ChannelPublisher
from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_

from h1_bringup.bridge_core import crc_ok, pack_arm_cmd, unpack_arm_cmd
from vla_lego.robot import H1_LAYOUT
from vla_lego.robot import topics as T

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
LIB = REPO / "ros2_ws" / "install" / "h1_bringup" / "lib" / "h1_bringup"
CONFIG = REPO / "ros2_ws" / "src" / "h1_bringup" / "config"
L_ELBOW = H1_LAYOUT.index("left_elbow_joint")
LEFT_HAND = [H1_LAYOUT.index(n) for n in H1_LAYOUT.hand_names if n.startswith("left")]
RIGHT_HAND = [H1_LAYOUT.index(n) for n in H1_LAYOUT.hand_names if n.startswith("right")]


def _node(exe: str, name: str, params: str, env: dict[str, str], *extra: str) -> ChildProcess:
    argv = [str(LIB / exe), "--ros-args", "-r", f"__node:={name}"]
    argv += ["--params-file", str(CONFIG / params), "-p", f"dds_domain:={unitree_domain()}"]
    if params == "bridge.yaml":
        argv += ["--params-file", str(CONFIG / "bridge_sim.yaml")]
    for e in extra:
        argv += ["-p", e]
    return ChildProcess(argv, env)


def _command(q_arm: np.ndarray, left_hand: float = 1.0) -> object:
    from sensor_msgs.msg import JointState

    q = np.ones(H1_LAYOUT.dim)
    q[LEFT_HAND] = left_hand
    q[H1_LAYOUT.arm_slice] = q_arm
    return JointState(name=list(H1_LAYOUT.names), position=[float(x) for x in q])


def test_bridge_and_sim(ros_env: dict[str, str], tap: WireTap) -> None:
    from sensor_msgs.msg import Image, JointState

    sim = _node("h1_sim_node", "h1_sim", "sim.yaml", ros_env)
    bridge = _node(
        "h1_bridge_node", "h1_bridge", "bridge.yaml", ros_env,
        "ramp_up_time:=0.5", "ramp_down_time:=0.5", "command_timeout:=0.1",
    )  # fmt: skip
    try:
        with spun_node("bridge_probe") as probe:
            states = probe.collect(JointState, T.JOINT_STATES_TOPIC)
            images = probe.collect(Image, T.HEAD_CAMERA_TOPIC)
            assert wait_until(lambda: len(states) >= 5, 40), bridge.output + sim.output
            assert list(states[-1].name) == list(H1_LAYOUT.names)
            q0 = np.array(states[-1].position)[H1_LAYOUT.arm_slice]
            assert q0[L_ELBOW] == pytest.approx(1.5, abs=0.1)
            assert wait_until(lambda: len(images) >= 2, 20), sim.output
            img = images[-1]
            assert (img.encoding, img.height, img.width) == ("rgb8", 128, 128)
            assert len(set(bytes(img.data))) > 10  # a rendered scene, not a blank frame

            # Commands move the simulated arm through the bridge.
            pub = probe.node.create_publisher(JointState, T.ARM_COMMAND_TOPIC, 10)
            target = q0.copy()
            target[L_ELBOW] = 0.8
            t_end = time.monotonic() + 3.0
            while time.monotonic() < t_end:
                pub.publish(_command(target, left_hand=0.3))
                time.sleep(0.02)
            pos = np.array(states[-1].position)
            assert pos[L_ELBOW] == pytest.approx(0.8, abs=0.1), bridge.output
            # Hands: layout -> rt/inspire/cmd -> simulated fingers -> rt/inspire/state -> layout.
            np.testing.assert_allclose(pos[LEFT_HAND], 0.3, atol=0.05)
            np.testing.assert_allclose(pos[RIGHT_HAND], 1.0, atol=0.05)
            assert max(tap.weights()) == 1.0
            assert all(crc_ok(m) for _, m in tap.msgs)

            # A sim reset teleports the arm home under an active command: the bridge restarts
            # its command from the measured position instead of yanking the arm back.
            stop = threading.Event()

            def stream() -> None:
                while not stop.is_set():
                    pub.publish(_command(target, left_hand=0.3))
                    time.sleep(0.02)

            streamer = threading.Thread(target=stream, daemon=True)
            streamer.start()
            try:
                _reset(probe, "pick_place", 1)
                assert bridge.wait_for_line("arm tracking error: left_elbow_joint", 5)
                near = lambda: abs(states[-1].position[L_ELBOW] - 0.8) < 0.1  # noqa: E731
                assert wait_until(near, 5), bridge.output
            finally:
                stop.set()
                streamer.join()

            # Stale stream: the weight goes back to 0 within timeout + ramp time.
            t_stop = time.monotonic()
            assert wait_until(lambda: tap.weights()[-1] == 0.0, 3.0)
            t_zero = next(t for t, m in tap.msgs if t > t_stop and unpack_arm_cmd(m).weight == 0)
            assert t_zero - t_stop < 0.1 + 0.5 + 0.3
            time.sleep(1.5)  # the hold controller takes the arm back
            assert states[-1].position[L_ELBOW] == pytest.approx(1.5, abs=0.15)

            # Bad-CRC commands from elsewhere are ignored by the simulated robot.
            bad = ChannelPublisher(T.ARM_SDK_CHANNEL, LowCmd_)
            bad.Init()
            wild = q0.copy()
            wild[L_ELBOW] = -1.0
            for _ in range(20):
                m = pack_arm_cmd(wild, [60.0] * 8, [1.5] * 8, 1.0)
                m.crc ^= 0xFF
                bad.Write(m)
                time.sleep(0.02)
            time.sleep(0.5)
            assert states[-1].position[L_ELBOW] == pytest.approx(1.5, abs=0.15)
            bad.Close()
            _check_reset(probe)
        assert bridge.stop() == 0
        assert "stopped: arm_sdk weight 0.00" in bridge.output
        assert sim.stop() == 0
        counters = [ln for ln in sim.lines if "bad CRC" in ln][-1]
        match = re.search(r"(\d+) bad CRC", counters)
        assert match and int(match.group(1)) >= 15, counters
    finally:
        bridge.stop()
        sim.stop()


def _reset(probe: object, task: str, seed: int, instruction: str = "") -> Any:
    from vla_lego_msgs.srv import ResetSim

    cli = probe.node.create_client(ResetSim, T.SIM_RESET_SERVICE)  # type: ignore[attr-defined]
    assert cli.wait_for_service(timeout_sec=10)
    fut = cli.call_async(ResetSim.Request(task=task, seed=seed, instruction=instruction))
    assert wait_until(fut.done, 10)
    return fut.result()


def _check_reset(probe: object) -> None:
    from vla_lego.sim import LegoEnv
    from vla_lego.sim.config import BRICK_COLOURS
    from vla_lego.sim.tasks import FAILURE_CATEGORIES
    from vla_lego_msgs.msg import TaskStatus

    env = LegoEnv()  # the node's scene (preset easy): which colours stack seed 3 puts down
    env.reset("stack", 3, render=False)
    present = {b.colour for b in env.instance.bricks.values()}
    absent = next(c for c in BRICK_COLOURS if c not in present)
    status = probe.collect(TaskStatus, T.SIM_TASK_STATUS_TOPIC)  # type: ignore[attr-defined]
    for task, seed, ok in (("stack", 3, True), ("juggle", 1, False)):
        resp = _reset(probe, task, seed)
        assert resp.success is ok, resp.message
        assert (resp.instruction != "") is ok
        if not ok:
            assert "juggle" in resp.message
    # An instruction naming a colour absent from the scene is refused by the sim.
    resp = _reset(probe, "stack", 3, f"stack the {absent} brick on the other brick")
    assert not resp.success and absent in resp.message, resp.message
    assert wait_until(lambda: status and status[-1].task == "stack" and status[-1].seed == 3, 5)
    last = status[-1]
    assert last.elapsed < 2.0 and not last.success
    assert last.instruction == env.instance.instruction
    # The sim's verdict and true phase: nothing grasped yet.
    assert last.outcome in FAILURE_CATEGORIES and last.subtask.startswith("grasp"), last
    env.close()


def test_shutdown_ramps_weight_to_zero(ros_env: dict[str, str], tap: WireTap) -> None:
    """SIGINT while active: the bridge keeps sending until the weight is 0, then exits 0, also
    when a second Ctrl-C and launch's SIGTERM arrive during the ramp. Commands come from a
    best-effort publisher (teleop / replay tools), which the bridge must accept."""
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import JointState

    sim = _node("h1_sim_node", "h1_sim", "sim.yaml", ros_env)
    bridge = _node(
        "h1_bridge_node", "h1_bridge", "bridge.yaml", ros_env,
        "ramp_up_time:=0.3", "ramp_down_time:=0.6",
    )  # fmt: skip
    try:
        with spun_node("shutdown_probe") as probe:
            states = probe.collect(JointState, T.JOINT_STATES_TOPIC)
            assert wait_until(lambda: len(states) >= 2, 40), bridge.output + sim.output
            q = np.array(states[-1].position)[H1_LAYOUT.arm_slice]
            pub = probe.node.create_publisher(
                JointState, T.ARM_COMMAND_TOPIC, qos_profile_sensor_data
            )
            stop = threading.Event()

            def stream() -> None:
                while not stop.is_set():
                    pub.publish(_command(q))
                    time.sleep(0.02)

            th = threading.Thread(target=stream, daemon=True)
            th.start()
            assert wait_until(lambda: tap.msgs and tap.weights()[-1] == 1.0, 10), bridge.output
            bridge.proc.send_signal(signal.SIGINT)  # SIGINT while commands still flow
            time.sleep(0.15)
            bridge.proc.send_signal(signal.SIGINT)  # the terminal's second Ctrl-C
            time.sleep(0.1)
            bridge.proc.send_signal(signal.SIGTERM)  # launch escalating
            assert bridge.proc.wait(10) == 0
            stop.set()
            th.join()
        w = tap.weights()
        peak = max(i for i, x in enumerate(w) if x == 1.0)
        tail = w[peak:]
        assert tail[-1] == 0.0
        assert all(a >= b for a, b in itertools.pairwise(tail)), tail
        assert len([x for x in tail if 0.0 < x < 1.0]) >= 0.6 * 50 * 0.5  # a ramp, not a jump
    finally:
        bridge.stop()
        sim.stop()


def test_silent_robot_gets_no_commands(ros_env: dict[str, str], tap: WireTap) -> None:
    bridge = _node("h1_bridge_node", "h1_bridge", "bridge.yaml", ros_env, "state_wait_timeout:=1.0")
    try:
        with spun_node("silent_probe") as probe:
            from sensor_msgs.msg import JointState

            states = probe.collect(JointState, T.JOINT_STATES_TOPIC)
            pub = probe.node.create_publisher(JointState, T.ARM_COMMAND_TOPIC, 10)
            assert bridge.wait_for_line("bridge on DDS domain", 30), bridge.output
            t_end = time.monotonic() + 2.5
            while time.monotonic() < t_end:
                pub.publish(_command(np.zeros(8)))
                time.sleep(0.02)
            assert bridge.wait_for_line("robot DDS silent", 5), bridge.output
            assert tap.msgs == [] and states == []
        assert bridge.stop() == 0
        assert tap.msgs == []
    finally:
        bridge.stop()


def test_sim_node_starts_with_the_preset(ros_env: dict[str, str]) -> None:
    sim = _node("h1_sim_node", "h1_sim", "sim.yaml", ros_env, "preset:=hard")
    try:
        assert sim.wait_for_line("sim H1 on DDS domain", 40), sim.output
        line = next(ln for ln in sim.lines if "sim H1 on DDS domain" in ln)
        assert "preset hard, task pick_place seed 0" in line, line
        assert sim.stop() == 0
    finally:
        sim.stop()


@pytest.mark.parametrize(
    ("exe", "param", "needle"),
    [
        ("h1_bridge_node", "control_rate:=0.0", "control_rate out of range"),
        ("h1_bridge_node", "kp:=[1.0, 2.0]", "parameter kp: expected 8 values, got 2"),
        ("h1_bridge_node", "max_arm_velocity:=1.0", "unknown parameters ['max_arm_velocity']"),
        ("h1_sim_node", "camera_rate:=0.0", "camera_rate out of range"),
        ("h1_bridge_node", "network_interface:=nonexist0", "cannot join Unitree DDS domain"),
        ("h1_sim_node", "env_factory:=no_module", "env_factory must be 'module:attr'"),
        ("h1_sim_node", "preset:=brutal", "unknown preset 'brutal'; expected one of ['easy'"),
        ("h1_bridge_node", "joint_states_topic:=/h1/joint states", "Invalid topic name"),
        ("h1_sim_node", "image_topic:=/cam//raw", "Invalid topic name"),
    ],
)
def test_bad_parameters_stop_the_node(
    ros_env: dict[str, str], exe: str, param: str, needle: str
) -> None:
    argv = [str(LIB / exe), "--ros-args", "-p", param, "-p", f"dds_domain:={unitree_domain()}"]
    r = subprocess.run(argv, env=ros_env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
