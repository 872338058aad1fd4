"""PolicyController on a fake clock: idle -> running -> holding -> recovery, deterministically."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_lego.robot import H1_LAYOUT
from vla_lego.runtime import (
    STATE_FAULT,
    STATE_HOLDING,
    STATE_IDLE,
    STATE_RUNNING,
    ChunkScheduler,
    ControllerConfig,
    ObservationSync,
    PolicyController,
    SafetyFilter,
    SafetyLimits,
    SchedulerConfig,
    SyncConfig,
)
from vla_lego.runtime.scripted import SinePolicy

DT = 0.02
IMG = np.zeros((8, 8, 3), np.uint8)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make(
    policy: SinePolicy, max_latency: float = 1.0, relatch: float = 0.0, max_failures: int = 3
) -> tuple[PolicyController, Clock]:
    clock = Clock()
    lim = SafetyLimits.from_layout(H1_LAYOUT, 2.0, 1.0, 20.0, 10.0)
    ctl = PolicyController(
        policy,
        ObservationSync(H1_LAYOUT, SyncConfig(("head",), 0.2, 0.1, 0.05)),
        ChunkScheduler(H1_LAYOUT.dim, SchedulerConfig(blend_time=0.1)),
        SafetyFilter(lim, DT),
        clock,
        ControllerConfig(
            max_inference_latency=max_latency,
            hold_relatch_distance=relatch,
            max_consecutive_failures=max_failures,
        ),
    )
    return ctl, clock


def feed(ctl: PolicyController, t: float, q: np.ndarray, camera: bool = True) -> None:
    if camera:
        ctl.sync.add_image("head", IMG, t, t)
    ctl.sync.add_joint_state(H1_LAYOUT.names, q, t, t)


def run(ctl: PolicyController, clock: Clock, seconds: float, q: np.ndarray, camera: bool = True):
    """Advance in control ticks; inference every 5th tick; returns the tick outputs."""
    outs = []
    for k in range(round(seconds / DT)):
        clock.t += DT
        feed(ctl, clock.t, q, camera=camera)
        if k % 5 == 0:
            ctl.infer_once(timeout=0.0)
        outs.append(ctl.tick(clock.t))
    return outs


def running_sine() -> tuple[SinePolicy, PolicyController, Clock, np.ndarray, Any]:
    """A controller that ran a sine policy for 1 s on fresh inputs; with its last tick output."""
    policy = SinePolicy(horizon=10, dt=0.1, amplitude=0.2)
    ctl, clock = make(policy)
    q = policy.target(clock.t)
    feed(ctl, clock.t, q)
    ctl.set_instruction("go")
    return policy, ctl, clock, q, run(ctl, clock, 1.0, q)[-1]


def test_idle_until_task_then_runs_the_policy_within_limits() -> None:
    policy = SinePolicy(horizon=10, dt=0.1, amplitude=0.2)
    ctl, clock = make(policy)
    q0 = policy.target(clock.t)
    assert ctl.tick(clock.t).state == STATE_IDLE and ctl.tick(clock.t).command is None
    feed(ctl, clock.t, q0)
    ctl.set_instruction("stack the bricks")
    first = ctl.tick(clock.t)
    assert first.state == STATE_HOLDING and "first action chunk" in first.reason
    np.testing.assert_allclose(first.command.position, q0)
    outs = run(ctl, clock, 2.0, q0)
    assert outs[-1].state == STATE_RUNNING
    np.testing.assert_allclose(outs[-1].command.position, policy.target(clock.t), atol=5e-3)
    steps = np.diff([o.command.position for o in outs], axis=0)
    assert np.all(np.abs(steps) <= 2.0 * DT + 1e-9)
    assert ctl.status().chunks >= 15 and ctl.status().instruction == "stack the bricks"


def test_stale_camera_holds_latched_position_and_recovers() -> None:
    _, ctl, clock, q, _ = running_sine()
    outs = run(ctl, clock, 0.6, q, camera=False)
    held = [o for o in outs if o.state == STATE_HOLDING]
    assert held and "camera head stale" in held[0].reason
    assert outs[round(0.2 / DT) + 1].state == STATE_HOLDING  # within the 0.2 s threshold
    np.testing.assert_allclose(outs[-1].command.position, q, atol=1e-6)  # braked to the latch
    outs = run(ctl, clock, 1.0, q)
    assert outs[-1].state == STATE_RUNNING


def test_inference_failure_holds_with_reason() -> None:
    policy = SinePolicy(horizon=10, dt=0.1, fail_after=3)
    ctl, clock = make(policy, max_failures=0)  # keep retrying (FAULT: tests below)
    q = policy.target(clock.t)
    feed(ctl, clock.t, q)
    ctl.set_instruction("go")
    outs = run(ctl, clock, 1.0, q)
    assert outs[-1].state == STATE_HOLDING and "scripted failure" in outs[-1].reason
    assert ctl.status().inference_failures >= 1


class FlakyPolicy(SinePolicy):
    """Fails on the calls listed in ``fail_on`` (1-based), otherwise a SinePolicy."""

    def __init__(self, fail_on: set[int]) -> None:
        super().__init__(horizon=10, dt=0.1)
        self.fail_on, self.attempts = fail_on, 0  # attempts survive reset()

    def predict(self, observation):  # type: ignore[no-untyped-def]
        self.attempts += 1
        if self.attempts in self.fail_on:
            raise RuntimeError(f"flaky failure on call {self.attempts}")
        return super().predict(observation)


def test_repeated_policy_failures_latch_fault_until_the_task_is_acknowledged() -> None:
    policy = FlakyPolicy(fail_on={2, 3, 4, 5, 6, 7, 8})
    ctl, clock = make(policy)
    q = policy.target(clock.t)
    feed(ctl, clock.t, q)
    ctl.set_instruction("go")
    outs = run(ctl, clock, 1.0, q)  # 10 inference attempts; calls 2..4 fail -> FAULT
    assert policy.attempts == 4, "no policy call after the fault"
    assert outs[-1].state == STATE_FAULT and "3 policy failures in a row" in outs[-1].reason
    assert "flaky failure on call 4" in outs[-1].reason and ctl.status().state == STATE_FAULT
    held = outs[-1].command.position
    assert np.all(held >= H1_LAYOUT.lower - 1e-9) and np.all(held <= H1_LAYOUT.upper + 1e-9)
    ctl.set_instruction("go")  # a repeated instruction message is not an acknowledgement
    run(ctl, clock, 0.5, q)
    assert policy.attempts == 4 and ctl.status().state == STATE_FAULT
    ctl.set_instruction("go", acknowledge=True)  # SetTask: retry; calls 5..7 fail again
    outs = run(ctl, clock, 1.0, q)
    assert policy.attempts == 7 and outs[-1].state == STATE_FAULT
    ctl.set_instruction("another task")  # a new task clears the fault too; call 8 fails, 9 runs
    outs = run(ctl, clock, 1.0, q)
    assert outs[-1].state == STATE_RUNNING and policy.attempts > 9


def test_failures_that_are_not_consecutive_never_fault() -> None:
    policy = FlakyPolicy(fail_on={2, 3, 5, 6, 8, 9})
    ctl, clock = make(policy)
    q = policy.target(clock.t)
    feed(ctl, clock.t, q)
    ctl.set_instruction("go")
    states = [o.state for o in run(ctl, clock, 2.0, q)]
    assert STATE_FAULT not in states and states[-1] == STATE_RUNNING
    assert ctl.status().inference_failures == 6
    ctl_off, clock_off = make(FlakyPolicy(fail_on=set(range(2, 100))), max_failures=0)
    feed(ctl_off, clock_off.t, q)
    ctl_off.set_instruction("go")
    assert STATE_FAULT not in [o.state for o in run(ctl_off, clock_off, 2.0, q)]


def test_slow_inference_chunk_is_dropped() -> None:
    policy = SinePolicy(horizon=10, dt=0.1)
    ctl, clock = make(policy, max_latency=0.05)
    q = policy.target(clock.t)
    feed(ctl, clock.t, q)
    ctl.set_instruction("go")
    clock.t += 0.1  # the observation is 0.1 s old when the chunk arrives
    ctl.infer_once(timeout=0.0)
    out = ctl.tick(clock.t)
    assert out.state == STATE_HOLDING and "too slow" in out.reason
    assert ctl.scheduler.stats["chunks"] == 0


def test_clearing_the_task_holds() -> None:
    policy = SinePolicy()
    ctl, clock = make(policy)
    q = policy.target(clock.t)
    feed(ctl, clock.t, q)
    ctl.set_instruction("go")
    run(ctl, clock, 0.5, q)
    ctl.set_instruction("   ")
    out = run(ctl, clock, 0.1, q)[-1]
    assert out.state == STATE_HOLDING and out.reason == "task cleared" and out.command is not None


@pytest.mark.parametrize("relatch", [0.0, 0.3])
def test_hold_after_clear_relatches_only_when_enabled(relatch: float) -> None:
    """A sim reset teleports the arm while the task is cleared: hold there, don't drive back."""
    policy = SinePolicy()
    ctl, clock = make(policy, relatch=relatch)
    q = policy.target(clock.t)
    feed(ctl, clock.t, q)
    ctl.set_instruction("go")
    run(ctl, clock, 0.5, q)
    ctl.set_instruction("")
    held = run(ctl, clock, 1.0, q)[-1].command.position.copy()
    moved = held.copy()
    moved[H1_LAYOUT.index("right_elbow_joint")] += 1.0  # the reset pose
    out = run(ctl, clock, 0.1, moved)[-1]
    assert out.state == STATE_HOLDING
    if relatch:
        np.testing.assert_allclose(out.command.position, moved, atol=1e-9)
    else:  # holds the old pose, rate-limited towards it
        assert abs(out.command.position[H1_LAYOUT.index("right_elbow_joint")] - held[7]) < 1e-9
    # a small deviation (tracking error under load) never re-latches
    ctl2, clock2 = make(policy, relatch=0.3)
    feed(ctl2, clock2.t, q)
    ctl2.set_instruction("go")
    run(ctl2, clock2, 0.5, q)
    ctl2.set_instruction("")
    held2 = run(ctl2, clock2, 1.0, q)[-1].command.position.copy()
    out2 = run(ctl2, clock2, 0.1, held2 + 0.1)[-1]
    np.testing.assert_allclose(out2.command.position, held2, atol=1e-9)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="hold_relatch_distance"):
        ControllerConfig(hold_relatch_distance=-1.0)
    with pytest.raises(ValueError, match="max_inference_latency"):
        ControllerConfig(max_inference_latency=0.0)
    with pytest.raises(ValueError, match="max_consecutive_failures"):
        ControllerConfig(max_consecutive_failures=-1)


