"""SafetyFilter: position, velocity and acceleration limits, non-finite rejection, counting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vla_lego.robot import H1_LAYOUT
from vla_lego.runtime.safety import SafetyFilter, SafetyLimits, load_limit_overrides

DT = 0.02
D = H1_LAYOUT.dim


def limits(**kw: float) -> SafetyLimits:
    args = dict(arm_velocity=1.0, hand_velocity=0.5, arm_acceleration=10.0, hand_acceleration=5.0)
    args.update(kw)
    return SafetyLimits.from_layout(H1_LAYOUT, **args)


def mid() -> np.ndarray:
    return (H1_LAYOUT.lower + H1_LAYOUT.upper) / 2


def test_far_target_is_approached_within_velocity_and_acceleration_limits() -> None:
    lim = limits()
    f = SafetyFilter(lim, DT)
    f.reset(mid())
    target = H1_LAYOUT.upper.copy()
    prev_v = np.zeros(D)
    prev = mid()
    for _ in range(400):
        cmd = f(target)
        assert np.all(np.abs(cmd.position - prev) <= lim.max_velocity * DT + 1e-12)
        assert np.all(np.abs(cmd.velocity - prev_v) <= lim.max_acceleration * DT + 1e-9)
        assert H1_LAYOUT.within_limits(cmd.position)
        prev, prev_v = cmd.position, cmd.velocity
    np.testing.assert_allclose(prev, target, atol=1e-6)  # and it arrives
    assert f.counts["velocity"] > 0 and f.counts["acceleration"] > 0 and f.clamp_count > 0


def test_out_of_range_target_is_clamped_and_counted() -> None:
    f = SafetyFilter(limits(), DT)
    start = H1_LAYOUT.upper - 1e-3
    f.reset(start)
    cmd = f(H1_LAYOUT.upper + 5.0)
    assert H1_LAYOUT.within_limits(cmd.position)
    assert f.counts["position"] == D and cmd.changed == D


def test_reachable_target_passes_unchanged() -> None:
    f = SafetyFilter(limits(), DT)
    f.reset(mid())
    cmd = f(mid() + 1e-4)
    np.testing.assert_allclose(cmd.position, mid() + 1e-4)
    assert cmd.changed == 0 and f.clamp_count == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_target_is_rejected_and_robot_stops(bad: float) -> None:
    f = SafetyFilter(limits(), DT)
    f.reset(mid())
    for _ in range(10):
        f(mid() + 0.2)
    moving = f.last_position
    target = mid() + 0.2
    target[3] = bad
    cmd = f(target)
    assert cmd.rejected and np.all(np.isfinite(cmd.position)) and f.counts["nonfinite"] == 1
    for _ in range(100):
        cmd = f(target)
    assert np.abs(cmd.velocity).max() < 1e-6  # came to rest near where it was
    assert np.abs(cmd.position - moving).max() < 0.05


def test_limits_never_above_hardware() -> None:
    with pytest.raises(ValueError, match="max_velocity"):
        limits(arm_velocity=float(H1_LAYOUT.max_velocity.max()) + 1.0)
    with pytest.raises(ValueError, match="position limits"):
        SafetyLimits.from_layout(
            H1_LAYOUT, 1.0, 0.5, 10.0, 5.0, {"left_elbow_joint": {"upper": 10.0}}
        )
    with pytest.raises(ValueError, match="unknown joint"):
        SafetyLimits.from_layout(H1_LAYOUT, 1.0, 0.5, 10.0, 5.0, {"tail": {"upper": 0.0}})
    with pytest.raises(ValueError, match="max_acceleration"):
        limits(hand_acceleration=0.0)
    with pytest.raises(RuntimeError):
        SafetyFilter(limits(), DT)(mid())


def test_limits_file_narrows_a_joint(tmp_path: Path) -> None:
    p = tmp_path / "limits.yaml"
    p.write_text("joints:\n  left_elbow_joint: {upper: 1.0, max_velocity: 0.3}\n")
    lim = SafetyLimits.from_layout(H1_LAYOUT, 1.0, 0.5, 10.0, 5.0, load_limit_overrides(p))
    i = H1_LAYOUT.index("left_elbow_joint")
    assert lim.upper[i] == 1.0 and lim.max_velocity[i] == 0.3
    p.write_text("- not a mapping\n")
    with pytest.raises(ValueError, match="joints"):
        load_limit_overrides(p)


@settings(max_examples=60, deadline=None)
@given(
    targets=st.lists(
        arrays(np.float64, D, elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
        min_size=1,
        max_size=20,
    )
)
def test_property_any_target_sequence_gives_safe_commands(targets: list[np.ndarray]) -> None:
    lim = limits()
    f = SafetyFilter(lim, DT)
    f.reset(mid())
    prev = mid()
    for t in targets:
        cmd = f(t)
        assert np.all(np.isfinite(cmd.position))
        assert H1_LAYOUT.within_limits(cmd.position)
        assert np.all(np.abs(cmd.position - prev) <= lim.max_velocity * DT + 1e-9)
        prev = cmd.position


@pytest.mark.parametrize("speed, acc", [(1.5, 15.0), (1.0, 5.0)])
def test_target_running_into_a_joint_limit_is_braked_within_the_acceleration_limit(
    speed: float, acc: float
) -> None:
    """A target moving at full speed into a position limit stops there; the command must brake
    before the limit, not stop dead on it (the position clip is a guard, not the brake)."""
    lim = limits(arm_velocity=speed, arm_acceleration=acc)
    f = SafetyFilter(lim, DT)
    start = H1_LAYOUT.upper - 0.6
    f.reset(start)
    prev, prev_v = start.copy(), np.zeros(D)
    arm = H1_LAYOUT.arm_slice
    for k in range(1, 200):
        target = np.minimum(start + speed * 0.9 * k * DT, H1_LAYOUT.upper)
        cmd = f(target)
        dv = np.abs(cmd.velocity - prev_v)[arm]
        assert np.all(dv <= acc * DT + 1e-9), f"tick {k}: |dv| {dv.max():.4f} > {acc * DT}"
        assert H1_LAYOUT.within_limits(cmd.position)
        prev, prev_v = cmd.position, cmd.velocity
    np.testing.assert_allclose(prev[arm], H1_LAYOUT.upper[arm], atol=1e-6)
