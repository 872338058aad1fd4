"""Datasets other labs record: LeRobot v2.1 and video, Unitree joint names and camera keys,
mapped onto H1_LAYOUT; bad datasets refused before training with the file, episode and key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from tests.data.foreign import UNITREE_NAMES, episode_arrays, write_v21
from vla_lego.data import DatasetError, LegoDataset, LeRobotV3Writer, collate
from vla_lego.data.inspect import main as inspect_main
from vla_lego.data.mapping import MappingError, map_joints
from vla_lego.data.video import VideoDecoder, VideoError, encode_video, frame_timestamps
from vla_lego.robot import H1_LAYOUT, joint_name_key

CAMS = {"observation.images.cam_high": (32, 48), "observation.images.cam_left_wrist": (24, 32)}
MAP = {"head": "observation.images.cam_high", "left_wrist": "cam_left_wrist"}
LENGTHS = [6, 4, 5]


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def v21(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, np.ndarray]]]:
    eps = episode_arrays(LENGTHS, CAMS)
    return write_v21(tmp_path_factory.mktemp("v21") / "ds", eps, CAMS), eps


def test_joint_names_of_other_recorders_map_onto_the_layout() -> None:
    assert joint_name_key("kLeftShoulderPitch") == joint_name_key("left_shoulder_pitch_joint")
    assert joint_name_key("LeftElbow") == joint_name_key("left_elbow_joint")
    jm = map_joints("observation.state", [*UNITREE_NAMES, "kWaistYaw"], H1_LAYOUT)
    assert jm.dropped == ("kWaistYaw",) and jm.valid.all()
    urdf = map_joints(
        "a",
        ["L_thumb_proximal_yaw_joint"],
        H1_LAYOUT,
        missing_joints=dict.fromkeys(H1_LAYOUT.names, 0.0),
    )
    assert urdf.index[H1_LAYOUT.index("left_hand_thumb_rotation")] == 0
    with pytest.raises(MappingError, match=r"lacks joints \['left_hand_pinky'"):
        map_joints("action", [*UNITREE_NAMES[:14], "mystery"], H1_LAYOUT)
    filled = map_joints(
        "action",
        UNITREE_NAMES[:14],
        H1_LAYOUT,
        missing_joints={n: 0.5 for n in H1_LAYOUT.names[8:14]},
    )
    assert not filled.valid[8:14].any() and filled.fill[8] == 0.5
    with pytest.raises(MappingError, match="both match"):
        map_joints("action", ["left_elbow", "kLeftElbow"], H1_LAYOUT)


def test_v21_with_video_reads_back_frame_by_frame(v21) -> None:
    root, eps = v21
    before = _snapshot(root)
    ds = LegoDataset(root, horizon=3, camera_map=MAP, image_size=(32, 48))
    assert ds.source.version == "v2.1" and len(ds) == sum(LENGTHS)
    assert ds.camera_names == ["head", "left_wrist"]
    want_state = np.concatenate([e["layout_state"] for e in eps])
    want_action = np.concatenate([e["layout_action"] for e in eps])
    np.testing.assert_array_equal(ds.state, want_state)  # permuted into H1 order, exactly
    np.testing.assert_array_equal(ds.actions, want_action)
    k = 0
    for e, ep in enumerate(eps):
        for i in range(len(ep["state"])):
            s = ds[k]
            assert (s["episode_index"], s["frame_index"]) == (e, i)
            assert s["instruction"] == f"stack the bricks, episode {e}"
            assert s["has_subtask"] is False and s["subtask"] == ""
            err = np.abs(s["images"][0].astype(int) - ep["observation.images.cam_high"][i]).mean()
            assert err < 4.0, (e, i, err)
            assert s["images"].shape == (2, 32, 48, 3)  # wrist 24x32 resized to the slot size
            k += 1
    stats = ds.stats["actions"]
    np.testing.assert_allclose(stats["mean"], want_action.mean(0), rtol=1e-5)
    assert _snapshot(root) == before  # nothing written next to the dataset


def test_v21_images_in_parquet_and_missing_joint_filled(tmp_path: Path) -> None:
    eps = episode_arrays([3, 2], CAMS)
    names = [n for n in UNITREE_NAMES if "HandPinky" not in n]
    keep = [UNITREE_NAMES.index(n) for n in names]
    for ep in eps:
        ep["state"], ep["action"] = ep["state"][:, keep], ep["action"][:, keep]
    root = write_v21(tmp_path / "ds", eps, CAMS, video=False, names=names)
    with pytest.raises(
        DatasetError, match=r"lacks joints \['left_hand_pinky', 'right_hand_pinky'\]"
    ):
        LegoDataset(root, horizon=2, camera_map=MAP, image_size=32)
    ds = LegoDataset(
        root,
        horizon=2,
        camera_map=MAP,
        image_size=32,
        missing_joints={"left_hand_pinky": 0.25, "right_hand_pinky": 0.25},
    )
    s = ds[0]
    np.testing.assert_array_equal(s["images"][0], _resize(eps[0]["observation.images.cam_high"][0]))
    pinky = [H1_LAYOUT.index("left_hand_pinky"), H1_LAYOUT.index("right_hand_pinky")]
    assert np.all(ds.state[:, pinky] == 0.25) and not s["action_valid"][pinky].any()
    assert s["action_valid"].sum() == 18
    batch = collate([ds[0], ds[1]])
    assert (
        batch["action_valid"].dtype == torch.bool and batch["has_subtask"].tolist() == [False] * 2
    )


def _resize(im: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(im).resize((32, 32), Image.Resampling.BILINEAR))


def test_own_dataset_as_video_gives_the_same_batches_up_to_codec_error(tmp_path: Path) -> None:
    from tests.data.foreign import smooth_image

    rng = np.random.default_rng(1)
    roots = {}
    for video in (False, True):
        w = LeRobotV3Writer(
            tmp_path / f"v{video}", 10, ["head", "right_wrist"], (40, 56), video=video
        )
        for ep, n in enumerate((7, 9)):
            for i in range(n):
                q = H1_LAYOUT.lower + (H1_LAYOUT.upper - H1_LAYOUT.lower) * rng.random(20)
                ims = {
                    "head": smooth_image(40, 56, 10 * ep + i, 0),
                    "right_wrist": smooth_image(40, 56, 10 * ep + i, 1),
                }
                w.add_frame(ims, q, q, task=f"t{ep}", subtask="grasp")
            w.save_episode()
        roots[video] = w.finalize()
        rng = np.random.default_rng(1)
    info = json.loads((roots[True] / "meta/info.json").read_text())
    feat = info["features"]["observation.images.head"]
    assert feat["dtype"] == "video" and feat["info"]["video.codec"] == "av1"
    assert (
        info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    )
    eps = pq.read_table(roots[True] / "meta/episodes/chunk-000/file-000.parquet").to_pandas()
    assert eps["videos/observation.images.head/from_timestamp"].tolist() == [0.0, 0.7]
    mp4 = roots[True] / "videos/observation.images.head/chunk-000/file-000.mp4"
    np.testing.assert_allclose(frame_timestamps(mp4), np.arange(16) / 10, atol=1e-6)
    a, b = LegoDataset(roots[False], horizon=4), LegoDataset(roots[True], horizon=4)
    for i in range(len(a)):
        x, y = a[i], b[i]
        for k in ("state", "actions", "action_is_pad", "instruction", "subtask", "episode_index"):
            np.testing.assert_array_equal(x[k], y[k])
        err = np.abs(x["images"].astype(int) - y["images"].astype(int)).mean()
        assert err < 4.0, (i, err)


def test_training_reads_video_in_dataloader_workers(tmp_path: Path) -> None:
    eps = episode_arrays([5, 5], CAMS)
    root = write_v21(tmp_path / "ds", eps, CAMS)
    ds = LegoDataset(root, horizon=2, camera_map=MAP, image_size=32)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert sum(len(b["state"]) for b in batches) == 10
    assert batches[0]["images"].shape == (4, 2, 32, 32, 3)


# ---------------------------------------------------------------------------- bad datasets
def _fresh(v21, tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    shutil.copytree(v21[0], root)
    return root


def _open(root: Path) -> LegoDataset:
    ds = LegoDataset(root, horizon=2, camera_map=MAP, image_size=32)
    ds.check_videos()
    return ds


def test_missing_video_file_names_file_episode_and_camera(v21, tmp_path: Path) -> None:
    root = _fresh(v21, tmp_path)
    (root / "videos/chunk-000/observation.images.cam_high/episode_000001.mp4").unlink()
    with pytest.raises(
        DatasetError,
        match=r"video file missing: .*episode_000001\.mp4 \(episode 1, "
        r"camera observation.images.cam_high\)",
    ):
        _open(root)


def test_video_shorter_than_its_episode(v21, tmp_path: Path) -> None:
    root = _fresh(v21, tmp_path)
    path = root / "videos/chunk-000/observation.images.cam_high/episode_000002.mp4"
    frames = episode_arrays(LENGTHS, CAMS)[2]["observation.images.cam_high"][:3]
    path.unlink()
    encode_video(frames, path, 20)
    with pytest.raises(
        DatasetError,
        match=r"episode 2 frame 4 of 'observation.images.cam_high'.*"
        r"episode_000002.mp4: no frame at t=0.2000 s",
    ):
        _open(root)


def test_timestamps_that_do_not_match_fps(v21, tmp_path: Path) -> None:
    root = _fresh(v21, tmp_path)
    path = root / "data/chunk-000/episode_000001.parquet"
    t = pq.read_table(path)
    ts = t.column("timestamp").to_numpy().copy()
    ts[2] += 0.01
    pq.write_table(t.set_column(t.column_names.index("timestamp"), "timestamp", pa.array(ts)), path)
    with pytest.raises(
        DatasetError,
        match=r"episode_000001.parquet: episode 1 frame 2: timestamp "
        r"0.110000 s, expected 0.100000 s at 20.0 fps",
    ):
        _open(root)


def test_unknown_camera_key_joint_and_version(v21, tmp_path: Path) -> None:
    root = _fresh(v21, tmp_path)
    with pytest.raises(
        DatasetError,
        match=r"cameras \['head -> cam_front'\] not in the dataset; "
        r"it has \['observation.images.cam_high'",
    ):
        LegoDataset(root, camera_map={"head": "cam_front"}, image_size=32)
    info = json.loads((root / "meta/info.json").read_text())
    names = info["features"]["action"]["names"]
    names[3] = "kLeftElbowPitchOfAnotherRobot"
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(
        DatasetError, match=r"action: the dataset lacks joints \['right_elbow_joint'\]"
    ):
        LegoDataset(root, camera_map=MAP, image_size=32)
    info["codebase_version"] = "v1.6"
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r"info.json: codebase_version 'v1.6' is not supported"):
        LegoDataset(root)


def test_decoder_refuses_timestamps_off_the_frame_grid(tmp_path: Path) -> None:
    from tests.data.foreign import smooth_image

    path = tmp_path / "v.mp4"
    encode_video([smooth_image(16, 16, i, 0) for i in range(10)], path, 10, codec="libx264")
    dec = VideoDecoder()
    assert dec.frames_at(path, [0.3, 0.5]).shape == (2, 16, 16, 3)
    with pytest.raises(VideoError, match=r"no frame within 0.0001 s of t=0.3500 s"):
        dec.frames_at(path, [0.35])
    with pytest.raises(VideoError, match="video file missing"):
        dec.frames_at(tmp_path / "none.mp4", [0.0])


def test_inspect_reports_mapping_and_problems(v21, tmp_path: Path, capsys) -> None:
    root = v21[0]
    args = [str(root), "--camera-map", "head=observation.images.cam_high", "--image-size", "32"]
    assert inspect_main(args) == 0
    out = capsys.readouterr().out
    assert "LeRobot v2.1, 3 episodes, 15 frames, 20 fps" in out
    assert "observation.images.cam_high" in out and "av1 48x32 yuv420p" in out
    assert "left_shoulder_pitch_joint    <- kLeftShoulderPitch" in out
    assert "problems: none, trainable" in out
    bad = _fresh(v21, tmp_path)
    (bad / "videos/chunk-000/observation.images.cam_high/episode_000000.mp4").write_bytes(b"junk")
    assert inspect_main([str(bad), "--camera-map", "head=cam_high", "--image-size", "32"]) == 1
    out = capsys.readouterr().out
    assert "unreadable video" in out and "episode_000000.mp4" in out
    assert inspect_main([str(bad), "--camera-map", "head"]) == 2


def test_training_refuses_a_short_video_before_the_first_step(v21, tmp_path: Path) -> None:
    from vla_lego.train import compose_config
    from vla_lego.train.builders import build_datasets

    root = _fresh(v21, tmp_path)
    path = root / "videos/chunk-000/observation.images.cam_high/episode_000000.mp4"
    frames = episode_arrays(LENGTHS, CAMS)[0]["observation.images.cam_high"][:2]
    path.unlink()
    encode_video(frames, path, 20)
    cfg = compose_config(
        ["data=sim", f"data.path={root}", "data.camera_map={head: cam_high}", "data.image_size=32"]
    )
    with pytest.raises(DatasetError, match=r"episode 0 frame 5 of 'observation.images.cam_high'"):
        build_datasets(cfg)
