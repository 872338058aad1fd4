"""The 50 Hz target stream between 10 Hz chunks: continuous velocity, feasible by construction.

Random chunk sequences with joins (random walks that are often far faster than the limits, hand
values beyond 0..1, random inference delays and re-planning periods): the scheduler's stream with
the node's limits moves within the position, velocity and acceleration limits at every tick, and
the safety filter after it changes nothing. Without the limits, the ``cubic`` stream is continuous
in velocity: sampled ten times as often its largest velocity change per tick shrinks about ten
times, while ``linear`` keeps its steps.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_lego.inference.types import ActionChunk
from vla_lego.robot import H1_LAYOUT
from vla_lego.runtime.build import node_values, safety_limits
from vla_lego.runtime.safety import SafetyFilter
from vla_lego.runtime.scheduler import ChunkScheduler, SchedulerConfig

D = H1_LAYOUT.dim
ARM = np.array([j.kind == "arm" for j in H1_LAYOUT.joints])
CHUNK_DT = 0.1


def random_chunks(seed: int, n: int, step: float) -> list[tuple[float, float, np.ndarray]]:
    """``(arrival, observation_time, actions)``: a new chunk every 0.1-0.6 s, 0-0.25 s late.

    Arm actions are random walks with steps up to ``step`` rad per action around a pose that
    drifts between chunks; hand actions switch between about 0 and 1 with noise past both ends.
    """
    rng = np.random.default_rng(seed)
    out, t, base = [], 0.1, np.where(ARM, 0.0, 0.5)
    for _ in range(n):
        h = int(rng.integers(5, 21))
        delay = float(rng.uniform(0.0, 0.25))
        obs = t - delay
        base = base + np.where(ARM, rng.normal(0.0, 0.3, D), 0.0)
        walk = np.cumsum(rng.uniform(-step, step, (h, D)), axis=0)
        hand = (rng.random((h, D)) < 0.5).astype(float) + rng.normal(0.0, 0.04, (h, D))
        actions = np.where(ARM, base + walk, hand)
        out.append((t, obs, actions))
        t += CHUNK_DT * int(rng.integers(1, 7))
    return out


def run_stream(
    chunks: list[tuple[float, float, np.ndarray]],
    config: SchedulerConfig,
    tick: float,
    limits: object | None = None,
    until: float | None = None,
) -> np.ndarray:
    """Targets at every tick from 0 to ``until`` (chunks installed at their arrival tick)."""
    s = ChunkScheduler(D, config, limits, tick if limits is not None else None)  # type: ignore
    s.hold(np.where(ARM, 0.0, 0.5), 0.0)
    until = until if until is not None else chunks[-1][0] + 1.0
    pending, out = list(chunks), []
    for k in range(round(until / tick) + 1):
        now = k * tick
        while pending and pending[0][0] <= now + 1e-9:
            _, obs, actions = pending.pop(0)
            s.add_chunk(ActionChunk(actions, CHUNK_DT, observation_time=obs), now)
        out.append(s.sample(now).position)
    return np.asarray(out)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    blend=st.sampled_from(["crossfade", "ensemble", "none"]),
    interpolation=st.sampled_from(["cubic", "linear"]),
    blend_time=st.sampled_from([0.0, 0.1, 0.2, 0.5]),
    step=st.sampled_from([0.01, 0.05, 0.3]),
)
def test_shaped_stream_is_feasible_and_the_filter_changes_nothing(
    seed: int, blend: str, interpolation: str, blend_time: float, step: float
) -> None:
    lim = safety_limits(node_values())
    tick = 0.02
    cfg = SchedulerConfig(blend=blend, blend_time=blend_time, interpolation=interpolation)
    q = run_stream(random_chunks(seed, 8, step), cfg, tick, lim)
    v = np.diff(q, axis=0) / tick
    assert np.all(q >= lim.lower - 1e-12) and np.all(q <= lim.upper + 1e-12)
    assert np.all(np.abs(v) <= lim.max_velocity + 1e-9)
    assert np.all(np.abs(np.diff(v, axis=0)) <= lim.max_acceleration * tick + 1e-6)
    f = SafetyFilter(lim, tick)
    f.reset(q[0])
    for target in q:
        np.testing.assert_allclose(f(target).position, target, rtol=0.0, atol=1e-9)
    assert f.clamp_count == 0
    assert f.counts == {"position": 0, "velocity": 0, "acceleration": 0, "nonfinite": 0}


def _largest_velocity_step(q: np.ndarray, tick: float) -> float:
    return float(np.abs(np.diff(np.diff(q, axis=0) / tick, axis=0)).max())


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    blend=st.sampled_from(["crossfade", "ensemble"]),
    blend_time=st.sampled_from([0.1, 0.2, 0.5]),
)
def test_cubic_stream_has_continuous_velocity(seed: int, blend: str, blend_time: float) -> None:
    """Unshaped: the velocity change per tick scales with the tick (no steps at actions or
    joins), so at 500 Hz it is at most a fifth of the 50 Hz one (a tenth for a smooth stream)."""
    chunks = random_chunks(seed, 6, 0.05)
    until = chunks[-1][0] + 1.0
    cfg = SchedulerConfig(blend=blend, blend_time=blend_time, interpolation="cubic")
    coarse = _largest_velocity_step(run_stream(chunks, cfg, 0.02, until=until), 0.02)
    fine = _largest_velocity_step(run_stream(chunks, cfg, 0.002, until=until), 0.002)
    assert fine <= 0.2 * coarse + 1e-9, (fine, coarse)


def test_linear_stream_steps_its_velocity() -> None:
    """The control for the test above: linear interpolation keeps its velocity steps."""
    chunks = random_chunks(3, 6, 0.05)
    until = chunks[-1][0] + 1.0
    cfg = SchedulerConfig(interpolation="linear")
    coarse = _largest_velocity_step(run_stream(chunks, cfg, 0.02, until=until), 0.02)
    fine = _largest_velocity_step(run_stream(chunks, cfg, 0.002, until=until), 0.002)
    assert fine > 0.5 * coarse


def test_cubic_never_overshoots_its_actions() -> None:
    """Monotone tangents: between two actions the stream stays within them (hand 0..1)."""
    s = ChunkScheduler(1, SchedulerConfig(interpolation="cubic"))
    actions = np.array([[0.0], [1.0], [1.0], [0.0], [0.2], [0.9], [1.0]])
    s.add_chunk(ActionChunk(actions, CHUNK_DT, observation_time=0.0), 0.0)
    for t in np.arange(0.0, 0.6, 0.002):
        i = int(t / CHUNK_DT + 1e-9)
        lo, hi = sorted((actions[i, 0], actions[min(i + 1, 6), 0]))
        x = s.sample(float(t)).position[0]
        assert lo - 1e-12 <= x <= hi + 1e-12


def test_shaping_counts_what_it_changes() -> None:
    """An infeasible step is shaped (counted), an out-of-range action clipped (counted)."""
    lim = safety_limits(node_values())
    s = ChunkScheduler(D, SchedulerConfig(), lim, 0.02)
    s.hold(np.where(ARM, 0.0, 0.5), 0.0)
    inside_arm = lim.lower + 0.95 * (lim.upper - lim.lower)  # a far but feasible arm pose
    actions = np.tile(np.where(ARM, inside_arm, 1.1), (10, 1))
    s.add_chunk(ActionChunk(actions, CHUNK_DT, observation_time=0.0), 0.0)
    for k in range(50):
        s.sample(0.02 * k)
    assert s.stats["clipped_actions"] == 10 * int((~ARM).sum())
    assert s.stats["shaped_values"] > 0
    with pytest.raises(ValueError, match="control period"):
        ChunkScheduler(D, SchedulerConfig(), lim)


@pytest.mark.parametrize("interpolation", ["cubic", "linear"])
def test_ensemble_after_its_last_chunk_ran_out_fades_in_without_a_jump(interpolation: str) -> None:
    """Every ensemble chunk fades out before its end; a chunk arriving after that used to take
    the whole weight at once (a jump from the last target to the new chunk's value)."""
    s = ChunkScheduler(1, SchedulerConfig(blend="ensemble", interpolation=interpolation))
    s.hold(np.zeros(1), 0.0)
    s.add_chunk(ActionChunk(np.zeros((5, 1)), CHUNK_DT, observation_time=0.0), 0.0)
    last = [s.sample(0.02 * k).position[0] for k in range(40)][-1]  # ran out at 0.4 s
    s.add_chunk(ActionChunk(np.ones((10, 1)), CHUNK_DT, observation_time=0.8), 0.8)
    stream = [last] + [s.sample(0.8 + 0.02 * k).position[0] for k in range(20)]
    assert max(np.abs(np.diff(stream))) < 0.25  # blend_time 0.2 s: ~10 ticks for a unit move
    assert stream[-1] == pytest.approx(1.0)
