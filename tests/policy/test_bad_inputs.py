"""Bad input to a running policy node, one kind per test: it is dropped, the node holds when it has
nothing valid, stays alive, recovers, and never publishes an unsafe command."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from vla_lego.robot import H1_LAYOUT

pytestmark = [pytest.mark.ros, pytest.mark.slow]

RUNNING, HOLDING = 1, 2
MAX_AGE = 0.2  # the node's max_input_age (config default)


@pytest.fixture
def g(shared_graph, check_safe) -> Iterator[Any]:
    """The shared node, running on good inputs before and after each test."""
    d = shared_graph.driver
    d.image_hook = d.joint_hook = None
    d.camera_on = d.joints_on = True
    assert d.wait_state(RUNNING, 5.0), d.statuses[-1][1].reason
    start = len(d.commands)
    yield shared_graph
    d.image_hook = d.joint_hook = None
    d.camera_on = d.joints_on = True
    assert shared_graph.alive(), shared_graph.proc.output[-3000:]
    assert d.wait_state(RUNNING, 5.0), "node did not recover: " + d.statuses[-1][1].reason
    check_safe(d.commands[max(0, start - 1) :])


def holds_on(g: Any, reason: str, seconds: float = 0.6) -> None:
    """The node goes to HOLDING with ``reason`` in its status, and keeps commanding (standing)."""
    d = g.driver
    assert d.wait_state(HOLDING, 2.0), d.statuses[-1][1]
    n = len(d.commands)
    time.sleep(seconds)
    assert len(d.commands) - n >= seconds * 50 * 0.8, "commands must continue while holding"
    reasons = [s.reason for _, s in d.statuses[-20:] if s.state == HOLDING]
    assert any(reason in r for r in reasons), reasons
    last = np.array([m.position for _, m in d.commands[-5:]])
    assert np.abs(np.diff(last, axis=0)).max() < 1e-9, "holding must stand still"


def image_hook(mutate: Callable[[Any], None]) -> Callable[[Any], Any]:
    def hook(msg: Any) -> Any:
        mutate(msg)
        return msg

    return hook


def _short(m: Any) -> None:
    m.data = bytes(m.data)[:-7]


def _step(m: Any) -> None:
    m.step = m.width * 3 - 3
    m.data = bytes(m.step * m.height)


def _encoding(m: Any) -> None:
    m.encoding = "yuv422"


def _empty(m: Any) -> None:
    m.height = m.width = m.step = 0
    m.data = b""


@pytest.mark.parametrize(
    "mutate",
    [_short, _step, _encoding, _empty],
    ids=["wrong_size", "wrong_step", "encoding", "empty"],
)
def test_malformed_images_are_dropped(g, mutate) -> None:
    g.driver.image_hook = image_hook(mutate)
    holds_on(g, "camera head stale")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_joint_positions_are_dropped(g, bad: float) -> None:
    def hook(msg: Any) -> Any:
        pos = list(msg.position)
        pos[5] = bad
        msg.position = pos
        return msg

    g.driver.joint_hook = hook
    holds_on(g, "joint state stale")


def test_joint_state_missing_a_joint_holds_naming_it(g) -> None:
    missing = H1_LAYOUT.names[6]

    def hook(msg: Any) -> Any:
        keep = [(n, p) for n, p in zip(msg.name, msg.position) if n != missing]
        msg.name, msg.position = [n for n, _ in keep], [p for _, p in keep]
        return msg

    g.driver.joint_hook = hook
    holds_on(g, missing)


def test_joint_state_in_other_order_with_extra_joints_keeps_running(g) -> None:
    d = g.driver

    def hook(msg: Any) -> Any:
        pairs = [*list(zip(msg.name, msg.position))[::-1], ("left_knee_joint", float("nan"))]
        msg.name, msg.position = [n for n, _ in pairs], [p for _, p in pairs]
        return msg

    d.joint_hook = hook
    time.sleep(1.0)  # the fixture's recovery may still be blending in from a hold
    t0 = d.now()
    time.sleep(1.0)
    held = [s.reason for t, s in d.statuses if t >= t0 and s.state != RUNNING]
    assert not held, held
    err = [
        np.abs(
            np.asarray(m.position)
            - g.policy.target(m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec)
        ).max()
        for t, m in d.commands
        if t >= t0
    ]
    assert len(err) >= 40 and max(err) < 0.05 and np.mean(np.array(err) < 0.01) >= 0.9  # load


@pytest.mark.parametrize("offset", [1.0, -10.0], ids=["future", "far_past"])
@pytest.mark.parametrize("which", ["camera", "joints"])
def test_bad_stamps_are_dropped(g, offset: float, which: str) -> None:
    d = g.driver

    def restamp(msg: Any) -> Any:
        msg.header.stamp = d.stamp(d.now() + offset)
        return msg

    if which == "camera":
        d.image_hook = restamp
        holds_on(g, "camera head stale")
    else:
        d.joint_hook = restamp
        holds_on(g, "joint state stale")


def test_camera_stops_holds_within_threshold_then_recovers(g) -> None:
    d = g.driver
    d.camera_on = False
    last_frame = d.last_good_frame
    assert d.wait_state(HOLDING, 2.0)
    first_hold = next(t for t, s in d.statuses if t >= last_frame and s.state == HOLDING)
    # Threshold + one control tick + status delivery.
    assert first_hold - last_frame <= MAX_AGE + 0.02 + 0.06, first_hold - last_frame
    holds_on(g, "camera head stale", seconds=0.3)


def test_joint_states_stop_holds(g) -> None:
    g.driver.joints_on = False
    holds_on(g, "joint state stale")


def test_burst_of_1000_messages_keeps_control_rate(g) -> None:
    d = g.driver
    t0 = d.now()
    for _ in range(1000):
        d.joint_pub.publish(d.joint_state())
        d.image_pub.publish(d.image())
    t1 = d.now()
    time.sleep(0.5)
    arrivals = [t for t, _ in d.commands if t0 <= t <= t1 + 0.5]
    gaps = np.diff(arrivals)
    assert len(arrivals) >= 0.8 * 50 * (t1 + 0.5 - t0), (len(arrivals), t1 - t0)
    assert gaps.max() < 0.1, gaps.max()
    assert d.state() == RUNNING
