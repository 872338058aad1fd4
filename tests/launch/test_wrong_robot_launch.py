"""``ros2 launch h1_bringup policy.launch.py robot:=foo`` while the simulated H1 is up: refused.

The robot side (the project's MuJoCo H1 speaking unitree DDS) runs on its own; the user's
command with a wrong ``robot`` argument must end with exit code 1 and one error line naming the
argument, start no process (no bridge, no policy), print no traceback, and leave the robot
uncommanded: nothing on ``rt/arm_sdk`` as seen from here and by the robot itself.
"""

from __future__ import annotations

import time
import unittest
from typing import Any

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import pytest
from bringup.ddsutil import WireTap, unitree_domain
from launch import LaunchDescription
from launch.actions import ExecuteProcess, RegisterEventHandler
from launch.event_handlers import OnProcessIO
from launchutil import (
    REACH,
    LowStateTap,
    add_test_policies_to_path,
    node_of,
    node_spec,
    ros2_launch_argv,
)

from h1_bringup.dds import init_channels

TAP: list[WireTap] = []
LOWSTATE: list[LowStateTap] = []
EXPECTED_ERROR = "launch argument robot:='foo' is not allowed; expected one of ['sim', 'real']"
LAUNCH_TIMEOUT_S = 60.0
SIM_UP_TIMEOUT_S = 60.0
QUIET_S = 1.0  # rt/arm_sdk must stay silent this long after the refused launch
SIM_READY = b"sim H1 on DDS domain"  # h1_sim_node's line once it publishes rt/lowstate


@pytest.mark.launch_test
def generate_test_description() -> tuple[LaunchDescription, dict[str, Any]]:
    add_test_policies_to_path()
    domain = str(unitree_domain())
    init_channels(unitree_domain(), "lo")
    TAP.append(WireTap())
    LOWSTATE.append(LowStateTap())
    sim = node_of(node_spec("h1_sim", robot="sim", policy_path=REACH, dds_domain=domain))
    launch = ExecuteProcess(
        cmd=ros2_launch_argv("robot:=foo", f"policy_path:={REACH}", f"dds_domain:={domain}"),
        name="ros2_launch",
        output="screen",
    )
    started: list[bool] = []

    def after_sim_ready(event: Any) -> list[Any] | None:
        if started or SIM_READY not in event.text:
            return None
        started.append(True)
        return [launch]

    ready = RegisterEventHandler(
        OnProcessIO(target_action=sim, on_stdout=after_sim_ready, on_stderr=after_sim_ready)
    )
    ld = LaunchDescription([sim, ready, launch_testing.actions.ReadyToTest()])
    return ld, {"ros2_launch": launch, "sim": sim}


def _text(proc_output: Any, action: Any) -> str:
    return "".join(io.text.decode(errors="replace") for io in proc_output[action])


class TestRefused(unittest.TestCase):
    """While the simulated robot runs."""

    def test_wrong_robot_starts_nothing(self, proc_info: Any, proc_output: Any, ros2_launch: Any):
        t0 = time.monotonic()
        while LOWSTATE[0].count == 0 and time.monotonic() - t0 < SIM_UP_TIMEOUT_S:
            time.sleep(0.05)
        self.assertGreater(LOWSTATE[0].count, 0, "the simulated H1 never published rt/lowstate")

        # ros2 launch starts once the simulated robot is up (see generate_test_description).
        proc_info.assertWaitForShutdown(process=ros2_launch, timeout=LAUNCH_TIMEOUT_S)
        self.assertEqual(proc_info[ros2_launch].returncode, 1)
        text = _text(proc_output, ros2_launch)
        errors = [ln for ln in text.splitlines() if "ERROR" in ln]
        self.assertEqual(len(errors), 1, text)
        self.assertIn(EXPECTED_ERROR, errors[0])
        self.assertNotIn("Traceback", text)
        self.assertNotIn("process started", text)  # no bridge, no policy, no sim of its own

        count = LOWSTATE[0].count
        time.sleep(QUIET_S)
        self.assertGreater(LOWSTATE[0].count, count, "the simulated H1 stopped")
        self.assertEqual(TAP[0].msgs, [], "rt/arm_sdk was written")


@launch_testing.post_shutdown_test()
class TestAfter(unittest.TestCase):
    """After the test launch stopped the simulated robot."""

    def test_exit_codes(self, proc_info: Any, ros2_launch: Any, sim: Any) -> None:
        launch_testing.asserts.assertExitCodes(proc_info, [1], process=ros2_launch)
        launch_testing.asserts.assertExitCodes(proc_info, [0], process=sim)

    def test_robot_never_commanded(self, proc_output: Any, sim: Any) -> None:
        self.assertEqual(TAP[0].msgs, [])
        self.assertIn("rt/arm_sdk: 0 ok, 0 bad CRC", _text(proc_output, sim))
