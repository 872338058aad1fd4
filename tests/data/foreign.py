"""Datasets as other labs' tools write them, for the reader's tests.

``write_v21`` writes LeRobot codebase v2.1 as LeRobot 0.3.x did (per-episode parquet and mp4,
``meta/episodes.jsonl``, ``meta/tasks.jsonl``, ``meta/episodes_stats.jsonl``), with the joint names
and camera keys of Unitree's ``unitree_IL_lerobot`` converter (``kLeftShoulderPitch``...,
``observation.images.cam_high``) in an order unlike H1_LAYOUT's. The v3.0 datasets of the tests are
written by the real LeRobot package (tests/data/lerobot_ref).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vla_lego.data.lerobot import encode_png
from vla_lego.data.video import VideoWriter, probe_video
from vla_lego.robot import H1_LAYOUT

# unitree_IL_lerobot-style names: right arm first, SDK enum spelling, hands after arms.
UNITREE_NAMES = (
    [f"kRight{j}" for j in ("ShoulderPitch", "ShoulderRoll", "ShoulderYaw", "Elbow")]
    + [f"kLeft{j}" for j in ("ShoulderPitch", "ShoulderRoll", "ShoulderYaw", "Elbow")]
    + [f"kRightHand{j}" for j in ("Pinky", "Ring", "Middle", "Index", "ThumbBend", "ThumbRotation")]
    + [f"kLeftHand{j}" for j in ("Pinky", "Ring", "Middle", "Index", "ThumbBend", "ThumbRotation")]
)
# Where each UNITREE_NAMES column sits in H1_LAYOUT.
UNITREE_TO_LAYOUT = np.array(
    [4, 5, 6, 7, 0, 1, 2, 3, 14, 15, 16, 17, 18, 19, 8, 9, 10, 11, 12, 13], dtype=np.int64
)


def smooth_image(h: int, w: int, t: int, cam: int) -> np.ndarray:
    """A gradient image that moves with ``t`` (survives lossy video coding, unlike noise or
    wrapped gradients with hard edges)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = xx * 150 / max(w - 1, 1) + 3 * t
    g = yy * 150 / max(h - 1, 1) + 2 * t + 40 * cam
    b = np.full_like(xx, 30 + 25 * (t % 8) + 10 * cam)  # neighbouring frames differ by 25
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def episode_arrays(
    lengths: list[int], cameras: dict[str, tuple[int, int]], seed: int = 0
) -> list[dict[str, np.ndarray]]:
    """Per episode: ``state``/``action`` in UNITREE_NAMES order and one image array per camera."""
    rng = np.random.default_rng(seed)
    lo, hi = H1_LAYOUT.lower, H1_LAYOUT.upper
    out = []
    t = 0
    for n in lengths:
        layout_q = (lo + (hi - lo) * rng.random((n, H1_LAYOUT.dim))).astype(np.float32)
        layout_a = (lo + (hi - lo) * rng.random((n, H1_LAYOUT.dim))).astype(np.float32)
        ep = {"state": layout_q[:, UNITREE_TO_LAYOUT], "action": layout_a[:, UNITREE_TO_LAYOUT]}
        ep["layout_state"], ep["layout_action"] = layout_q, layout_a
        for c, (key, (h, w)) in enumerate(cameras.items()):
            ep[key] = np.stack([smooth_image(h, w, t + i, c) for i in range(n)])
        t += n
        out.append(ep)
    return out


