"""Runs every launch_testing file of tests/launch (``test_*_launch.py``) with launch_testing.

launch_testing's pytest plugin does not load under pytest 9, so each file runs as
``python -m launch_testing.launch_test FILE --junit-xml X`` in a child process of this session
(its ROS domain, DDS on loopback). A file passes when the child exits 0 *and* its report shows at
least one test, none skipped, none failed. Where launch_testing is not installed the files are
skipped with the reason, except under CI (``CI`` set, as ``.ci/run`` does): there a missing
launch_testing is a failure, so CI can never pass without running them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rosutil import ChildProcess, require_ros2_tools

pytestmark = [pytest.mark.ros, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
LAUNCH_TEST_GLOB = "test_*_launch.py"  # as conftest.py: pytest itself never collects these
LAUNCH_TEST_FILES = sorted(HERE.glob(LAUNCH_TEST_GLOB))
# The launch tests issue #20 asks for; the glob must find at least these.
REQUIRED = {
    "test_policy_launch.py",
    "test_wrong_robot_launch.py",
    "test_sigint_ramp_launch.py",
    "test_policy_respawn_launch.py",
}
PER_FILE_TIMEOUT_S = 180.0


def _report(xml_path: Path) -> dict[str, int]:
    """Totals of a launch_testing junit report: tests, failures, errors, skipped."""
    root = ET.parse(xml_path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    # A skipped case is also visible as a <skipped> element (whatever the attributes say).
    totals["skipped"] = max(totals["skipped"], len(list(root.iter("skipped"))))
    return totals


def test_every_launch_test_file_is_found() -> None:
    names = {p.name for p in LAUNCH_TEST_FILES}
    assert names >= REQUIRED, f"missing launch tests {sorted(REQUIRED - names)} in {HERE}"


def test_report_parser_sees_skips(tmp_path: Path) -> None:
    """The gate below must notice a skipped case and an empty run."""
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites name="x"><testsuite name="a" tests="2" failures="0" errors="0" '
        'skipped="0"><testcase name="t1"/><testcase name="t2"><skipped message="m"/>'
        "</testcase></testsuite></testsuites>"
    )
    assert _report(xml) == {"tests": 2, "failures": 0, "errors": 0, "skipped": 1}
    xml.write_text('<testsuites name="x"/>')
    assert _report(xml)["tests"] == 0


@pytest.mark.parametrize("path", LAUNCH_TEST_FILES, ids=lambda p: p.name)
def test_launch_file(path: Path, ros_env: dict[str, str], tmp_path: Path) -> None:
    require_ros2_tools("launch_testing")
    env = dict(ros_env)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(TESTS), env.get("PYTHONPATH", "")])
    env["ROS_LOG_DIR"] = str(tmp_path / "ros_log")
    xml = tmp_path / "report.xml"
    argv = [sys.executable, "-m", "launch_testing.launch_test", str(path), "--junit-xml", str(xml)]
    child = ChildProcess(argv, env, cwd=str(TESTS))
    try:
        rc = child.proc.wait(PER_FILE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.stop()
        pytest.fail(f"{path.name} ran past {PER_FILE_TIMEOUT_S} s\n{child.output[-20000:]}")
    child.stop()  # joins the output reader
    out = child.output[-20000:]
    assert rc == 0, f"{path.name}: exit code {rc}\n{out}"
    assert xml.is_file(), f"{path.name}: no junit report\n{out}"
    totals = _report(xml)
    assert totals["tests"] > 0, f"{path.name}: ran no test\n{out}"
    assert totals["skipped"] == 0, f"{path.name}: {totals['skipped']} test(s) skipped\n{out}"
    assert totals["failures"] == totals["errors"] == 0, f"{path.name}: {totals}\n{out}"
