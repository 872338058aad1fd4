"""``policy.launch.py robot:=sim`` under launch_testing: the graph runs and stops cleanly.

The same assertions as tests/launch/test_policy_up.py (which starts the same command lines
through the fallback supervisor ``python -m h1_bringup.up``): joint states flow, the policy
reports ``running`` once it has an instruction, its commands move the simulated arm, and shutdown
ramps the arm_sdk weight to 0 with every process exiting cleanly. Run by
tests/launch/test_launch_files.py (``python -m launch_testing.launch_test``), which fails when
launch_testing is installed but this file is skipped or runs no test.
"""

from __future__ import annotations

import itertools
import time
import unittest
from collections.abc import Callable
from typing import Any

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import pytest
import rclpy
from bringup.ddsutil import WireTap, unitree_domain
from launch import LaunchDescription
from launchutil import REACH, add_test_policies_to_path, include_policy_launch
from sensor_msgs.msg import JointState

from h1_bringup.dds import init_channels
from vla_lego.robot import H1_LAYOUT
from vla_lego.robot import topics as T
from vla_lego_msgs.msg import PolicyStatus, TaskStatus
from vla_lego_msgs.srv import SetTask

L_ELBOW = H1_LAYOUT.index("left_elbow_joint")
TAP: list[WireTap] = []  # rt/arm_sdk as seen from this process, kept past shutdown


@pytest.mark.launch_test
def generate_test_description() -> LaunchDescription:
    add_test_policies_to_path()
    init_channels(unitree_domain(), "lo")
    TAP.append(WireTap())
    include = include_policy_launch(
        robot="sim", policy_path=REACH, dds_domain=str(unitree_domain())
    )
    return LaunchDescription([include, launch_testing.actions.ReadyToTest()])


def _wait(node: Any, pred: Callable[[], Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if pred():
            return True
    return False


class TestPolicyRunning(unittest.TestCase):
    """While the launch is up."""

    node: Any
    states: list[JointState]
    status: list[PolicyStatus]
    task: list[TaskStatus]

    @classmethod
    def setUpClass(cls) -> None:
        rclpy.init()
        cls.node = rclpy.create_node("launch_test_probe")
        cls.states = []
        cls.status = []
        cls.task = []
        cls.node.create_subscription(JointState, T.JOINT_STATES_TOPIC, cls.states.append, 10)
        cls.node.create_subscription(PolicyStatus, T.POLICY_STATUS_TOPIC, cls.status.append, 10)
        cls.node.create_subscription(TaskStatus, T.SIM_TASK_STATUS_TOPIC, cls.task.append, 10)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.node.destroy_node()
        rclpy.shutdown()

    def test_policy_moves_the_sim_arm(self) -> None:
        n = self.node
        self.assertTrue(_wait(n, lambda: len(self.states) >= 10 and self.task, 60))
        self.assertEqual(list(self.states[-1].name), list(H1_LAYOUT.names))
        self.assertAlmostEqual(self.states[-1].position[L_ELBOW], 1.5, delta=0.1)

        cli = n.create_client(SetTask, T.SET_TASK_SERVICE)
        self.assertTrue(cli.wait_for_service(timeout_sec=30))
        fut = cli.call_async(SetTask.Request(instruction=self.task[-1].instruction))
        self.assertTrue(_wait(n, fut.done, 10))
        self.assertTrue(fut.result().accepted, fut.result().message)

        running = PolicyStatus.STATE_RUNNING
        self.assertTrue(_wait(n, lambda: self.status and self.status[-1].state == running, 30))
        moved = _wait(n, lambda: abs(self.states[-1].position[L_ELBOW] - 0.8) < 0.1, 20)
        self.assertTrue(moved, f"left elbow at {self.states[-1].position[L_ELBOW]}")
        self.assertTrue(_wait(n, lambda: max(TAP[0].weights(), default=0.0) == 1.0, 10))


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    """After the launch has stopped every process."""

    def test_exit_codes(self, proc_info: object) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)

    def test_weight_ramped_to_zero(self) -> None:
        time.sleep(0.5)
        weights = TAP[0].weights()
        peak = max(i for i, w in enumerate(weights) if w == 1.0)
        tail = weights[peak:]
        self.assertEqual(tail[-1], 0.0)
        self.assertTrue(all(a >= b for a, b in itertools.pairwise(tail)))