def write_v21(
    root: Path,
    episodes: list[dict[str, np.ndarray]],
    cameras: dict[str, tuple[int, int]],
    fps: int = 20,
    tasks: list[str] | None = None,
    video: bool = True,
    names: list[str] | None = None,
) -> Path:
    """Write ``episodes`` (from :func:`episode_arrays`) as a LeRobot v2.1 dataset at ``root``."""
    names = list(names or UNITREE_NAMES)
    d = len(names)
    tasks = tasks or [f"stack the bricks, episode {i}" for i in range(len(episodes))]
    task_ids = {t: i for i, t in enumerate(dict.fromkeys(tasks))}
    (root / "meta").mkdir(parents=True)
    feats: dict = {}
    for key, (h, w) in cameras.items():
        feats[key] = {
            "dtype": "video" if video else "image",
            "shape": [h, w, 3],
            "names": ["height", "width", "channels"],
        }
    for key in ("observation.state", "action"):
        feats[key] = {"dtype": "float32", "shape": [d], "names": names}
    for key, dt in (
        ("timestamp", "float32"),
        ("frame_index", "int64"),
        ("episode_index", "int64"),
        ("index", "int64"),
        ("task_index", "int64"),
    ):
        feats[key] = {"dtype": dt, "shape": [1], "names": None}
    index = 0
    ep_rows, stats_rows = [], []
    for e, ep in enumerate(episodes):
        n = len(ep["state"])
        cols: dict = {}
        if not video:
            for key in cameras:
                cols[key] = [{"bytes": encode_png(im), "path": None} for im in ep[key]]
        cols["observation.state"] = list(ep["state"])
        cols["action"] = list(ep["action"])
        cols["timestamp"] = (np.arange(n) / fps).astype(np.float32)
        cols["frame_index"] = np.arange(n, dtype=np.int64)
        cols["episode_index"] = np.full(n, e, dtype=np.int64)
        cols["index"] = np.arange(index, index + n, dtype=np.int64)
        cols["task_index"] = np.full(n, task_ids[tasks[e]], dtype=np.int64)
        path = root / f"data/chunk-000/episode_{e:06d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), path)
        if video:
            for key in cameras:
                vpath = root / f"videos/chunk-000/{key}/episode_{e:06d}.mp4"
                with VideoWriter(vpath, fps) as vw:
                    for im in ep[key]:
                        vw.add(im)
        ep_rows.append({"episode_index": e, "tasks": [tasks[e]], "length": n})
        stats_rows.append(
            {
                "episode_index": e,
                "stats": {
                    k: {
                        "min": ep[s].min(0).tolist(),
                        "max": ep[s].max(0).tolist(),
                        "mean": ep[s].mean(0).tolist(),
                        "std": ep[s].std(0).tolist(),
                        "count": [n],
                    }
                    for k, s in (("observation.state", "state"), ("action", "action"))
                },
            }
        )
        index += n
    if video:
        for key in cameras:
            feats[key]["info"] = probe_video(root / f"videos/chunk-000/{key}/episode_000000.mp4")
    info = {
        "codebase_version": "v2.1",
        "robot_type": "Unitree_H1_Dual",
        "total_episodes": len(episodes),
        "total_frames": index,
        "total_tasks": len(task_ids),
        "total_videos": len(episodes) * len(cameras) if video else 0,
        "total_chunks": 1,
        "chunks_size": 1000,
        "fps": fps,
        "splits": {"train": f"0:{len(episodes)}"},
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": (
            "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
            if video
            else None
        ),
        "features": feats,
    }
    (root / "meta/info.json").write_text(json.dumps(info, indent=4))
    jl = "\n".join
    (root / "meta/episodes.jsonl").write_text(jl(json.dumps(r) for r in ep_rows) + "\n")
    (root / "meta/tasks.jsonl").write_text(
        jl(json.dumps({"task_index": i, "task": t}) for t, i in task_ids.items()) + "\n"
    )
    (root / "meta/episodes_stats.jsonl").write_text(jl(json.dumps(r) for r in stats_rows) + "\n")
    return root


def write_lerobot_unitree(
    root: Path,
    lengths: list[int],
    cameras: dict[str, tuple[int, int]],
    tasks: list[str],
    fps: int = 10,
    seed: int = 3,
) -> list[dict[str, np.ndarray]]:
    """A v3.0 video dataset written by the real LeRobot 0.4.4 (tests/data/lerobot_ref) with
    UNITREE_NAMES joints and the given camera keys; returns the episodes' arrays."""
    from tests.data.lerobot_ref import ref

    eps = episode_arrays(lengths, cameras, seed=seed)
    spec = {
        "fps": fps,
        "use_videos": True,
        "robot_type": "Unitree_H1_Dual",
        "cameras": cameras,
        "state_names": UNITREE_NAMES,
        "action_names": UNITREE_NAMES,
        "tasks": tasks,
    }
    ref.write_dataset(root, spec, eps)
    return eps
