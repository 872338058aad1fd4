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
