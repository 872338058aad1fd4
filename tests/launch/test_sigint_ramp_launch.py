"""Ctrl-C on ``ros2 launch h1_bringup policy.launch.py robot:=sim`` while the arm is moving.

The user's command runs as in a terminal (``in_terminal.py``: a process group of its own, a
pseudo-terminal as stdin); the test sends SIGINT to that whole group, as a terminal's Ctrl-C
does, while the policy swings the left elbow at full arm_sdk weight. The bridge must then ramp
the weight down monotonically to 0 within its configured ``ramp_down_time`` (bridge.yaml +
bridge_sim.yaml, plus scheduling slack) and exit cleanly; every process of the launch must be
gone and ``ros2 launch`` exit with code 0.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import time
import unittest
from typing import Any

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import launch_testing.util
import psutil
import pytest
import rclpy
from bringup.ddsutil import WireTap, unitree_domain
from launch import LaunchDescription
from launch.actions import ExecuteProcess
from launchutil import (
    HERE,
    SWING,
    add_test_policies_to_path,
    alive,
    bridge_parameter,
    ros2_launch_argv,
    spin_until,
)
from sensor_msgs.msg import JointState

from h1_bringup.bridge_core import unpack_arm_cmd
from h1_bringup.dds import init_channels
from vla_lego.robot import H1_LAYOUT
from vla_lego.robot import topics as T
from vla_lego_msgs.msg import PolicyStatus, TaskStatus
from vla_lego_msgs.srv import SetTask

L_ELBOW = H1_LAYOUT.index("left_elbow_joint")
TAP: list[WireTap] = []
RAMP_DOWN_TIME = float(bridge_parameter("ramp_down_time", "sim"))
# Scheduling slack on a loaded 2-core machine: signal delivery, the node leaving spin(), and
# 50 sleeps of one control period each overshooting a little.
RAMP_SLACK_S = 0.6
MOTION_WINDOW_S = 0.6  # the elbow must move at least MIN_MOTION_RAD within this window
MIN_MOTION_RAD = 0.05
STACK_UP_TIMEOUT_S = 90.0
EXIT_TIMEOUT_S = 30.0


@pytest.mark.launch_test
def generate_test_description() -> tuple[LaunchDescription, dict[str, Any]]:
    add_test_policies_to_path()
    domain = str(unitree_domain())
    init_channels(unitree_domain(), "lo")
    TAP.append(WireTap())
    argv = ros2_launch_argv("robot:=sim", f"policy_path:={SWING}", f"dds_domain:={domain}")
    terminal = [sys.executable, str(HERE / "in_terminal.py")]
    launch = ExecuteProcess(cmd=[*terminal, *argv], name="ros2_launch", output="screen")
    keep = launch_testing.util.KeepAliveProc()  # the test launch outlives ros2 launch
    ld = LaunchDescription([launch, keep, launch_testing.actions.ReadyToTest()])
    return ld, {"ros2_launch": launch}


class TestCtrlC(unittest.TestCase):
    """SIGINT to the launch's process group during motion."""

    def test_sigint_ramps_weight_to_zero(self, proc_info: Any, ros2_launch: Any) -> None:
        rclpy.init()
        node = rclpy.create_node("sigint_probe")
        try:
            self._run(node, proc_info, ros2_launch)
        finally:
            node.destroy_node()
            rclpy.shutdown()

    def _run(self, node: Any, proc_info: Any, ros2_launch: Any) -> None:
        states: list[JointState] = []
        status: list[PolicyStatus] = []
        task: list[TaskStatus] = []
        node.create_subscription(JointState, T.JOINT_STATES_TOPIC, states.append, 50)
        node.create_subscription(PolicyStatus, T.POLICY_STATUS_TOPIC, status.append, 10)
        node.create_subscription(TaskStatus, T.SIM_TASK_STATUS_TOPIC, task.append, 10)
        self.assertTrue(spin_until(node, lambda: len(states) >= 10 and task, STACK_UP_TIMEOUT_S))
        cli = node.create_client(SetTask, T.SET_TASK_SERVICE)
        self.assertTrue(cli.wait_for_service(timeout_sec=30))
        fut = cli.call_async(SetTask.Request(instruction=task[-1].instruction))
        self.assertTrue(spin_until(node, fut.done, 10))
        self.assertTrue(fut.result().accepted, fut.result().message)
        running = PolicyStatus.STATE_RUNNING
        self.assertTrue(spin_until(node, lambda: status and status[-1].state == running, 30))
        weights = TAP[0].weights
        self.assertTrue(spin_until(node, lambda: weights() and weights()[-1] == 1.0, 20))

        # In motion: the elbow travels within the last window before the signal.
        start = len(states)
        spin_until(node, lambda: False, MOTION_WINDOW_S)
        elbow = [s.position[L_ELBOW] for s in states[start:]]
        self.assertGreater(max(elbow) - min(elbow), MIN_MOTION_RAD, elbow)
        self.assertEqual(weights()[-1], 1.0)

        pid = proc_info[ros2_launch].pid
        pgid = os.getpgid(pid)
        self.assertNotEqual(pgid, os.getpgid(0), "ros2 launch is not in a process group of its own")
        children = [p.pid for p in psutil.Process(pid).children(recursive=True)]
        self.assertGreaterEqual(len(children), 3, children)  # sim, bridge, policy
        n_before = len(TAP[0].msgs)
        t_sig = time.monotonic()
        os.killpg(pgid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        proc_info.assertWaitForShutdown(process=ros2_launch, timeout=EXIT_TIMEOUT_S)
        time.sleep(0.3)  # last frames in flight

        after = TAP[0].msgs[n_before:]
        tail = [(t - t_sig, unpack_arm_cmd(m).weight) for t, m in after]
        self.assertTrue(tail, "no rt/arm_sdk frame after SIGINT")
        w = [x for _, x in tail]
        self.assertTrue(all(a >= b for a, b in itertools.pairwise(w)), w)
        self.assertEqual(w[-1], 0.0, w[-10:])
        self.assertTrue(any(0.0 < x < 1.0 for x in w), "the weight dropped without a ramp")
        t_zero = next(t for t, x in tail if x == 0.0)
        t_first_down = next(t for t, x in tail if x < 1.0)
        print(
            f"SIGINT -> first lower weight {t_first_down:.3f} s, weight 0 after {t_zero:.3f} s "
            f"(ramp_down_time {RAMP_DOWN_TIME} s)",
            flush=True,
        )
        self.assertLessEqual(t_zero, RAMP_DOWN_TIME + RAMP_SLACK_S)
        self.assertGreaterEqual(t_zero - t_first_down, 0.5 * RAMP_DOWN_TIME)  # a ramp, not a cut
        self.assertFalse([c for c in children if alive(c)], "processes left after Ctrl-C")


@launch_testing.post_shutdown_test()
class TestAfter(unittest.TestCase):
    """After the launch ended."""

    def test_clean_exit(self, proc_info: Any, proc_output: Any, ros2_launch: Any) -> None:
        launch_testing.asserts.assertExitCodes(proc_info, [0], process=ros2_launch)
        text = "".join(io.text.decode(errors="replace") for io in proc_output[ros2_launch])
        self.assertIn("stopped: arm_sdk weight 0.00", text)
        self.assertRegex(text, r"\[h1_bridge_node-\d+\]: process has finished cleanly", text)
        # Every node stops on a flag its signal handler sets (h1_bringup.signals, policy_node),
        # never by an exception raised wherever the signal lands.
        for name in ("h1_sim_node", "policy_node"):
            self.assertRegex(text, rf"\[{name}-\d+\]: process has finished cleanly", text)
