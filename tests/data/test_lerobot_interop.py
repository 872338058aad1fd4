"""This project and the real LeRobot 0.4.4 on each other's datasets: a v3.0 video dataset written
by LeRobot with Unitree joint names and camera keys is read frame by frame and trained on; the
video datasets this project writes are read by LeRobot's own reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.data.foreign import write_lerobot_unitree
from tests.data.lerobot_ref import ref
from vla_lego.data import LegoDataset, LeRobotV3Writer
from vla_lego.robot import H1_LAYOUT

pytestmark = pytest.mark.skipif(not ref.available(), reason=ref.UNAVAILABLE)

CAMS = {"observation.images.cam_high": (48, 64), "observation.images.cam_right_wrist": (32, 48)}
LENGTHS = [12, 9, 10]
TASKS = ["stack the red brick on the blue one", "put the yellow brick on the pad", "stack again"]


@pytest.fixture(scope="module")
def lerobot_ds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Written by LeRobot itself: v3.0, AV1 video, joints and cameras named as Unitree's
    converter names them, in an order unlike H1_LAYOUT's."""
    root = tmp_path_factory.mktemp("lerobot") / "unitree_h1_lego"
    eps = write_lerobot_unitree(root, LENGTHS, CAMS, TASKS)
    return root, eps


def test_lerobot_written_video_dataset_reads_frame_by_frame(lerobot_ds) -> None:
    root, eps = lerobot_ds
    ds = LegoDataset(
        root,
        horizon=4,
        camera_map={"head": "cam_high", "right_wrist": "observation.images.cam_right_wrist"},
        image_size=(48, 64),
    )
    assert ds.source.version == "v3.0" and ds.fps == 10.0
    assert [ds.source.cameras[k] for k in CAMS] == ["video", "video"]
    np.testing.assert_array_equal(ds.state, np.concatenate([e["layout_state"] for e in eps]))
    np.testing.assert_array_equal(ds.actions, np.concatenate([e["layout_action"] for e in eps]))
    k = 0
    for e, ep in enumerate(eps):
        for i in range(LENGTHS[e]):
            s = ds[k]
            assert (s["episode_index"], s["frame_index"], s["instruction"]) == (e, i, TASKS[e])
            got = s["images"][0].astype(int)
            err = np.abs(got - ep["observation.images.cam_high"][i]).mean()
            # Within codec error of its own frame, and closer to it than to any neighbour.
            others = [
                np.abs(got - ep["observation.images.cam_high"][j]).mean()
                for j in (i - 1, i + 1)
                if 0 <= j < LENGTHS[e]
            ]
            assert err < 4.0 and all(err < o for o in others), (e, i, err, others)
            k += 1
    left = H1_LAYOUT.index("left_elbow_joint")
    assert ds.joint_maps["action"].names[ds.joint_maps["action"].index[left]] == "kLeftElbow"


def test_lerobot_reads_the_video_datasets_this_project_writes(tmp_path: Path) -> None:
    from tests.data.foreign import smooth_image

    rng = np.random.default_rng(5)
    w = LeRobotV3Writer(tmp_path / "ours", 10, ["head", "right_wrist"], (40, 56), video=True)
    frames, states = [], []
    for ep, n in enumerate((6, 8)):
        for i in range(n):
            q = (H1_LAYOUT.lower + (H1_LAYOUT.upper - H1_LAYOUT.lower) * rng.random(20)).astype(
                np.float32
            )
            ims = {
                c: smooth_image(40, 56, 10 * ep + i, k)
                for k, c in enumerate(("head", "right_wrist"))
            }
            frames.append(ims)
            states.append(q)
            w.add_frame(ims, q, q, task=f"task {ep}", subtask="grasp")
        w.save_episode()
    root = w.finalize()
    got = ref.read_dataset(root)
    np.testing.assert_array_equal(got["state"], np.stack(states))
    np.testing.assert_array_equal(got["episode_index"], [0] * 6 + [1] * 8)
    np.testing.assert_array_equal(got["frame_index"], list(range(6)) + list(range(8)))
    assert got["tasks"].tolist() == ["task 0"] * 6 + ["task 1"] * 8
    assert got["state_names"].tolist() == list(H1_LAYOUT.names)
    for c in ("head", "right_wrist"):
        want = np.stack([f[c] for f in frames]).astype(int)
        err = np.abs(got[f"observation.images.{c}"].astype(int) - want).mean(axis=(1, 2, 3))
        assert (err < 4.0).all(), (c, err.round(2).tolist())


@pytest.mark.slow
def test_train_on_lerobot_dataset_loss_decreases(lerobot_ds, tmp_path: Path) -> None:
    import json

    from vla_lego.models.eo1 import EO1Policy
    from vla_lego.train import compose_config, train_from_config

    root, eps = lerobot_ds
    cfg = compose_config(
        [
            "trainer=debug",
            "model.image_size=56",
            "logging=disabled",
            "data=sim",
            f"data.path={root}",
            "data.camera_map={head: cam_high}",
            "data.image_size=56",
            "data.val_fraction=0.34",
            "trainer.max_steps=40",
            "trainer.log_every_n_steps=1",
            "trainer.training.batch_size_per_device=4",
            "trainer.training.num_workers=1",  # video decoded in a dataloader worker
            "trainer.num_threads=1",
            f"paths.root={tmp_path}",
        ]
    )
    result = train_from_config(cfg)
    assert result.step == 40 and result.policy_dir is not None
    rows = [
        json.loads(x)
        for p in tmp_path.rglob("metrics.jsonl")
        for x in p.read_text().splitlines()
        if x
    ]
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert len(losses) >= 30, rows[:3]
    assert np.mean(losses[-8:]) < 0.9 * np.mean(losses[:8]), np.round(losses, 3).tolist()
    assert np.isfinite(result.metrics["val/loss"])
    policy = EO1Policy.from_pretrained(result.policy_dir)
    assert policy.config.fps == 10.0
    stats = policy.processor.normalizer.to_dict()["stats"]["actions"]["mean"]
    train_eps = eps[:2]  # the last episode is held out; statistics are the whole dataset's
    want = np.concatenate([e["layout_action"] for e in eps]).mean(0)
    assert len(train_eps) == 2
    np.testing.assert_allclose(stats, want, rtol=1e-5)  # statistics in H1 order
