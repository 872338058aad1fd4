"""Training from a LeRobot v3 dataset on disk (data=sim): episode-level validation split and the
dataset's normalisation statistics travelling into the policy checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vla_lego.inference.torch_backend import policy_dt
from vla_lego.robot import H1_LAYOUT
from vla_lego.train import compose_config, train_from_config
from vla_lego.train.builders import build_datasets, build_policy


def _write_dataset(root: Path, episodes: int = 3, frames: int = 8) -> Path:
    from vla_lego.data import LeRobotV3Writer

    rng = np.random.default_rng(0)
    writer = LeRobotV3Writer(root, fps=20, camera_names=["head"], image_shape=(56, 56))
    lo, hi = H1_LAYOUT.lower, H1_LAYOUT.upper
    for ep in range(episodes):
        for _ in range(frames):
            q = (lo + (hi - lo) * rng.random(H1_LAYOUT.dim)).astype(np.float32)
            writer.add_frame(
                images={"head": rng.integers(0, 256, (56, 56, 3), dtype=np.uint8)},
                state=q,
                action=q,
                task=f"stack brick {ep}",
                subtask="grasp the brick",
            )
        writer.save_episode()
    return writer.finalize()


@pytest.mark.slow
def test_train_on_lerobot_dataset(tmp_path: Path) -> None:
    from vla_lego.models.eo1 import EO1Policy

    dataset = _write_dataset(tmp_path / "ds")
    cfg = compose_config(
        [
            "trainer=debug",
            "model.image_size=56",
            "logging=disabled",
            "data=sim",
            f"data.path={dataset}",
            "data.val_fraction=0.3",
            "trainer.max_steps=2",
            "trainer.training.batch_size_per_device=2",
            "trainer.num_threads=1",
            f"paths.root={tmp_path}",
        ]
    )
    train, val = build_datasets(cfg)
    assert (len(train), len(val)) == (16, 8)  # last episode held out
    assert set(np.unique([train[i]["episode_index"] for i in range(len(train))])) == {0, 1}
    result = train_from_config(cfg)
    assert result.step == 2 and result.policy_dir is not None
    assert "val/loss" in result.metrics and np.isfinite(result.metrics["val/loss"])
    policy = EO1Policy.from_pretrained(result.policy_dir)
    stored = policy.processor.normalizer.to_dict()["stats"]["state"]["mean"]
    np.testing.assert_allclose(stored, train.stats["state"]["mean"], rtol=1e-6)
    # The dataset's rate travels too: deployment times the chunk's actions 1/20 s apart.
    assert policy.config.fps == 20.0
    assert policy_dt(policy) == pytest.approx(0.05)


def test_model_fps_that_contradicts_the_dataset_is_refused() -> None:
    cfg = compose_config(["model.image_size=56", "+model.fps=30"])
    with pytest.raises(ValueError, match=r"model.fps=30 but the training dataset .* 20.0 Hz"):
        build_policy(cfg.model, stats=None, fps=20.0)
    assert build_policy(cfg.model, stats=None, fps=30.0).config.fps == 30.0
    with pytest.raises(ValueError, match="fps must be a finite rate > 0"):
        build_policy(compose_config(["+model.fps=0"]).model, stats=None)
