"""Writing datasets in the LeRobotDataset v3.0 layout.

What is written (paths relative to the dataset root; templates as in LeRobot's ``utils.py``)::

    meta/info.json                          codebase_version "v3.0", fps, features, splits,
                                            data_path / video_path templates (video_path null:
                                            frames are PNG images inside the data parquet),
                                            totals, robot_type, and a "vla_lego" block with the
                                            robot layout and camera order
    meta/stats.json                         per feature min/max/mean/std/count (+ q01/q99 for
                                            state and action; images per channel, (3,1,1), /255)
    meta/tasks.parquet                      index "task" (instruction text) -> task_index
    meta/episodes/chunk-000/file-000.parquet  one row per episode: episode_index, tasks, length,
                                            data/chunk_index, data/file_index,
                                            dataset_from_index, dataset_to_index,
                                            meta/episodes/chunk_index, meta/episodes/file_index,
                                            stats/<feature>/<stat>, plus seed and success
    data/chunk-000/file-000.parquet         one row per frame: observation.images.<camera>
                                            (struct bytes/path, PNG, HF ``Image``; not with
                                            video=True),
                                            observation.state [D], action [D], subtask (string),
                                            timestamp, frame_index, episode_index, index,
                                            task_index

With ``video=True`` camera frames go to ``videos/observation.images.<camera>/chunk-000/
file-000.mp4`` instead, as LeRobot writes them (AV1 ``libsvtav1`` by default, ``yuv420p``, g=2,
crf=30; the episodes one after another in one file, each episode's ``videos/<key>/from_timestamp``
and ``to_timestamp`` in the episode rows, the stream's ``info`` block in the feature).

Frames are written episode by episode into a temporary sibling directory; ``finalize`` writes
the metadata, fsyncs and renames the directory into place, so an interrupted run never leaves a
dataset that looks complete. ``close`` without ``finalize`` removes the temporary directory.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from vla_lego.atomic import replace_directory, temp_directory
from vla_lego.data.video import DEFAULT_CODEC, VideoWriter, probe_video
from vla_lego.robot import H1_LAYOUT, ActionLayout

CODEBASE_VERSION = "v3.0"
CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DEFAULT_DATA_PATH = "data/" + CHUNK_FILE_PATTERN + ".parquet"
DEFAULT_EPISODES_PATH = "meta/episodes/" + CHUNK_FILE_PATTERN + ".parquet"
DEFAULT_VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
STATE_KEY = "observation.state"
ACTION_KEY = "action"
SUBTASK_KEY = "subtask"
IMAGE_PREFIX = "observation.images."
DEFAULT_CHUNK_SIZE = 1000
_SCALARS = {
    "timestamp": "float32",
    "frame_index": "int64",
    "episode_index": "int64",
    "index": "int64",
    "task_index": "int64",
}
_IMAGE_STATS_FRAMES = 8  # frames per episode sampled for image statistics


def encode_png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def vector_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """min/max/mean/std/count/q01/q99 over axis 0 of ``x`` [N, D]."""
    x = np.asarray(x, dtype=np.float64)
    return {
        "min": x.min(0),
        "max": x.max(0),
        "mean": x.mean(0),
        "std": x.std(0),
        "count": np.array([len(x)]),
        "q01": np.quantile(x, 0.01, axis=0),
        "q99": np.quantile(x, 0.99, axis=0),
    }


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel stats of uint8 frames [N, H, W, 3], shaped (3, 1, 1) and scaled to [0, 1]."""
    x = frames.reshape(-1, 3).astype(np.float64) / 255.0
    out = {k: v.reshape(3, 1, 1) for k, v in vector_stats(x).items() if k != "count"}
    out["count"] = np.array([len(frames)])
    return out


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _jsonable(v) if isinstance(v, dict) else np.asarray(v).tolist() for k, v in d.items()
    }


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())


