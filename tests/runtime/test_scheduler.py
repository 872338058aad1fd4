"""ChunkScheduler: time-indexed sampling, stale skipping, blending without jumps, exhaustion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_lego.inference.types import ActionChunk
from vla_lego.runtime.scheduler import ChunkScheduler, SchedulerConfig

D = 3


def ramp_chunk(
    t0: float, dt: float, h: int, slope: float = 1.0, offset: float = 0.0
) -> ActionChunk:
    """Actions equal to slope * (time) + offset on every joint: easy to predict at any time."""
    times = t0 + dt * np.arange(h)
    actions = np.repeat((slope * times + offset)[:, None], D, axis=1)
    return ActionChunk(actions.astype(np.float32), dt, observation_time=t0)


@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
def test_interpolation_between_actions_at_control_rate(interpolation: str) -> None:
    s = ChunkScheduler(D, SchedulerConfig(interpolation=interpolation))
    s.add_chunk(ramp_chunk(10.0, 0.1, 10), now=10.0)
    # 50 Hz ticks over a 10 Hz chunk; a ramp is a ramp for both (cubic: up to the last action,
    # whose zero tangent brings the stream to rest for the hold after it).
    for t in np.arange(10.0, 10.8, 0.02):
        out = s.sample(float(t))
        np.testing.assert_allclose(out.position, t, atol=1e-5)
        assert out.chunk_id == 0 and not out.exhausted and not out.holding
    assert s.sample(10.45).chunk_index == pytest.approx(4.5)


def test_stale_actions_are_skipped_and_counted() -> None:
    s = ChunkScheduler(D)
    acc = s.add_chunk(ramp_chunk(5.0, 0.1, 10), now=5.25)  # 250 ms inference delay
    assert acc.accepted and acc.skipped == 3 and acc.latency == pytest.approx(0.25)
    np.testing.assert_allclose(s.sample(5.25).position, 5.25, atol=1e-5)  # not action 0 (5.0)


def test_fully_stale_chunk_is_rejected() -> None:
    s = ChunkScheduler(D)
    s.hold(np.zeros(D), 0.0)
    acc = s.add_chunk(ramp_chunk(0.0, 0.1, 5), now=1.0)
    assert not acc.accepted and acc.skipped == 5 and s.stats["rejected"] == 1
    assert s.sample(1.0).holding


def test_exhausted_chunk_holds_last_action_and_reports() -> None:
    s = ChunkScheduler(D)
    s.add_chunk(ramp_chunk(0.0, 0.1, 5), now=0.0)
    out = s.sample(2.0)
    assert out.exhausted
    np.testing.assert_allclose(out.position, 0.4, atol=1e-6)
    assert s.stats["exhausted_ticks"] == 1


@pytest.mark.parametrize("blend", ["crossfade", "ensemble"])
def test_disagreeing_chunks_blend_without_jump(blend: str) -> None:
    s = ChunkScheduler(D, SchedulerConfig(blend=blend, blend_time=0.2))
    s.hold(np.zeros(D), 0.0)
    steps, t, dt_tick = [], 0.0, 0.02
    prev = s.sample(t).position
    for k in range(6):  # a new chunk every 0.3 s, alternately offset by +-0.5
        s.add_chunk(ramp_chunk(t - 0.05, 0.1, 10, offset=0.5 * (-1) ** k), now=t)
        for _ in range(15):
            t += dt_tick
            cur = s.sample(t).position
            steps.append(np.abs(cur - prev).max())
            prev = cur
    # Slope 1/s gives 0.02 per tick; a 1.0 offset change spread over 0.2 s adds 0.1 per tick on
    # average, 1.5 times that at the steepest point of the (default) smoothstep weight ramp.
    assert max(steps) <= 0.02 + 1.5 * 1.0 * dt_tick / 0.2 + 1e-6


def test_none_blend_switches_at_once() -> None:
    s = ChunkScheduler(D, SchedulerConfig(blend="none"))
    s.add_chunk(ramp_chunk(0.0, 0.1, 10, slope=0.0, offset=0.0), now=0.0)
    s.add_chunk(ramp_chunk(0.1, 0.1, 10, slope=0.0, offset=1.0), now=0.1)
    np.testing.assert_allclose(s.sample(0.1).position, 1.0)


def test_first_chunk_fades_in_from_hold() -> None:
    s = ChunkScheduler(D, SchedulerConfig(blend_time=0.2))
    s.hold(np.full(D, -1.0), 0.0)
    s.add_chunk(ramp_chunk(0.0, 0.1, 10, slope=0.0, offset=1.0), now=0.0)
    np.testing.assert_allclose(s.sample(0.0).position, -1.0)
    np.testing.assert_allclose(s.sample(0.1).position, 0.0, atol=1e-9)
    out = s.sample(0.2)
    np.testing.assert_allclose(out.position, 1.0)
    assert not out.blending


def test_ensemble_weights_follow_decay() -> None:
    cfg = SchedulerConfig(blend="ensemble", blend_time=0.0, ensemble_decay=np.log(3.0))
    s = ChunkScheduler(D, cfg)
    s.add_chunk(ramp_chunk(0.0, 0.1, 30, slope=0.0, offset=0.0), now=0.0)
    s.add_chunk(ramp_chunk(0.0, 0.1, 30, slope=0.0, offset=4.0), now=0.0)
    # Weights 1 and 1/3: (0 * 1 + 4 * 1/3) / (4/3) = 1.
    np.testing.assert_allclose(s.sample(0.5).position, 1.0, atol=1e-9)


def test_bad_chunks_raise_value_error() -> None:
    s = ChunkScheduler(D)
    with pytest.raises(ValueError, match="shape"):
        s.add_chunk(ActionChunk(np.zeros((4, D + 1)), 0.1), now=0.0)
    bad = np.zeros((4, D))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        s.add_chunk(ActionChunk(bad, 0.1), now=0.0)
    with pytest.raises(ValueError, match="dt"):
        s.add_chunk(ActionChunk(np.zeros((4, D)), 0.0), now=0.0)
    with pytest.raises(RuntimeError):
        s.sample(0.0)
    with pytest.raises(ValueError):
        SchedulerConfig(blend="mix")


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(st.floats(-2.0, 2.0), min_size=2, max_size=6),
    delays=st.lists(st.floats(0.0, 0.25), min_size=6, max_size=6),
    blend=st.sampled_from(["crossfade", "ensemble"]),
)
def test_property_step_bounded_by_blend_rate(
    offsets: list[float], delays: list[float], blend: str
) -> None:
    """Constant chunks: any change of the target is spread over at least blend_time."""
    bt, tick = 0.2, 0.02
    s = ChunkScheduler(D, SchedulerConfig(blend=blend, blend_time=bt))
    s.hold(np.zeros(D), 0.0)
    t, prev, worst = 0.0, np.zeros(D), 0.0
    spread = max([*offsets, 0.0]) - min([*offsets, 0.0])
    for k, off in enumerate(offsets):
        s.add_chunk(ramp_chunk(t - delays[k], 0.1, 8, slope=0.0, offset=off), now=t)
        for _ in range(10):
            t += tick
            cur = s.sample(t).position
            assert np.all(cur >= min([*offsets, 0.0]) - 1e-6)  # float32 chunks
            assert np.all(cur <= max([*offsets, 0.0]) + 1e-6)
            worst = max(worst, float(np.abs(cur - prev).max()))
            prev = cur
    # Each overlapping fade moves at most spread * tick / bt; up to ceil(bt / 0.2) + 1 overlap.
    assert worst <= 2 * spread * tick / bt + 1e-6
