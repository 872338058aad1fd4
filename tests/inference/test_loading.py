"""Policy loading: backend registry, spec strings, factories, clear errors; the Euler schedule."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from vla_lego.inference import (
    BackendUnavailableError,
    Observation,
    Policy,
    UnknownBackendError,
    load_policy,
    load_policy_from_spec,
)
from vla_lego.inference.denoise import euler_sample, euler_timesteps
from vla_lego.inference.timing import StageTimer
from vla_lego.robot import H1_LAYOUT


def _obs(state: np.ndarray) -> Observation:
    return Observation(images={}, state=state, instruction="hold", timestamp=3.5)


def test_unknown_backend_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(UnknownBackendError, match=r"'jax'.*onnxruntime.*tensorrt.*torch"):
        load_policy(tmp_path, backend="jax")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt installed")
def test_tensorrt_missing_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match=r"tensorrt.*pip install tensorrt"):
        load_policy(tmp_path, backend="trt")


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_policy(tmp_path / "nowhere", backend="onnxruntime")
    with pytest.raises(ValueError, match="device"):
        load_policy(tmp_path, backend="torch", device="tpu")


def test_auto_device_picks_what_this_machine_has() -> None:
    import onnxruntime
    import torch

    from vla_lego.inference.loading import _auto_device

    ort_gpu = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    assert _auto_device("onnxruntime") == ("cuda" if ort_gpu else "cpu")
    assert _auto_device("torch") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert _auto_device("tensorrt") == "cuda"


def test_python_factory_spec_gives_a_policy_with_known_output() -> None:
    policy = load_policy_from_spec("python:vla_lego.runtime.scripted:hold")
    assert isinstance(policy, Policy)
    state = np.linspace(-0.2, 0.9, H1_LAYOUT.dim)
    state[0] = 99.0  # beyond the limit: the hold policy clips
    chunk = policy.predict(_obs(state))
    assert chunk.actions.shape == (50, H1_LAYOUT.dim) and chunk.actions.dtype == np.float32
    expected = np.clip(state, H1_LAYOUT.lower, H1_LAYOUT.upper)
    np.testing.assert_allclose(chunk.actions, np.tile(expected, (50, 1)), atol=1e-6)
    assert chunk.observation_time == 3.5 and "total" in chunk.timings

    small = load_policy_from_spec(
        {"factory": "vla_lego.runtime.scripted:hold", "kwargs": {"horizon": 4, "dt": 0.02}}
    )
    out = small.predict(_obs(np.zeros(H1_LAYOUT.dim)))
    assert out.horizon == 4 and out.dt == 0.02


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("python:vla_lego.runtime.scripted", ValueError, "module:attr"),
        ("python:vla_lego.nope:make", ValueError, "cannot import"),
        ("python:vla_lego.runtime.scripted:missing", ValueError, "no attribute"),
        ("python:vla_lego.inference.timing:StageTimer", TypeError, "not a Policy"),
        ("", ValueError, "empty policy spec"),
        ({"path": "/x", "factory": "a:b"}, ValueError, "both"),
        ({"backnd": "torch"}, ValueError, "unknown policy spec keys"),
    ],
)
def test_bad_specs_are_refused(spec: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        load_policy_from_spec(spec)  # type: ignore[arg-type]


def test_backend_prefix_spec_routes_to_that_backend(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="export directory for backend 'onnxruntime'"):
        load_policy_from_spec(f"ort:{tmp_path / 'missing'}")


def test_string_spec_options_and_factory_kwargs(tmp_path: Path) -> None:
    """The forms the policy node and replay-eval pass: one string plus kwargs/options."""
    hold = "python:vla_lego.runtime.scripted:hold"
    chunk = load_policy_from_spec(hold, kwargs={"horizon": 3}, device="cpu", seed=None).predict(
        _obs(np.zeros(H1_LAYOUT.dim))
    )
    assert chunk.horizon == 3  # kwargs reach the factory; model options do not
    with pytest.raises(ValueError, match="only apply to 'python:' policies"):
        load_policy_from_spec(f"torch:{tmp_path}", kwargs={"horizon": 3})
    with pytest.raises(ValueError, match=r"unknown policy options \['gpu'\]"):
        load_policy_from_spec(hold, gpu=True)
    with pytest.raises(ValueError, match="pass them inside it"):
        load_policy_from_spec({"factory": hold[len("python:") :]}, seed=1)
    with pytest.raises(ValueError, match="device must be 'cpu', 'auto' or 'cuda"):
        load_policy_from_spec(f"torch:{tmp_path}", device="tpu")


def test_euler_schedule_recovers_the_straight_path_target() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(size=(2, 5, 3))
    noise = rng.normal(size=target.shape)
    seen: list[float] = []

    def exact_velocity(x: np.ndarray, t: float) -> np.ndarray:
        seen.append(t)
        return (x - target) / t  # velocity of x_t = t * noise + (1 - t) * target

    out = euler_sample(exact_velocity, noise, num_steps=7)
    np.testing.assert_allclose(out, target, atol=1e-6)
    np.testing.assert_allclose(seen, euler_timesteps(7), atol=0)
    assert seen[0] == 1.0 and seen[-1] == pytest.approx(1 / 7)
    with pytest.raises(ValueError, match="num_steps"):
        euler_timesteps(0)


def test_stage_timer_accumulates() -> None:
    calls: list[int] = []
    timer = StageTimer(sync=lambda: calls.append(1))
    for _ in range(3):
        with timer.stage("step"):
            pass
    out = timer.finish()
    assert timer.counts["step"] == 3 and out["total"] >= out["step"] >= 0
    assert len(calls) == 7