def test_exhausted_chunk_holds_its_last_target() -> None:
    policy = SinePolicy(horizon=3, dt=0.1)
    ctl, clock = make(policy)
    q = policy.target(clock.t)
    feed(ctl, clock.t, q)
    ctl.set_instruction("go")
    ctl.tick(clock.t)
    assert ctl.infer_once(timeout=0.0)
    outs = []
    for _ in range(30):  # 0.6 s, never another inference: the 0.2 s chunk runs out
        clock.t += DT
        feed(ctl, clock.t, q)
        outs.append(ctl.tick(clock.t))
    assert outs[-1].state == STATE_HOLDING and "exhausted" in outs[-1].reason
    last = policy.target(clock.t - 0.6 - 0.0 + 0.2)  # the chunk's final action (obs time + 2 dt)
    np.testing.assert_allclose(outs[-1].command.position, last, atol=1e-4)
    assert np.abs(outs[-1].command.velocity).max() < 1e-9


def test_inference_running_too_long_holds_then_its_chunk_is_dropped() -> None:
    import threading

    release = threading.Event()

    class Blocking(SinePolicy):
        def predict(self, observation):
            release.wait(5.0)
            return super().predict(observation)

    policy = Blocking(horizon=10, dt=0.1)
    ctl, clock = make(policy, max_latency=0.3)
    q = policy.target(clock.t)
    feed(ctl, clock.t, q)
    ctl.set_instruction("go")
    worker = threading.Thread(target=ctl.infer_once, args=(0.0,))
    worker.start()
    try:
        assert wait_for(lambda: ctl._infer_start is not None)
        clock.t += 0.4
        feed(ctl, clock.t, q)
        out = ctl.tick(clock.t)
        assert out.state == STATE_HOLDING and "inference running for" in out.reason
    finally:
        release.set()
        worker.join(5.0)
    out = ctl.tick(clock.t)
    assert "too slow" in out.reason and ctl.scheduler.stats["chunks"] == 0