class LeRobotV3Writer:
    """Record episodes into a LeRobot v3.0 dataset at ``root`` (see the module docstring).

    Args:
        root: Final dataset directory; must not exist unless ``overwrite``.
        fps: Frame rate (Hz), > 0.
        camera_names: Camera views in model order.
        image_shape: (height, width) of every camera frame.
        layout: Robot layout of state and action.
        robot_type: ``robot_type`` written to info.json.
        overwrite: Replace an existing dataset at ``root`` (only at ``finalize``).
        video: Store camera frames as mp4 video (LeRobot's default) instead of PNG in parquet.
        codec: FFmpeg encoder of the video (``libsvtav1`` = AV1, ``libx264``, ...).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        fps: float,
        camera_names: tuple[str, ...] | list[str],
        image_shape: tuple[int, int],
        layout: ActionLayout = H1_LAYOUT,
        robot_type: str = "unitree_h1",
        overwrite: bool = False,
        video: bool = False,
        codec: str = DEFAULT_CODEC,
    ) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if not camera_names:
            raise ValueError("camera_names must name at least one camera")
        if len(image_shape) != 2 or min(image_shape) <= 0:
            raise ValueError(f"image_shape must be (height, width) > 0, got {image_shape}")
        self.root = Path(root)
        if self.root.exists() and not overwrite:
            raise FileExistsError(f"dataset directory {self.root} exists; pass overwrite=True")
        self.fps = fps
        self.cameras = tuple(camera_names)
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.layout = layout
        self.robot_type = robot_type
        self.overwrite = overwrite
        self.video = bool(video)
        self.codec = codec
        self._tmp = temp_directory(self.root)
        self._data_path = self._tmp / DEFAULT_DATA_PATH.format(chunk_index=0, file_index=0)
        self._data_path.parent.mkdir(parents=True)
        self._schema = self._make_schema()
        self._pq: pq.ParquetWriter | None = None
        self._tasks: dict[str, int] = {}
        self._episodes: list[dict[str, Any]] = []
        self._frames: list[dict[str, Any]] = []
        self._all_state: list[np.ndarray] = []
        self._all_action: list[np.ndarray] = []
        self._image_samples: dict[str, list[np.ndarray]] = {c: [] for c in self.cameras}
        self._n_frames = 0
        self._closed = False
        self._videos: dict[str, VideoWriter] = {}
        self._video_info: dict[str, dict[str, Any]] = {}
        if self.video:
            try:
                for c in self.cameras:
                    path = self._tmp / self._video_rel(c)
                    self._videos[c] = VideoWriter(path, fps, codec=codec)
            except Exception:
                self.close()
                raise

    @staticmethod
    def _video_rel(camera: str) -> str:
        return DEFAULT_VIDEO_PATH.format(
            video_key=IMAGE_PREFIX + camera, chunk_index=0, file_index=0
        )

    # ------------------------------------------------------------------ schema
    def features(self) -> dict[str, Any]:
        """The info.json ``features`` block."""
        h, w = self.image_shape
        feats: dict[str, Any] = {
            IMAGE_PREFIX
            + c: {
                "dtype": "video" if self.video else "image",
                "shape": [h, w, 3],
                "names": ["height", "width", "channels"],
            }
            for c in self.cameras
        }
        if self._video_info:
            for c in self.cameras:
                feats[IMAGE_PREFIX + c]["info"] = self._video_info[c]
        names = list(self.layout.names)
        feats[STATE_KEY] = {"dtype": "float32", "shape": [self.layout.dim], "names": names}
        feats[ACTION_KEY] = {"dtype": "float32", "shape": [self.layout.dim], "names": names}
        feats[SUBTASK_KEY] = {"dtype": "string", "shape": [1], "names": None}
        for k, dt in _SCALARS.items():
            feats[k] = {"dtype": dt, "shape": [1], "names": None}
        return feats

    def _make_schema(self) -> pa.Schema:
        d = self.layout.dim
        image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
        images = [] if self.video else self.cameras
        fields = [pa.field(IMAGE_PREFIX + c, image) for c in images]
        fields += [
            pa.field(STATE_KEY, pa.list_(pa.float32(), d)),
            pa.field(ACTION_KEY, pa.list_(pa.float32(), d)),
            pa.field(SUBTASK_KEY, pa.string()),
        ]
        fields += [pa.field(k, pa.from_numpy_dtype(np.dtype(t))) for k, t in _SCALARS.items()]
        # The Hugging Face ``datasets`` feature description, so ``datasets``/LeRobot decode images.
        hf: dict[str, Any] = {IMAGE_PREFIX + c: {"_type": "Image"} for c in images}
        for key in (STATE_KEY, ACTION_KEY):
            hf[key] = {
                "feature": {"dtype": "float32", "_type": "Value"},
                "length": d,
                "_type": "Sequence",
            }
        hf[SUBTASK_KEY] = {"dtype": "string", "_type": "Value"}
        for k, t in _SCALARS.items():
            hf[k] = {"dtype": t, "_type": "Value"}
        meta = {b"huggingface": json.dumps({"info": {"features": hf}}).encode()}
        return pa.schema(fields, metadata=meta)

    # ------------------------------------------------------------------ recording
    def add_frame(
        self,
        images: dict[str, np.ndarray],
        state: np.ndarray,
        action: np.ndarray,
        task: str,
        subtask: str = "",
    ) -> None:
        """Buffer one frame of the current episode (validated here, not at save time)."""
        self._check_open()
        h, w = self.image_shape
        for c in self.cameras:
            if c not in images:
                raise ValueError(f"frame is missing camera {c!r}; got {sorted(images)}")
            im = images[c]
            if im.shape != (h, w, 3) or im.dtype != np.uint8:
                raise ValueError(
                    f"camera {c!r}: expected uint8 {(h, w, 3)}, got {im.dtype} {im.shape}"
                )
        d = self.layout.dim
        s = np.asarray(state, dtype=np.float32)
        a = np.asarray(action, dtype=np.float32)
        if s.shape != (d,) or a.shape != (d,):
            raise ValueError(f"state/action must have shape ({d},), got {s.shape} / {a.shape}")
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(a))):
            raise ValueError("state/action contain non-finite values")
        if not task:
            raise ValueError("task (instruction) must be a non-empty string")
        self._frames.append(
            {
                "images": {c: images[c].copy() for c in self.cameras},
                "state": s,
                "action": a,
                "task": task,
                "subtask": subtask,
            }
        )

    def save_episode(self, **extra: Any) -> int:
        """Write the buffered frames as one episode; ``extra`` goes into the episode metadata."""
        self._check_open()
        if not self._frames:
            raise ValueError("save_episode called with no frames added")
        ep = len(self._episodes)
        frames, self._frames = self._frames, []
        n = len(frames)
        tasks = []
        for f in frames:
            if f["task"] not in self._tasks:
                self._tasks[f["task"]] = len(self._tasks)
            if f["task"] not in tasks:
                tasks.append(f["task"])
        table = self._episode_table(frames, ep)
        if self._pq is None:
            self._pq = pq.ParquetWriter(self._data_path, self._schema)
        self._pq.write_table(table)
        state = np.stack([f["state"] for f in frames])
        action = np.stack([f["action"] for f in frames])
        self._all_state.append(state)
        self._all_action.append(action)
        pick = np.linspace(0, n - 1, min(n, _IMAGE_STATS_FRAMES)).astype(int)
        for c in self.cameras:
            self._image_samples[c].extend(frames[i]["images"][c] for i in pick)
        self._episodes.append(self._episode_row(ep, n, tasks, state, action, extra))
        self._n_frames += n
        return ep

    def _episode_table(self, frames: list[dict[str, Any]], ep: int) -> pa.Table:
        n = len(frames)
        cols: dict[str, Any] = {}
        for c in self.cameras:
            if self.video:
                for f in frames:
                    self._videos[c].add(f["images"][c])
                continue
            cols[IMAGE_PREFIX + c] = [
                {"bytes": encode_png(f["images"][c]), "path": None} for f in frames
            ]
        cols[STATE_KEY] = [f["state"] for f in frames]
        cols[ACTION_KEY] = [f["action"] for f in frames]
        cols[SUBTASK_KEY] = [f["subtask"] for f in frames]
        cols["timestamp"] = (np.arange(n) / self.fps).astype(np.float32)
        cols["frame_index"] = np.arange(n, dtype=np.int64)
        cols["episode_index"] = np.full(n, ep, dtype=np.int64)
        cols["index"] = np.arange(self._n_frames, self._n_frames + n, dtype=np.int64)
        cols["task_index"] = np.array([self._tasks[f["task"]] for f in frames], dtype=np.int64)
        return pa.Table.from_pydict(cols, schema=self._schema)

    def _episode_row(
        self,
        ep: int,
        n: int,
        tasks: list[str],
        state: np.ndarray,
        action: np.ndarray,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "episode_index": ep,
            "tasks": tasks,
            "length": n,
            "data/chunk_index": 0,
            "data/file_index": 0,
            "dataset_from_index": self._n_frames,
            "dataset_to_index": self._n_frames + n,
            "meta/episodes/chunk_index": 0,
            "meta/episodes/file_index": 0,
        }
        for c in self._videos:  # this episode's span in the camera's (concatenated) video
            key = IMAGE_PREFIX + c
            row[f"videos/{key}/chunk_index"] = 0
            row[f"videos/{key}/file_index"] = 0
            row[f"videos/{key}/from_timestamp"] = self._n_frames / self.fps
            row[f"videos/{key}/to_timestamp"] = (self._n_frames + n) / self.fps
        for key, x in ((STATE_KEY, state), (ACTION_KEY, action)):
            for stat, v in vector_stats(x).items():
                if stat in ("q01", "q99"):
                    continue
                row[f"stats/{key}/{stat}"] = np.asarray(v).tolist()
        row.update(extra)
        return row

    # ------------------------------------------------------------------ finishing
    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    def finalize(self) -> Path:
        """Write metadata, fsync, and move the dataset into place. Returns the root."""
        self._check_open()
        if self._frames:
            raise ValueError("unsaved frames: call save_episode() before finalize()")
        if not self._episodes:
            raise ValueError("no episodes recorded; refusing to write an empty dataset")
        assert self._pq is not None
        self._pq.close()
        self._pq = None
        self._video_info = {}
        for c, vw in self._videos.items():
            vw.close()
            self._video_info[c] = probe_video(vw.path)
        ep_path = self._tmp / DEFAULT_EPISODES_PATH.format(chunk_index=0, file_index=0)
        ep_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self._episodes), ep_path)
        tasks = pd.DataFrame(
            {"task_index": list(self._tasks.values())},
            index=pd.Index(list(self._tasks), name="task"),
        )
        tasks.to_parquet(self._tmp / TASKS_PATH)
        _write_json(self._tmp / STATS_PATH, _jsonable(self._stats()))
        _write_json(self._tmp / INFO_PATH, self._info())
        replace_directory(self._tmp, self.root)
        self._closed = True
        return self.root

    def _stats(self) -> dict[str, Any]:
        state = np.concatenate(self._all_state)
        action = np.concatenate(self._all_action)
        stats: dict[str, Any] = {STATE_KEY: vector_stats(state), ACTION_KEY: vector_stats(action)}
        for c in self.cameras:
            stats[IMAGE_PREFIX + c] = image_stats(np.stack(self._image_samples[c]))
        n = self._n_frames
        lengths = [e["length"] for e in self._episodes]
        stats["frame_index"] = vector_stats(
            np.concatenate([np.arange(k) for k in lengths])[:, None]
        )
        stats["episode_index"] = vector_stats(
            np.concatenate([np.full(k, i) for i, k in enumerate(lengths)])[:, None]
        )
        stats["index"] = vector_stats(np.arange(n)[:, None])
        stats["timestamp"] = vector_stats(stats_ts(lengths, self.fps)[:, None])
        return stats

    def _info(self) -> dict[str, Any]:
        n_ep = len(self._episodes)
        return {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": n_ep,
            "total_frames": self._n_frames,
            "total_tasks": len(self._tasks),
            "chunks_size": DEFAULT_CHUNK_SIZE,
            "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200,
            "fps": int(self.fps) if float(self.fps).is_integer() else self.fps,
            "splits": {"train": f"0:{n_ep}"},
            "data_path": DEFAULT_DATA_PATH,
            "video_path": DEFAULT_VIDEO_PATH if self.video else None,
            "features": self.features(),
            "vla_lego": {
                "layout": self.layout.to_dict(),
                "camera_names": list(self.cameras),
            },
        }

    def close(self) -> None:
        """Abandon an unfinished dataset: remove the temporary directory."""
        if self._closed:
            return
        if self._pq is not None:
            self._pq.close()
            self._pq = None
        for vw in self._videos.values():
            vw.close()
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._closed = True

    def __enter__(self) -> LeRobotV3Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("writer is already finalized or closed")


def stats_ts(lengths: list[int], fps: float) -> np.ndarray:
    """Timestamps of all frames (``frame_index / fps``)."""
    return np.concatenate([np.arange(k) / fps for k in lengths])


__all__ = [
    "ACTION_KEY",
    "CODEBASE_VERSION",
    "DEFAULT_DATA_PATH",
    "DEFAULT_EPISODES_PATH",
    "DEFAULT_VIDEO_PATH",
    "IMAGE_PREFIX",
    "INFO_PATH",
    "STATE_KEY",
    "STATS_PATH",
    "SUBTASK_KEY",
    "TASKS_PATH",
    "LeRobotV3Writer",
    "decode_png",
    "encode_png",
    "image_stats",
    "vector_stats",
]
