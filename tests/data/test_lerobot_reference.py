"""The LeRobot 0.4.4 reference itself (tests/data/lerobot_ref): it writes v3.0 datasets with AV1
video as LeRobot does, reads them back, and reads image-feature datasets with extra info.json keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.data.lerobot_ref import ref

pytestmark = pytest.mark.skipif(not ref.available(), reason=ref.UNAVAILABLE)

FPS = 20
CAMS = {"observation.images.cam_high": (32, 48), "observation.images.cam_wrist": (24, 32)}
LENGTHS = [6, 4]
TASKS = ["stack the red brick", "unstack it"]
STATE_NAMES = ["kLeftHipYaw", "left_knee_joint", "Torso", "r_elbow", "waist_yaw"]
ACTION_NAMES = ["waist_yaw", "r_elbow", "Torso", "left_knee_joint", "kLeftHipYaw"]


def smooth_images(n: int, h: int, w: int, seed: int) -> np.ndarray:
    """Gradients that shift a little each frame (AV1 at crf 30 keeps those, unlike noise)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for t in range(n):
        r = 255 * (x + 2 * t) / (w + 2 * n)
        g = 255 * (y + t) / (h + n)
        b = np.full_like(x, 40 + 25 * t + 60 * seed)
        frames.append(np.stack([r, g, b], -1))
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def episodes(lengths: list[int]) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    eps = []
    for i, n in enumerate(lengths):
        ep: dict[str, Any] = {
            "state": rng.normal(size=(n, len(STATE_NAMES))).astype(np.float32),
            "action": rng.normal(size=(n, len(ACTION_NAMES))).astype(np.float32),
            "task": TASKS[i % len(TASKS)],
        }
        for key, (h, w) in CAMS.items():
            ep[key] = smooth_images(n, h, w, seed=i)
        eps.append(ep)
    return eps


def spec(use_videos: bool) -> dict[str, Any]:
    return {
        "fps": FPS,
        "use_videos": use_videos,
        "robot_type": "toy_arm",
        "cameras": CAMS,
        "state_names": STATE_NAMES,
        "action_names": ACTION_NAMES,
    }


def diff(name: str, got: np.ndarray, want: np.ndarray) -> str:
    if got.shape != want.shape:
        return f"{name}: shape {got.shape} != {want.shape}"
    bad = np.argwhere(got != want)
    if not len(bad):
        return ""
    first = tuple(bad[0])
    return (
        f"{name}: {len(bad)} values differ, first at {bad[:5].tolist()}: "
        f"{got[first]!r} != {want[first]!r}"
    )


@pytest.fixture(scope="module")
def video_ds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    eps = episodes(LENGTHS)
    root = tmp_path_factory.mktemp("lerobot_video") / "ds"
    summary = ref.write_dataset(root, spec(use_videos=True), eps)
    assert summary["lengths"] == LENGTHS, summary
    return root, eps


def check_frames(got: dict[str, np.ndarray], eps: list[dict[str, Any]], lossless: bool) -> None:
    n = sum(len(ep["state"]) for ep in eps)
    want_ep = np.concatenate([np.full(len(ep["state"]), i) for i, ep in enumerate(eps)])
    want_fi = np.concatenate([np.arange(len(ep["state"])) for ep in eps])
    problems = [
        diff("state", got["state"], np.concatenate([ep["state"] for ep in eps])),
        diff("action", got["action"], np.concatenate([ep["action"] for ep in eps])),
        diff("episode_index", got["episode_index"], want_ep),
        diff("frame_index", got["frame_index"], want_fi),
        diff("index", got["index"], np.arange(n)),
        diff("timestamp", got["timestamp"], (want_fi / FPS).astype(np.float32)),
        diff("tasks", got["tasks"], np.array([ep["task"] for ep in eps for _ in ep["state"]])),
        diff("state_names", got["state_names"], np.array(STATE_NAMES)),
        diff("action_names", got["action_names"], np.array(ACTION_NAMES)),
    ]
    assert got["camera_keys"].tolist() == list(CAMS), got["camera_keys"]
    for key in CAMS:
        want = np.concatenate([ep[key] for ep in eps])
        img = got[key]
        if img.shape != want.shape or img.dtype != np.uint8:
            problems.append(f"{key}: {img.dtype} {img.shape} != uint8 {want.shape}")
        elif lossless:
            problems.append(diff(key, img, want))
        else:
            err = np.abs(img.astype(np.int16) - want.astype(np.int16)).mean(axis=(1, 2, 3))
            if not (err < 8).all():
                problems.append(f"{key}: mean abs error per frame {np.round(err, 2).tolist()}")
    problems = [p for p in problems if p]
    assert not problems, "LeRobot read back differs from what it wrote:\n" + "\n".join(problems)