def wait_for(pred, timeout: float = 5.0) -> bool:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return False


EVENTS = ["tick", "tick", "tick", "fresh", "fresh", "infer", "stale_gap", "task", "clear", "nan"]


@settings(max_examples=40, deadline=None)
@given(events=st.lists(st.sampled_from(EVENTS), min_size=5, max_size=80), offset=st.floats(0, 1))
def test_property_commands_always_within_limits(events: list[str], offset: float) -> None:
    """Whatever happens to inputs, task and inference, every command is safe and steps are small."""
    policy = SinePolicy(horizon=5, dt=0.1, amplitude=1.0, chunk_offset=offset)
    ctl, clock = make(policy)
    lim = ctl.safety.limits
    prev = None
    for ev in events:
        if ev == "fresh":
            feed(ctl, clock.t, policy.target(clock.t))
        elif ev == "infer":
            ctl.infer_once(timeout=0.0)
        elif ev == "stale_gap":
            clock.t += 0.3
        elif ev == "task":
            ctl.set_instruction(f"task {clock.t}")
        elif ev == "clear":
            ctl.set_instruction("")
        elif ev == "nan":
            with contextlib.suppress(ValueError):
                ctl.sync.add_joint_state(H1_LAYOUT.names, np.full(20, np.nan), clock.t, clock.t)
        clock.t += DT
        out = ctl.tick(clock.t)
        if out.command is None:
            continue
        pos = out.command.position
        assert np.all(np.isfinite(pos)) and H1_LAYOUT.within_limits(pos)
        if prev is not None:
            assert np.all(np.abs(pos - prev) <= lim.max_velocity * DT + 1e-9)
        prev = pos


