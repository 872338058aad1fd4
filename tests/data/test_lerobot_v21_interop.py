"""This project's reader on a codebase v2.1 video dataset written by the real LeRobot 0.3.3 (the
last release that writes v2.1; tests/data/lerobot_ref, ``version="0.3.3"``): per-episode parquet and
AV1 mp4 files, ``meta/*.jsonl``, joints and cameras named as Unitree's converter names them, in an
order unlike H1_LAYOUT's. LeRobot 0.3.3 reads it back too, as a check of the reference tool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.data.foreign import UNITREE_NAMES, episode_arrays
from tests.data.lerobot_ref import ref
from vla_lego.data import LegoDataset
from vla_lego.robot import H1_LAYOUT

V21 = "0.3.3"
pytestmark = pytest.mark.skipif(not ref.available(V21), reason=ref.unavailable(V21))

CAMS = {"observation.images.cam_high": (48, 64), "observation.images.cam_left_wrist": (32, 48)}
LENGTHS = [8, 6, 7]
FPS = 10
TASKS = ["stack the red brick on the blue one", "put the yellow brick on the pad", "stack again"]


@pytest.fixture(scope="module")
def v21_ds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("lerobot033") / "unitree_h1_lego_v21"
    eps = episode_arrays(LENGTHS, CAMS, seed=4)
    spec = {
        "fps": FPS,
        "use_videos": True,
        "robot_type": "Unitree_H1_Dual",
        "cameras": CAMS,
        "state_names": UNITREE_NAMES,
        "action_names": UNITREE_NAMES,
        "tasks": TASKS,
    }
    summary = ref.write_dataset(root, spec, eps, version=V21)
    assert summary["lengths"] == LENGTHS, summary
    assert (summary["lerobot_version"], summary["codebase_version"]) == (V21, "v2.1"), summary
    return root, eps


def test_lerobot_033_writes_v21_per_episode_layout(v21_ds) -> None:
    root, _ = v21_ds
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    expect = ["meta/info.json", "meta/episodes.jsonl", "meta/tasks.jsonl"]
    expect += ["meta/episodes_stats.jsonl"]
    for e in range(len(LENGTHS)):
        expect.append(f"data/chunk-000/episode_{e:06d}.parquet")
        expect += [f"videos/chunk-000/{key}/episode_{e:06d}.mp4" for key in CAMS]
    assert sorted(expect) == files, f"on disk: {files}"

    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v2.1", info["codebase_version"]
    assert (info["total_episodes"], info["total_frames"]) == (len(LENGTHS), sum(LENGTHS)), info
    assert info["data_path"] == "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
    assert info["video_path"] == (
        "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
    )
    for key, (h, w) in CAMS.items():
        feat = info["features"][key]
        assert feat["dtype"] == "video" and feat["shape"] == [h, w, 3], feat
        assert feat["info"]["video.codec"] == "av1", feat["info"]
    for key in ("observation.state", "action"):
        assert info["features"][key]["names"] == UNITREE_NAMES, info["features"][key]

    rows = [json.loads(x) for x in (root / "meta/episodes.jsonl").read_text().splitlines() if x]
    assert rows == [
        {"episode_index": e, "tasks": [TASKS[e]], "length": n} for e, n in enumerate(LENGTHS)
    ]
    tasks = [json.loads(x) for x in (root / "meta/tasks.jsonl").read_text().splitlines() if x]
    assert tasks == [{"task_index": i, "task": t} for i, t in enumerate(TASKS)]


def test_lerobot_033_v21_video_dataset_reads_frame_by_frame(v21_ds) -> None:
    root, eps = v21_ds
    ds = LegoDataset(
        root,
        horizon=4,
        camera_map={"head": "cam_high", "left_wrist": "cam_left_wrist"},
        image_size=(48, 64),
    )
    assert ds.source.version == "v2.1" and ds.fps == float(FPS)
    assert [ds.source.cameras[k] for k in CAMS] == ["video", "video"]
    # The Unitree-ordered columns permuted into H1 order, exactly.
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
    assert k == len(ds) == sum(LENGTHS)
    left = H1_LAYOUT.index("left_elbow_joint")
    assert ds.joint_maps["action"].names[ds.joint_maps["action"].index[left]] == "kLeftElbow"


def test_lerobot_033_reads_back_what_it_wrote(v21_ds) -> None:
    root, eps = v21_ds
    got = ref.read_dataset(root, version=V21)
    np.testing.assert_array_equal(got["state"], np.concatenate([e["state"] for e in eps]))
    np.testing.assert_array_equal(got["action"], np.concatenate([e["action"] for e in eps]))
    np.testing.assert_array_equal(
        got["episode_index"], np.concatenate([np.full(n, e) for e, n in enumerate(LENGTHS)])
    )
    np.testing.assert_array_equal(
        got["frame_index"], np.concatenate([np.arange(n) for n in LENGTHS])
    )
    np.testing.assert_array_equal(got["index"], np.arange(sum(LENGTHS)))
    want_tasks = [t for t, n in zip(TASKS, LENGTHS, strict=True) for _ in range(n)]
    assert got["tasks"].tolist() == want_tasks
    assert got["state_names"].tolist() == UNITREE_NAMES
    assert got["camera_keys"].tolist() == list(CAMS)
    for key in CAMS:
        want = np.concatenate([e[key] for e in eps]).astype(int)
        err = np.abs(got[key].astype(int) - want).mean(axis=(1, 2, 3))
        assert (err < 4.0).all(), (key, err.round(2).tolist())
