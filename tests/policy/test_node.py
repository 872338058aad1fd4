"""The policy node on a real rclpy graph: lifecycle, control rate, chunk following, smoothness."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from rosutil import wait_until

from vla_lego.robot import H1_LAYOUT

pytestmark = [pytest.mark.ros, pytest.mark.slow]

IDLE, RUNNING, HOLDING, FAULT = 0, 1, 2, 3


def window(records: list, t0: float, t1: float) -> list:
    return [r for r in records if t0 <= r[0] <= t1]


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec


def test_idle_until_task_then_commands_at_control_rate_following_chunks(make_graph, check_safe):
    g = make_graph()
    d = g.driver
    assert d.wait_state(IDLE, 10.0)  # status arrives once discovery is done
    time.sleep(0.5)
    assert not d.commands, "the node must publish no command before a task is set"
    g.start_task("stack the red brick")
    assert d.wait_state(RUNNING, 5.0), d.statuses[-1][1] if d.statuses else "no status"
    t0 = d.now()
    time.sleep(3.0)
    cmds = window(d.commands, t0, d.now())
    # Rate by the node's own stamps (what it intended) and by arrival here (what a robot sees).
    stamps = np.array([stamp_s(m) for _, m in cmds])
    assert abs((len(stamps) - 1) / (stamps[-1] - stamps[0]) - 50.0) <= 5.0
    assert abs(len(cmds) / 3.0 - 50.0) <= 5.0
    check_safe(d.commands)
    # Commands follow the chunks: the scripted policy's curve at each command's stamp.
    # The start blends in from where the arm stood (speed-limited); from then on it follows.
    err = np.array(
        [np.abs(np.asarray(m.position) - g.policy.target(stamp_s(m))).max() for _, m in cmds]
    )
    on = int(np.argmax(err < 0.01))
    assert err[on] < 0.01 and stamps[on] - stamps[0] < 2.0, np.round(err, 4)
    # A tick delayed by machine load moves only one nominal tick's worth (safety filter), so a
    # late tick may lag by a few hundredths of a radian until the next ones catch up.
    assert len(err) - on >= 40 and err[on:].max() < 0.05, np.round(err, 4)
    assert np.mean(err[on:] < 0.01) >= 0.9, np.round(err, 4)
    _, chunk = d.chunks[-1]
    assert chunk.horizon == 10 and list(chunk.joint_names) == list(H1_LAYOUT.names)
    actions = np.asarray(chunk.positions).reshape(10, 20)
    expected = g.policy.target(stamp_s(chunk) + 0.1 * np.arange(10))
    np.testing.assert_allclose(actions, expected, atol=1e-5)  # float32 policy output
    status = d.statuses[-1][1]
    assert status.subtask_text == "follow the sine" and status.instruction == "stack the red brick"
    assert abs(status.control_rate - 50.0) <= 5.0 and status.last_inference_latency > 0.04
    # The scheduler shapes the stream to the limits (feasible_targets): the filter never acts.
    counts = [status.clamp_position, status.clamp_velocity, status.clamp_acceleration]
    assert status.safety_clamp_count == 0 and counts == [0, 0, 0], (status, counts)
    assert g.close() == 0  # SIGINT: clean exit


def test_status_reports_the_safety_filter_per_cause(make_graph, check_safe):
    """A sine far faster than the limits, with the scheduler's shaping off: the filter rate-limits
    it, and the status carries its per-cause counts next to the total."""
    import json

    kwargs = {"horizon": 10, "dt": 0.1, "amplitude": 1.0, "frequency": 1.0, "latency": 0.02}
    g = make_graph(policy_kwargs=json.dumps(kwargs), feasible_targets=False)
    d = g.driver
    g.start_task()
    assert d.wait_state(RUNNING, 5.0), d.statuses[-1][1].reason if d.statuses else "no status"
    assert wait_until(lambda: d.statuses[-1][1].clamp_acceleration > 0, 5.0)
    time.sleep(0.3)
    s = d.statuses[-1][1]
    assert s.clamp_velocity > 0 and s.clamp_acceleration > 0 and s.clamp_nonfinite == 0, s
    # Each changed value counts once in the total and under at least one cause.
    assert 0 < s.safety_clamp_count <= s.clamp_position + s.clamp_velocity + s.clamp_acceleration
    check_safe(d.commands)
    assert g.close() == 0


def test_instruction_topic_starts_and_empty_instruction_holds(make_graph, check_safe, wait):
    from std_msgs.msg import String

    g = make_graph()
    d = g.driver
    assert wait(lambda: d.instr_pub.get_subscription_count() > 0, 10.0)
    d.instr_pub.publish(String(data="pick up the blue brick"))
    assert d.wait_state(RUNNING, 5.0)
    d.instr_pub.publish(String(data=""))
    assert d.wait_state(HOLDING, 2.0)
    assert d.statuses[-1][1].reason == "task cleared"
    time.sleep(0.5)
    last = [np.asarray(m.position) for _, m in d.commands[-10:]]
    assert len(last) == 10 and np.abs(np.diff(last, axis=0)).max() < 1e-9  # standing still
    check_safe(d.commands)
    resp = d.call_set_task("pick up the blue brick")
    assert resp.accepted and d.wait_state(RUNNING, 5.0)


def test_failing_policy_faults_and_settask_retries(make_graph, check_safe):
    """A policy that keeps failing puts the node in FAULT (holding, no more inference) until a
    SetTask request acknowledges it; the published commands stay safe throughout."""
    import json

    kwargs = {"horizon": 10, "dt": 0.1, "amplitude": 0.2, "latency": 0.02, "fail_after": 2}
    g = make_graph(policy_kwargs=json.dumps(kwargs), max_consecutive_failures=3)
    d = g.driver
    g.start_task("pick up the blue brick")
    assert d.wait_state(FAULT, 10.0), [m.reason for _, m in d.statuses[-3:]]
    reason = d.statuses[-1][1].reason
    assert "3 policy failures in a row" in reason and "scripted failure" in reason
    chunks = len(d.chunks)
    time.sleep(0.6)
    assert d.state() == FAULT and len(d.chunks) == chunks
    last = [np.asarray(m.position) for _, m in d.commands[-10:]]
    assert len(last) == 10 and np.abs(np.diff(last, axis=0)).max() < 1e-9  # standing still
    resp = d.call_set_task("pick up the blue brick")
    assert resp.accepted and resp.message.endswith("(fault cleared)")
    assert wait_until(lambda: len(d.chunks) > chunks, 5.0)  # inference resumed: one good chunk
    assert d.wait_state(FAULT, 10.0)  # then the policy fails again
    check_safe(d.commands)
    assert g.close() == 0


def test_chunk_boundaries_are_smooth(make_graph, check_safe):
    """Chunks 0.15 s late, every 0.3 s: stale actions skipped, no step larger at a boundary."""
    import json

    kwargs = {"horizon": 10, "dt": 0.1, "amplitude": 0.3, "frequency": 0.4, "latency": 0.15}
    g = make_graph(policy_kwargs=json.dumps(kwargs), min_inference_period=0.3)
    d = g.driver
    g.start_task()
    assert d.wait_state(RUNNING, 5.0)
    t0 = d.now()
    time.sleep(3.0)
    cmds = window(d.commands, t0, d.now())
    arrivals = [t for t, _ in window(d.chunks, t0, d.now())]
    assert len(arrivals) >= 6
    t = np.array([stamp_s(m) for _, m in cmds])
    q = np.array([m.position for _, m in cmds])
    steps = np.abs(np.diff(q, axis=0)).max(axis=1)
    near = np.zeros(len(steps), bool)
    for a in arrivals:  # ticks from just before an arrival to the end of its blend window
        near |= (t[1:] >= a - 0.03) & (t[1:] <= a + 0.2 + 0.05)
    assert near.any() and (~near).any()
    assert steps[near].max() <= steps[~near].max() * 1.05 + 1e-6
    check_safe(d.commands)


def test_starts_running_without_activation_when_configured(make_graph):
    g = make_graph(require_activation=False, instruction="stack")
    assert g.driver.wait_state(RUNNING, 5.0)
    assert g.driver.statuses[-1][1].instruction == "stack"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "control_rate:=0.5"], "control_rate"),
        (["-p", "blend:=mix"], "blend"),
        (["-p", "arm_max_velocity:=20.0"], "arm_max_velocity"),
        (["-p", "policy:=python:no_such_module:make"], "no_such_module"),
        (["-p", "typo_rate:=3.0"], "unknown parameters"),
        (["-p", "require_activation:=false"], "instruction is empty"),
    ],
)
def test_invalid_configuration_is_an_error_exit(repo_root: Path, ros_env, args, message):
    exe = repo_root / "ros2_ws/install/vla_lego_policy/lib/vla_lego_policy/policy_node"
    argv = [str(exe), "--ros-args", "-p", "policy:=python:vla_lego.runtime.scripted:SinePolicy"]
    res = subprocess.run(argv + args, env=ros_env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr


def test_two_cameras_raw_and_jpeg_compressed(make_graph, check_safe):
    """A raw head camera and a JPEG wrist camera; a corrupt JPEG stream holds the robot."""
    g = make_graph(
        camera_topics=[
            "{prefix}/h1/camera/head/image_raw",
            "{prefix}/h1/camera/left_wrist/image_raw/compressed",
        ]
    )
    d = g.driver
    g.start_task()
    assert d.wait_state(RUNNING, 5.0), d.statuses[-1][1].reason if d.statuses else "no status"

    def corrupt(msg):
        msg.data = bytes(msg.data)[:40]  # a truncated JPEG: signature fine, stream broken
        return msg

    d.compressed_hook = corrupt
    assert d.wait_state(HOLDING, 2.0)  # first for skew between the views, then for staleness
    assert wait_until(lambda: "camera left_wrist stale" in d.statuses[-1][1].reason, 2.0)
    d.compressed_hook = None
    assert d.wait_state(RUNNING, 5.0)
    check_safe(d.commands)
    assert g.alive()


def test_qos_override_parameters_apply(make_graph, wait) -> None:  # type: ignore[no-untyped-def]
    """ROS 2's standard qos_overrides.<topic>.<entity>.<policy> parameters reach the node's
    publishers and subscriptions (e.g. best-effort commands, a reliable camera subscription)."""
    from rclpy.qos import ReliabilityPolicy

    g = make_graph(
        **{
            "qos_overrides.{prefix}/h1/arm_command.publisher.reliability": "best_effort",
            "qos_overrides.{prefix}/h1/camera/head/image_raw.subscription.reliability": "reliable",
        }
    )
    node = g.spun.node
    cmd, cam = g.params["command_topic"], g.params["camera_topics"][0]

    def reliability(infos):  # type: ignore[no-untyped-def]
        return {i.qos_profile.reliability for i in infos if i.node_name == "policy_node"}

    assert wait(lambda: reliability(node.get_publishers_info_by_topic(cmd)), 10)
    assert reliability(node.get_publishers_info_by_topic(cmd)) == {ReliabilityPolicy.BEST_EFFORT}
    subs = reliability(node.get_subscriptions_info_by_topic(cam))
    assert subs == {ReliabilityPolicy.RELIABLE}


@pytest.mark.parametrize(
    "signals",
    [("SIGINT", "SIGINT"), ("SIGTERM",)],
    ids=["ctrl-c-in-a-terminal-under-launch", "sigterm"],
)
def test_stop_signals_while_running_end_cleanly(make_graph, signals) -> None:
    """Under ``ros2 launch`` in a terminal a Ctrl-C reaches the node twice (the terminal's group
    and launch passing it on); launch escalates to SIGTERM. Each ends the node with exit 0 and no
    traceback, while inference and the 50 Hz loop are running."""
    import os
    import signal

    g = make_graph()
    d = g.driver
    assert d.wait_state(IDLE, 10.0)
    g.start_task("stack the red brick")
    assert d.wait_state(RUNNING, 5.0)
    time.sleep(1.0)  # chunks flowing: the inference thread publishes while the signal lands
    pid = g.proc.proc.pid
    for name in signals:
        os.kill(pid, getattr(signal, name))
        time.sleep(0.02)
    rc = g.proc.proc.wait(15.0)
    out = g.proc.output
    assert rc == 0, out
    assert "Traceback" not in out and "context is invalid" not in out, out