def test_clock_jumping_back_drops_the_old_timeline_and_holds() -> None:
    """A sim-time reset (or a looped bag with /clock) moves ``now`` backwards: inputs and the
    chunk stamped on the old timeline must not count as fresh or keep driving the robot."""
    policy, ctl, clock, q, last = running_sine()
    assert last.state == STATE_RUNNING
    before = ctl.safety.last_position.copy()
    chunks = ctl.status().chunks

    clock.t = 1.0  # back by ~100 s
    out = ctl.tick(clock.t)
    assert out.state == STATE_HOLDING and "clock jumped back" in out.reason
    # holds where it was commanded (braking from its current speed, not driving anywhere)
    assert np.abs(out.command.position - before).max() <= 2.0 * DT + 1e-9
    assert ctl.sync.joint_positions() is None  # pre-jump inputs are gone
    # a chunk computed from a pre-jump observation arriving now is not used
    ctl._accept(policy.predict(_obs_at(100.9, q)), ctl._generation, 0.01)
    assert ctl.status().chunks == chunks
    # fresh inputs on the new timeline: inference resumes and the robot runs again
    outs = run(ctl, clock, 1.0, q)
    assert outs[-1].state == STATE_RUNNING and ctl.status().chunks > chunks
    assert np.all(np.abs(np.diff([o.command.position for o in outs], axis=0)) <= 2 * DT + 1e-9)


def test_a_tiny_step_back_of_the_clock_is_not_a_jump() -> None:
    """The system clock can step back by microseconds; only a step beyond the allowed clock
    disagreement (max_future) drops the timeline."""
    _, ctl, clock, _, _ = running_sine()
    clock.t -= 1e-4
    out = ctl.tick(clock.t)
    assert out.state == STATE_RUNNING and ctl.sync.joint_positions() is not None


def _obs_at(t: float, q: np.ndarray):
    from vla_lego.inference import Observation

    return Observation({"head": IMG}, q.astype(np.float32), "go", t)


def test_stamps_far_in_the_future_are_a_problem_not_fresh() -> None:
    sync = ObservationSync(H1_LAYOUT, SyncConfig(("head",), 0.2, 0.1, 0.05))
    q = np.zeros(H1_LAYOUT.dim)
    sync.add_image("head", IMG, 50.0, 50.0)
    sync.add_joint_state(H1_LAYOUT.names, q, 50.0, 50.0)
    assert sync.problems(50.1) == []
    problems = sync.problems(10.0)  # asked at a time 40 s before the stamps
    assert any("in the future" in p for p in problems) and sync.latest(10.0, "go") is None


class CountingResets(SinePolicy):
    def __init__(self) -> None:
        super().__init__(horizon=10, dt=0.1)
        self.resets = 0

    def reset(self) -> None:
        super().reset()
        self.resets += 1


def test_task_switch_resets_the_policy_even_if_the_first_try_finds_no_new_frame() -> None:
    """Joint states come faster than camera frames: an inference attempt right after a task
    switch often finds no new frame; the policy reset must wait for the call that runs."""
    policy = CountingResets()
    ctl, clock = make(policy)
    q = policy.target(clock.t)
    feed(ctl, clock.t, q)
    ctl.set_instruction("task A")
    assert ctl.infer_once(timeout=0.0) and policy.resets == 1
    ctl.set_instruction("task B")
    clock.t += DT
    feed(ctl, clock.t, q, camera=False)  # a joint state, no new frame
    assert not ctl.infer_once(timeout=0.0)
    clock.t += DT
    feed(ctl, clock.t, q)
    assert ctl.infer_once(timeout=0.0)
    assert policy.resets == 2
