"""``policy.launch.py robot:=sim respawn_policy:=true``: the policy node crashes and comes back.

While the policy moves the simulated arm, the test kills the policy node (SIGKILL: a crash). The
bridge must hold: same process, joint states still flowing, the arm_sdk weight ramped down to 0
once the commands go stale. launch restarts the policy node after ``respawn_delay``; it comes
back idle, takes a new SetTask and moves the arm again at full weight, through the same bridge.
"""

from __future__ import annotations

import os
import signal
import time
import unittest
from typing import Any

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import pytest
import rclpy
from bringup.ddsutil import WireTap, unitree_domain
from launch import LaunchDescription
from launchutil import (
    REACH,
    ProcessEvents,
    add_test_policies_to_path,
    alive,
    bridge_parameter,
    include_policy_launch,
    spin_until,
)
from sensor_msgs.msg import JointState

from h1_bringup.dds import init_channels
from vla_lego.robot import H1_LAYOUT
from vla_lego.robot import topics as T
from vla_lego_msgs.msg import PolicyStatus, TaskStatus
from vla_lego_msgs.srv import SetTask

L_ELBOW = H1_LAYOUT.index("left_elbow_joint")
TAP: list[WireTap] = []
EVENTS = ProcessEvents()
RESPAWN_DELAY_S = 1.0
# Stale commands are noticed after command_timeout, then the weight ramps over ramp_down_time.
HOLD_S = float(bridge_parameter("command_timeout")) + float(bridge_parameter("ramp_down_time"))
SLACK_S = 1.0
RESTART_TIMEOUT_S = 60.0  # respawn_delay + the node's start (imports) on a loaded machine


@pytest.mark.launch_test
def generate_test_description() -> LaunchDescription:
    add_test_policies_to_path()
    init_channels(unitree_domain(), "lo")
    TAP.append(WireTap())
    include = include_policy_launch(
        robot="sim",
        policy_path=REACH,
        dds_domain=str(unitree_domain()),
        respawn_policy="true",
        respawn_delay=str(RESPAWN_DELAY_S),
    )
    return LaunchDescription([*EVENTS.handlers(), include, launch_testing.actions.ReadyToTest()])


class TestRespawn(unittest.TestCase):
    """The crash and the restart, while the launch is up."""

    node: Any
    states: list[JointState]
    status: list[PolicyStatus]
    task: list[TaskStatus]

    @classmethod
    def setUpClass(cls) -> None:
        rclpy.init()
        cls.node = rclpy.create_node("respawn_probe")
        cls.states, cls.status, cls.task = [], [], []
        cls.node.create_subscription(JointState, T.JOINT_STATES_TOPIC, cls.states.append, 50)
        cls.node.create_subscription(PolicyStatus, T.POLICY_STATUS_TOPIC, cls.status.append, 10)
        cls.node.create_subscription(TaskStatus, T.SIM_TASK_STATUS_TOPIC, cls.task.append, 10)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.node.destroy_node()
        rclpy.shutdown()

    def _run_task(self) -> None:
        """SetTask, then the policy runs and the elbow reaches the reach target at weight 1."""
        n = self.node
        cli = n.create_client(SetTask, T.SET_TASK_SERVICE)
        self.assertTrue(cli.wait_for_service(timeout_sec=30))
        fut = cli.call_async(SetTask.Request(instruction=self.task[-1].instruction))
        self.assertTrue(spin_until(n, fut.done, 10))
        self.assertTrue(fut.result().accepted, fut.result().message)
        running = PolicyStatus.STATE_RUNNING
        self.assertTrue(spin_until(n, lambda: self.status and self.status[-1].state == running, 30))
        near = lambda: abs(self.states[-1].position[L_ELBOW] - 0.8) < 0.1  # noqa: E731
        self.assertTrue(spin_until(n, near, 20), self.states[-1].position[L_ELBOW])
        self.assertTrue(spin_until(n, lambda: TAP[0].weights()[-1:] == [1.0], 10))

    def test_policy_respawns_while_bridge_holds(self) -> None:
        n = self.node
        self.assertTrue(spin_until(n, lambda: len(self.states) >= 10 and self.task, 90))
        self._run_task()
        bridge, policy = EVENTS.pids("h1_bridge_node"), EVENTS.pids("policy_node")
        self.assertEqual((len(bridge), len(policy)), (1, 1), EVENTS.started)

        os.kill(policy[0], signal.SIGKILL)
        t_kill = time.monotonic()
        # The bridge holds: alive, joint states flowing, the weight ramped down to 0.
        zero = lambda: TAP[0].weights()[-1:] == [0.0]  # noqa: E731
        self.assertTrue(spin_until(n, zero, HOLD_S + SLACK_S), TAP[0].weights()[-5:])
        self.assertLess(time.monotonic() - t_kill, RESPAWN_DELAY_S + HOLD_S + SLACK_S)
        self.assertTrue(alive(bridge[0]))
        before = len(self.states)
        spin_until(n, lambda: False, 0.5)
        self.assertGreater(len(self.states), before, "no joint states while the policy is down")

        # launch restarts the policy node; it comes back idle and runs again on a new task.
        restarted = lambda: len(EVENTS.pids("policy_node")) == 2  # noqa: E731
        self.assertTrue(spin_until(n, restarted, RESTART_TIMEOUT_S), EVENTS.started)
        self.assertGreaterEqual(time.monotonic() - t_kill, RESPAWN_DELAY_S)
        new = EVENTS.pids("policy_node")[1]
        self.assertNotEqual(new, policy[0])
        idle = PolicyStatus.STATE_IDLE
        n_status = len(self.status)
        back = lambda: any(s.state == idle for s in self.status[n_status:])  # noqa: E731
        self.assertTrue(spin_until(n, back, RESTART_TIMEOUT_S), "restarted policy not idle")
        self._run_task()
        self.assertEqual(EVENTS.pids("h1_bridge_node"), bridge)  # the same bridge throughout
        self.assertTrue(alive(bridge[0]) and alive(new))
        crashed = [e for e in EVENTS.exited if e[1] == policy[0]]
        self.assertEqual([e[2] for e in crashed], [-signal.SIGKILL])


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    """After the launch stopped every process."""

    def test_exit_codes(self, proc_info: Any) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)  # the respawned policy exits cleanly

    def test_weight_ends_at_zero(self) -> None:
        time.sleep(0.5)
        self.assertEqual(TAP[0].weights()[-1], 0.0)