def test_lerobot_writes_video_and_reads_it_back(video_ds: tuple[Path, list]) -> None:
    root, eps = video_ds
    check_frames(ref.read_dataset(root), eps, lossless=False)


def test_lerobot_v30_video_layout_on_disk(video_ds: tuple[Path, list]) -> None:
    root, _ = video_ds
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    expect = ["meta/info.json", "meta/tasks.parquet", "meta/stats.json"]
    expect += ["data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet"]
    expect += [f"videos/{key}/chunk-000/file-000.mp4" for key in CAMS]
    missing = sorted(set(expect) - set(files))
    assert not missing, f"missing {missing}; on disk: {files}"

    info = json.loads((root / "meta/info.json").read_text())
    problems = []
    if info.get("codebase_version") != "v3.0":
        problems.append(f"codebase_version {info.get('codebase_version')!r}")
    if (info["total_episodes"], info["total_frames"]) != (len(LENGTHS), sum(LENGTHS)):
        problems.append(f"totals {info['total_episodes']}, {info['total_frames']}")
    for key, (h, w) in CAMS.items():
        feat = info["features"].get(key, {})
        vinfo = feat.get("info") or {}
        if feat.get("dtype") != "video" or feat.get("shape") != [h, w, 3]:
            problems.append(f"{key}: {feat}")
        want_info = {"video.codec": "av1", "video.height": h, "video.width": w, "video.fps": FPS}
        want_info["video.pix_fmt"] = "yuv420p"
        bad = {k: vinfo.get(k) for k, v in want_info.items() if vinfo.get(k) != v}
        if bad:
            problems.append(f"{key}: info block {vinfo} differs at {bad}")
    assert not problems, "meta/info.json:\n" + "\n".join(problems)

    episodes_pq = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    data = pq.read_table(root / "data/chunk-000/file-000.parquet").to_pydict()
    cols = set(episodes_pq[0])
    for key in CAMS:
        need = {f"videos/{key}/{c}" for c in ("from_timestamp", "to_timestamp", "chunk_index")}
        assert need <= cols, f"episodes parquet lacks {sorted(need - cols)}; has {sorted(cols)}"
        # Episodes are appended into one mp4 per camera; an episode's frame at data timestamp t
        # is the video's frame at from_timestamp + t.
        start = 0.0
        for ep_idx, n in enumerate(LENGTHS):
            row = episodes_pq[ep_idx]
            span = (row[f"videos/{key}/from_timestamp"], row[f"videos/{key}/to_timestamp"])
            assert span == pytest.approx((start, start + n / FPS)), (key, ep_idx, span)
            start += n / FPS
        with av.open(str(root / f"videos/{key}/chunk-000/file-000.mp4")) as c:
            stream = c.streams.video[0]
            pts = [float(f.pts * f.time_base) for f in c.decode(stream)]
            assert stream.codec_context.name in ("libdav1d", "av1", "libaom-av1"), stream.codec
        assert pts == pytest.approx([i / FPS for i in range(sum(LENGTHS))]), (key, pts)
    ts = [round(t * FPS) for t in data["timestamp"]]
    assert ts == [i for n in LENGTHS for i in range(n)], data["timestamp"]


def test_lerobot_reads_image_features_and_extra_info_keys(tmp_path: Path) -> None:
    """PNG images in the parquet files (use_videos=False) and a top-level info.json key that
    LeRobot does not know (as this project writes "vla_lego") are read without complaint."""
    eps = episodes([3, 2])
    root = tmp_path / "ds"
    ref.write_dataset(root, spec(use_videos=False), eps)
    info_path = root / "meta/info.json"
    info = json.loads(info_path.read_text())
    assert info["video_path"] is None and not (root / "videos").exists(), info
    for key, (h, w) in CAMS.items():
        assert info["features"][key] == {
            "dtype": "image",
            "shape": [h, w, 3],
            "names": ["height", "width", "channels"],
        }, info["features"][key]
    schema = pq.read_schema(root / "data/chunk-000/file-000.parquet")
    for key in CAMS:
        assert str(schema.field(key).type) == "struct<bytes: binary, path: string>", schema
    info["vla_lego"] = {"layout": "h1", "joint_names": STATE_NAMES}
    info_path.write_text(json.dumps(info, indent=4))
    check_frames(ref.read_dataset(root), eps, lossless=True)
