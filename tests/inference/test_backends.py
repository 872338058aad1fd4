"""The torch backend through the shared host loop: same maths as the model, clear input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vla_lego.inference import Observation, Policy, load_policy
from vla_lego.inference.engine import observation_noise, observation_to_batch
from vla_lego.inference.registry import guess_backend
from vla_lego.inference.torch_backend import resolve_checkpoint
from vla_lego.models.eo1 import EO1Config, EO1Policy
from vla_lego.robot import H1_LAYOUT


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    EO1Policy(EO1Config.from_preset("tiny")).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def quiet_policy(checkpoint: Path) -> Policy:
    return load_policy(checkpoint, backend="torch", decode_text=False)


def _obs(views: int = 2, seed: int = 0) -> Observation:
    rng = np.random.default_rng(seed)
    images = {f"cam{i}": rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for i in range(views)}
    state = np.clip(rng.normal(0, 0.3, H1_LAYOUT.dim), H1_LAYOUT.lower, H1_LAYOUT.upper)
    return Observation(images=images, state=state, instruction="stack the bricks", timestamp=2.0)


def test_torch_backend_runs_the_models_own_sampler(checkpoint: Path) -> None:
    policy = load_policy(checkpoint, backend="torch", seed=4)
    assert isinstance(policy, Policy)
    obs = _obs()
    chunk = policy.predict(obs)
    assert chunk.actions.shape == (50, H1_LAYOUT.dim) and chunk.actions.dtype == np.float32
    assert np.all(np.isfinite(chunk.actions)) and isinstance(chunk.subtask_text, str)
    assert chunk.dt == pytest.approx(0.1) and chunk.observation_time == 2.0
    assert {"preprocess", "prefix", "decode", "denoise", "postprocess", "total"} <= set(
        chunk.timings
    )

    model = EO1Policy.from_pretrained(checkpoint)
    noise = observation_noise(4, obs.timestamp, 0, (1, 50, 32))  # the first chunk of that stamp
    batch = observation_to_batch(obs, model.config.image_size)
    ref, texts = model.sample_actions(batch, noise=torch.from_numpy(noise), decode_text=True)
    np.testing.assert_allclose(chunk.actions, ref[0].numpy(), atol=1e-5)
    assert chunk.subtask_text == texts[0]


def test_text_decoding_off_and_seeds(checkpoint: Path) -> None:
    a = load_policy(checkpoint, backend="torch", seed=1, decode_text=False)
    b = load_policy(checkpoint, backend="torch", seed=1, decode_text=False)
    c = load_policy(checkpoint, backend="torch", seed=2, decode_text=False)
    obs = _obs(views=1)
    ca, cb, cc = a.predict(obs), b.predict(obs), c.predict(obs)
    assert ca.subtask_text == "" and "decode" not in ca.timings
    np.testing.assert_array_equal(ca.actions, cb.actions)
    assert not np.allclose(ca.actions, cc.actions)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda o: o.images.clear(), "no camera images"),
        (lambda o: o.images.update(cam0=np.zeros((112, 112, 3), np.float32)), "uint8"),
        (lambda o: o.images.update(cam0=np.zeros((112, 112), np.uint8)), r"\(H, W, 3\)"),
        (lambda o: o.images.update(cam2=np.zeros((112, 112, 3), np.uint8)), "camera views"),
        (lambda o: o.images.update(cam1=np.zeros((8, 64, 3), np.uint8)), ">= 28 px"),
        (lambda o: o.state.__setitem__(3, np.nan), "finite"),
    ],
)
def test_bad_observations_are_refused(quiet_policy: Policy, mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    obs = _obs()
    mutate(obs)
    with pytest.raises(ValueError, match=match):
        quiet_policy.predict(obs)


def test_checkpoint_paths_resolve_to_the_torch_backend(checkpoint: Path, tmp_path: Path) -> None:
    assert guess_backend(checkpoint) == "torch"  # its manifest.json is a checkpoint's
    assert resolve_checkpoint(checkpoint) == checkpoint
    step = tmp_path / "step_00000100"
    (step / "policy").mkdir(parents=True)
    (step / "policy" / "manifest.json").write_text("{}")
    assert resolve_checkpoint(step) == step / "policy"  # a training checkpoint
    (tmp_path / "manifest.json").write_text('{"format": "vla_lego.export"}')
    assert guess_backend(tmp_path) == "onnxruntime"


def test_torch_backend_refuses_a_non_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"manifest\.json missing"):
        load_policy(tmp_path, backend="torch")


def test_cuda_graphs_need_a_cuda_policy() -> None:
    from vla_lego.inference.torch_backend import TorchStepGraphs

    with pytest.raises(ValueError, match="cuda_graphs needs the policy on a CUDA device"):
        TorchStepGraphs(EO1Policy(EO1Config.from_preset("tiny")), cuda_graphs=True)


def test_torch_backend_options(checkpoint: Path) -> None:
    with pytest.raises(ValueError, match=r"'torch' does not take option\(s\) \['spin'\]"):
        load_policy(checkpoint, backend="torch", options={"spin": "never"})
    with pytest.raises(ValueError, match="cuda_graphs must be true or false"):
        load_policy(checkpoint, backend="torch", options={"cuda_graphs": "yes"})
    with pytest.raises(ValueError, match="cuda_graphs needs the policy on a CUDA device"):
        load_policy(checkpoint, backend="torch", options={"cuda_graphs": True})
    plain = load_policy(checkpoint, backend="torch", options={"cuda_graphs": False})
    assert plain.predict(_obs()).actions.shape == (50, H1_LAYOUT.dim)
