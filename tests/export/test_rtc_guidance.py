"""Real-time chunking's guided sampling: the frozen prefix comes back, on torch and ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vla_lego.inference import load_policy_from_spec
from vla_lego.inference.types import ActionGuidance, Observation, supports_guidance
from vla_lego.robot import H1_LAYOUT

# Largest deviation (robot units) of a weight-1 step from its guided action: float32 round trip
# through the normalisation, nothing else.
FROZEN_TOL = 1e-4


def _obs(seed: int, guidance: ActionGuidance | None = None) -> Observation:
    rng = np.random.default_rng(seed)
    lo, hi = H1_LAYOUT.lower, H1_LAYOUT.upper
    return Observation(
        {"head": rng.integers(0, 256, (64, 64, 3), np.uint8)},
        (lo + (hi - lo) * rng.random(H1_LAYOUT.dim)).astype(np.float32),
        "stack the red brick on the blue one",
        1.0,
        guidance,
    )


@pytest.fixture(scope="module")
def policies(tiny_checkpoint: Path, tiny_export) -> dict:  # type: ignore[no-untyped-def]
    export_dir, _ = tiny_export
    return {
        "torch": load_policy_from_spec(f"torch:{tiny_checkpoint}", seed=3, decode_text=False),
        "onnxruntime": load_policy_from_spec(
            f"onnxruntime:{export_dir}", seed=3, decode_text=False
        ),
    }


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_frozen_prefix_is_reproduced_and_the_overlap_pulled(policies, backend: str) -> None:
    policy = policies[backend]
    assert supports_guidance(policy)
    policy.reset()
    previous = policy.predict(_obs(1)).actions  # the chunk being executed
    free = policy.predict(_obs(2)).actions  # the next chunk, its own noise, no guidance
    frozen, soft = 4, 4
    weights = np.concatenate([np.ones(frozen), np.linspace(0.8, 0.2, soft)])
    guidance = ActionGuidance(previous[: frozen + soft], weights)
    policy.reset()
    policy.predict(_obs(1))
    guided = policy.predict(_obs(2, guidance)).actions  # the same noise as `free`
    assert np.max(np.abs(guided[:frozen] - previous[:frozen])) < FROZEN_TOL
    assert np.max(np.abs(free[:frozen] - previous[:frozen])) > 10 * FROZEN_TOL  # not by chance
    # The soft steps move towards the executed chunk, the rest stays the model's.
    sl = slice(frozen, frozen + soft)
    assert np.abs(guided[sl] - previous[sl]).mean() < np.abs(free[sl] - previous[sl]).mean()
    assert np.all(np.isfinite(guided)) and guided.shape == free.shape


def test_backends_agree_on_guided_chunks(policies) -> None:  # type: ignore[no-untyped-def]
    out = {}
    previous = None
    for name, policy in policies.items():
        policy.reset()
        previous = policy.predict(_obs(1)).actions if previous is None else previous
        g = ActionGuidance(previous[:6], np.array([1, 1, 1, 0.7, 0.4, 0.1]))
        policy.reset()
        policy.predict(_obs(1))
        out[name] = policy.predict(_obs(2, g)).actions
    assert np.max(np.abs(out["torch"] - out["onnxruntime"])) < 1e-4  # the fp32 parity bound


def test_bad_guidance_is_refused(policies) -> None:  # type: ignore[no-untyped-def]
    policy = policies["torch"]
    horizon = policy.config.action_horizon
    too_long = ActionGuidance(np.zeros((horizon + 1, H1_LAYOUT.dim)), np.ones(horizon + 1))
    with pytest.raises(ValueError, match=f"guidance has {horizon + 1} steps"):
        policy.predict(_obs(3, too_long))
    with pytest.raises(ValueError, match="weights in"):
        ActionGuidance(np.zeros((2, H1_LAYOUT.dim)), np.array([1.0, 1.5]))
    with pytest.raises(ValueError, match="finite"):
        ActionGuidance(np.full((1, H1_LAYOUT.dim), np.nan), np.ones(1))


class _Clock:
    def __init__(self) -> None:
        self.t = 50.0

    def __call__(self) -> float:
        return self.t


class _Inferring:
    """The policy, with control ticks running on the fake clock while it computes a chunk.

    Records, per chunk, the plan's value at the chunk's arrival (what the robot was executing).
    """

    supports_guidance = True

    def __init__(self, policy, clock: _Clock, ticks: int, step) -> None:  # type: ignore[no-untyped-def]
        self.policy, self.clock, self.ticks, self.step = policy, clock, ticks, step
        self.plan_at_arrival: list[np.ndarray | None] = []
        self.scheduler = None

    def reset(self) -> None:
        self.policy.reset()

    def predict(self, observation: Observation):  # type: ignore[no-untyped-def]
        chunk = self.policy.predict(observation)
        for _ in range(self.ticks):
            self.step()
        s = self.scheduler
        plan = s.current_plan() if s is not None else None
        self.plan_at_arrival.append(None if plan is None else s.preview([self.clock.t])[0])
        return chunk


def _drive(policy, blend: str) -> tuple[list, list, list]:  # type: ignore[no-untyped-def]
    """3 s of 50 Hz control, a chunk every 0.24 s arriving 0.1 s after its observation."""
    from vla_lego.runtime import (
        ChunkScheduler,
        ControllerConfig,
        ObservationSync,
        PolicyController,
        SafetyFilter,
        SafetyLimits,
        SchedulerConfig,
        SyncConfig,
    )

    dt, lay = 0.02, H1_LAYOUT
    clock = _Clock()
    q = ((lay.lower + lay.upper) / 2).astype(np.float32)
    img = np.zeros((64, 64, 3), np.uint8)
    events, requests = [], []
    ctl: PolicyController

    def step() -> None:
        clock.t += dt
        ctl.sync.add_image("head", img, clock.t, clock.t)
        ctl.sync.add_joint_state(lay.names, q, clock.t, clock.t)
        ctl.tick(clock.t)

    wrapped = _Inferring(policy, clock, ticks=5, step=step)
    sched = ChunkScheduler(lay.dim, SchedulerConfig(blend=blend, blend_time=0.1))
    wrapped.scheduler = sched
    ctl = PolicyController(
        wrapped,
        ObservationSync(lay, SyncConfig(("head",), 0.3, 0.3, 0.05)),
        sched,
        SafetyFilter(SafetyLimits.from_layout(lay, 9.0, 2.0, 1e4, 1e4), dt),
        clock,
        ControllerConfig(max_inference_latency=1.0, rtc_delay=-1.0),
        on_chunk=lambda ev: (events.append(ev), requests.append(ctl.last_rtc)),
    )
    step()
    ctl.set_instruction("stack the red brick on the blue one")
    for k in range(150):
        if k % 12 == 0:
            assert ctl.infer_once(timeout=0.0)
        step()
    return events, requests, wrapped.plan_at_arrival


def _join_gaps(events, plans) -> np.ndarray:  # type: ignore[no-untyped-def]
    """|new chunk − executed plan| at each arrival (linear interpolation of the new chunk)."""
    gaps = []
    for ev, plan in zip(events, plans, strict=True):
        if plan is None:
            continue
        a, c = ev.chunk.actions, ev.accept.latency / ev.chunk.dt
        i = int(c)
        new = a[i] + (c - i) * (a[i + 1] - a[i])
        gaps.append(np.abs(new - plan).max())
    return np.array(gaps)


def test_controller_rtc_continues_the_executed_plan(tiny_checkpoint: Path) -> None:
    policy = load_policy_from_spec(f"torch:{tiny_checkpoint}", seed=5, decode_text=False)
    events, requests, plans = _drive(policy, "rtc")
    assert len(events) >= 12
    assert requests[0] is None  # the first chunk has nothing to continue
    for ev, req in zip(events[2:], requests[2:], strict=True):
        # Measured latency 0.1 s = 2 actions of 0.05 s executed before the chunk arrives.
        # Observations are 17 ticks (0.34 s, 6.8 actions) apart: 43 of 50 steps overlap.
        assert req.frozen == 2 and req.overlap == policy.config.action_horizon - 7
        err = np.abs(ev.chunk.actions[: req.frozen] - req.guidance.actions[: req.frozen]).max()
        assert err < FROZEN_TOL
    policy.reset()
    plain, _, plain_plans = _drive(policy, "none")
    rtc_gap, none_gap = _join_gaps(events, plans), _join_gaps(plain, plain_plans)
    print(f"join gap rtc {rtc_gap.mean():.4f} rad, none {none_gap.mean():.4f} rad")
    assert rtc_gap.mean() < 0.3 * none_gap.mean()
