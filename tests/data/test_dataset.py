"""LeRobot v3.0 writer/reader: round trip, stats, padding, LeRobot layout, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from vla_lego.data import DatasetError, DummyDataset, LegoDataset, LeRobotV3Writer, collate
from vla_lego.robot import H1_LAYOUT


def _write(root: Path, lengths=(5, 3), cams=("head", "right_wrist"), seed=0) -> dict:
    rng = np.random.default_rng(seed)
    stored: dict[str, list] = {"images": [], "state": [], "action": [], "task": [], "subtask": []}
    with LeRobotV3Writer(root, 10, cams, (8, 12)) as w:
        for ep, n in enumerate(lengths):
            task = f"task number {ep % 2}"
            for k in range(n):
                imgs = {c: rng.integers(0, 256, (8, 12, 3), dtype=np.uint8) for c in cams}
                s = rng.normal(size=20).astype(np.float32)
                a = rng.normal(size=20).astype(np.float32)
                w.add_frame(imgs, s, a, task, f"step {k}")
                for key, v in zip(stored, (imgs, s, a, task, f"step {k}")):
                    stored[key].append(v)
            w.save_episode(seed=ep)
        w.finalize()
    return stored


def test_round_trip_equals_what_was_stored(tmp_path: Path) -> None:
    stored = _write(tmp_path / "ds")
    ds = LegoDataset(tmp_path / "ds", horizon=4)
    assert len(ds) == 8 and ds.num_episodes == 2 and ds.fps == 10.0
    assert ds.camera_names == ["head", "right_wrist"]
    H1_LAYOUT.check_compatible(ds.layout)
    for i in range(len(ds)):
        s = ds[i]
        np.testing.assert_array_equal(s["images"][0], stored["images"][i]["head"])
        np.testing.assert_array_equal(s["images"][1], stored["images"][i]["right_wrist"])
        np.testing.assert_array_equal(s["state"], stored["state"][i])
        assert s["instruction"] == stored["task"][i] and s["subtask"] == stored["subtask"][i]
    # Action chunk of frame 3 of episode 0 (length 5): actions 3, 4, then padding (repeat 4).
    s = ds[3]
    np.testing.assert_array_equal(s["actions"][:2], np.stack(stored["action"][3:5]))
    np.testing.assert_array_equal(s["actions"][2:], np.stack([stored["action"][4]] * 2))
    assert s["action_is_pad"].tolist() == [False, False, True, True]
    assert (s["episode_index"], s["frame_index"]) == (0, 3)
    assert ds[5]["episode_index"] == 1 and ds[5]["frame_index"] == 0


def test_stats_are_correct(tmp_path: Path) -> None:
    stored = _write(tmp_path / "ds")
    ds = LegoDataset(tmp_path / "ds", horizon=2)
    for name, key in (("state", "state"), ("actions", "action")):
        x = np.stack(stored[key]).astype(np.float64)
        st = ds.stats[name]
        np.testing.assert_allclose(st["mean"], x.mean(0), rtol=1e-6)
        np.testing.assert_allclose(st["std"], x.std(0), rtol=1e-6)
        np.testing.assert_allclose(st["min"], x.min(0))
        np.testing.assert_allclose(st["max"], x.max(0))
        np.testing.assert_allclose(st["q01"], np.quantile(x, 0.01, axis=0), rtol=1e-6)
        np.testing.assert_allclose(st["q99"], np.quantile(x, 0.99, axis=0), rtol=1e-6)
        assert st["mean"].shape == (20,)


def test_lerobot_v3_layout(tmp_path: Path) -> None:
    _write(tmp_path / "ds", cams=("head",))
    root = tmp_path / "ds"
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 10
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["splits"] == {"train": "0:2"} and info["total_frames"] == 8
    assert info["features"]["observation.images.head"]["dtype"] == "image"
    assert info["features"]["observation.state"]["names"] == list(H1_LAYOUT.names)
    for k in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        assert k in info["features"]
    tasks = pq.read_table(root / "meta/tasks.parquet").to_pandas()
    assert tasks.index.name == "task" and list(tasks["task_index"]) == [0, 1]
    eps = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pandas()
    assert list(eps["dataset_from_index"]) == [0, 5] and list(eps["dataset_to_index"]) == [5, 8]
    assert list(eps["tasks"].iloc[1]) == ["task number 1"]
    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    np.testing.assert_allclose(data.column("timestamp").to_numpy()[:5], np.arange(5) / 10)
    assert b"huggingface" in data.schema.metadata
    stats = json.loads((root / "meta/stats.json").read_text())
    assert np.asarray(stats["observation.images.head"]["mean"]).shape == (3, 1, 1)


def test_unfinished_writer_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with LeRobotV3Writer(root, 10, ("head",), (4, 4)) as w:
        w.add_frame({"head": np.zeros((4, 4, 3), np.uint8)}, np.zeros(20), np.zeros(20), "t")
        w.save_episode()
        assert not root.exists()
    assert not root.exists() and list(tmp_path.iterdir()) == []


def test_writer_rejects_bad_frames(tmp_path: Path) -> None:
    with LeRobotV3Writer(tmp_path / "ds", 10, ("head",), (4, 4)) as w:
        img = {"head": np.zeros((4, 4, 3), np.uint8)}
        with pytest.raises(ValueError, match="camera"):
            w.add_frame({"head": np.zeros((5, 4, 3), np.uint8)}, np.zeros(20), np.zeros(20), "t")
        with pytest.raises(ValueError, match="shape"):
            w.add_frame(img, np.zeros(19), np.zeros(20), "t")
        with pytest.raises(ValueError, match="non-finite"):
            w.add_frame(img, np.full(20, np.nan), np.zeros(20), "t")
        with pytest.raises(ValueError, match="no episodes"):
            w.finalize()
    (tmp_path / "exists").mkdir()
    with pytest.raises(FileExistsError):
        LeRobotV3Writer(tmp_path / "exists", 10, ("head",), (4, 4))


def test_truncated_or_missing_files_raise_clear_errors(tmp_path: Path) -> None:
    _write(tmp_path / "ds")
    data = tmp_path / "ds/data/chunk-000/file-000.parquet"
    raw = data.read_bytes()
    data.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match=r"corrupt or truncated parquet.*file-000"):
        LegoDataset(tmp_path / "ds")
    data.unlink()
    with pytest.raises(DatasetError, match=r"dataset file missing: .*data/chunk-000/file-000"):
        LegoDataset(tmp_path / "ds")
    (tmp_path / "ds/meta/info.json").unlink()
    with pytest.raises(DatasetError, match=r"info\.json missing"):
        LegoDataset(tmp_path / "ds")
    with pytest.raises(DatasetError, match="not found"):
        LegoDataset(tmp_path / "nothing")


def test_frame_count_mismatch_is_detected(tmp_path: Path) -> None:
    _write(tmp_path / "ds")
    path = tmp_path / "ds/meta/info.json"
    info = json.loads(path.read_text())
    info["total_frames"] = 99
    path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="truncated dataset"):
        LegoDataset(tmp_path / "ds")


def test_layout_mismatch_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path / "ds")
    path = tmp_path / "ds/meta/info.json"
    info = json.loads(path.read_text())
    info["vla_lego"]["layout"]["joints"][0]["name"] = "some_other_joint"
    path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="layout"):
        LegoDataset(tmp_path / "ds")


def test_collate_and_dummy_dataset() -> None:
    ds = DummyDataset(length=10, horizon=6, image_size=(16, 20), episode_length=4)
    batch = collate([ds[i] for i in (2, 3)])
    assert tuple(batch["images"].shape) == (2, 1, 16, 20, 3)
    assert tuple(batch["actions"].shape) == (2, 6, 20)
    assert batch["action_is_pad"][1].tolist() == [False] + [True] * 5  # frame 3 ends episode 0
    assert batch["episode_index"].tolist() == [0, 0] and isinstance(batch["instruction"], list)
    assert ds.episode_index.tolist() == [0] * 4 + [1] * 4 + [2] * 2
    assert set(ds.stats) == {"state", "actions"}
    with pytest.raises(ValueError):
        collate([])
