"""Real-time chunking's request: the soft mask, the frozen prefix, the overlap, bad delays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vla_lego.inference.types import ActionChunk
from vla_lego.robot import H1_LAYOUT
from vla_lego.runtime import (
    ChunkScheduler,
    ObservationSync,
    PolicyController,
    SafetyFilter,
    SafetyLimits,
    SchedulerConfig,
    SyncConfig,
)
from vla_lego.runtime.rtc import rtc_guidance, soft_weights
from vla_lego.runtime.scripted import SinePolicy

D = H1_LAYOUT.dim


def test_soft_weights_freeze_then_decay_exponentially() -> None:
    w = soft_weights(10, 3)
    assert w.shape == (10,)
    np.testing.assert_array_equal(w[:3], 1.0)
    assert np.all(np.diff(w[3:]) < 0) and 0 < w[-1] < w[3] < 1
    # The paper's mask: c (e^c - 1) / (e - 1), c = (H - i) / (H - d + 1).
    c = (10 - 5) / (10 - 3 + 1)
    assert w[5] == pytest.approx(c * math.expm1(c) / math.expm1(1.0))
    np.testing.assert_array_equal(soft_weights(4, 4), 1.0)
    assert soft_weights(5, 0)[0] < 1.0
    with pytest.raises(ValueError, match="frozen steps"):
        soft_weights(4, 5)


def _scheduler_with_chunk(t0: float = 10.0, horizon: int = 10, dt: float = 0.1) -> tuple:
    s = ChunkScheduler(D, SchedulerConfig(blend="rtc", interpolation="linear"))
    ramp = np.linspace(0.0, 0.9, horizon)[:, None] * np.ones(D)[None, :]
    s.add_chunk(ActionChunk(ramp, dt, observation_time=t0), now=t0 + 0.05)
    return s, ramp


def test_guidance_covers_the_overlap_and_freezes_the_delay() -> None:
    s, ramp = _scheduler_with_chunk()
    req = rtc_guidance(s, observation_time=10.3, delay=0.25)
    # Plan times 10.0..10.9; the next chunk's steps at 10.3 + 0.1 k overlap for k = 0..6.
    assert req.overlap == 7 and req.frozen == 3 and not req.warning
    np.testing.assert_allclose(req.guidance.actions, ramp[3:10], atol=1e-12)
    np.testing.assert_array_equal(req.guidance.weights, soft_weights(7, 3))
    # Between plan steps the guidance is the plan's interpolated stream.
    half = rtc_guidance(s, observation_time=10.35, delay=0.0)
    np.testing.assert_allclose(half.guidance.actions[0], (ramp[3] + ramp[4]) / 2, atol=1e-12)
    assert half.frozen == 0 and half.overlap == 6


def test_frozen_prefix_never_exceeds_the_overlap_or_the_horizon() -> None:
    s, _ = _scheduler_with_chunk()
    near_end = rtc_guidance(s, observation_time=10.7, delay=0.6)
    assert near_end.overlap == 3 and near_end.frozen == 3
    whole = rtc_guidance(s, observation_time=10.0, delay=1.5)
    assert whole.frozen == 9 and "covers the whole chunk" in whole.warning


def test_nothing_to_continue_without_a_chunk_in_control() -> None:
    s = ChunkScheduler(D, SchedulerConfig(blend="rtc"))
    s.hold(np.zeros(D), 1.0)
    assert rtc_guidance(s, 1.0, 0.1).guidance is None
    s2, _ = _scheduler_with_chunk()
    assert rtc_guidance(s2, 11.5, 0.1).guidance is None  # the plan already ran out


@pytest.mark.parametrize("delay", [-0.1, math.nan, math.inf])
def test_bad_delay_is_refused(delay: float) -> None:
    s, _ = _scheduler_with_chunk()
    with pytest.raises(ValueError, match="rtc delay"):
        rtc_guidance(s, 10.3, delay)


def test_controller_refuses_rtc_for_a_policy_that_cannot_follow_guidance() -> None:
    lim = SafetyLimits.from_layout(H1_LAYOUT, 2.0, 1.0, 20.0, 10.0)
    with pytest.raises(ValueError, match="supports_guidance"):
        PolicyController(
            SinePolicy(),
            ObservationSync(H1_LAYOUT, SyncConfig(("head",), 0.2, 0.1, 0.05)),
            ChunkScheduler(D, SchedulerConfig(blend="rtc")),
            SafetyFilter(lim, 0.02),
            lambda: 0.0,
        )
