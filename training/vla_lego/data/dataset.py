"""LeRobot datasets (v2.0/v2.1/v3.0, images or video) as training samples (docs/INTERFACES.md).

``LegoDataset(root, horizon)`` validates the dataset when opened: missing or corrupt files, an
unknown ``codebase_version``, frame counts or timestamps that disagree with the metadata, a robot
layout that does not match, cameras or joints that cannot be mapped all raise
:class:`DatasetError` naming the file, episode and key. Nothing is written next to the dataset.
Numeric columns are held in memory (in the layout's joint order, see :mod:`.mapping`); camera
frames are decoded per sample (PNG bytes from the parquet, or mp4 frames by timestamp).

A sample::

    images         uint8 [V, H, W, 3]   views in ``camera_names`` order
    state          float32 [D]
    actions        float32 [T, D]       actions of frames i .. i+T-1 of the same episode
    action_is_pad  bool [T]             True past the episode end (last action repeated there)
    action_valid   bool [D]             False for joints the dataset lacks (filled, not trained)
    instruction    str                  the episode's task text
    subtask        str                  the subtask column ("" when the dataset has none)
    has_subtask    bool                 the dataset has subtask text (else: no text target)
    episode_index, frame_index  int
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from PIL import Image
from torch.utils.data import Dataset

from vla_lego.data.formats import DatasetError, LeRobotSource, feature_names
from vla_lego.data.lerobot import (
    ACTION_KEY,
    STATE_KEY,
    STATS_PATH,
    SUBTASK_KEY,
    decode_png,
    vector_stats,
)
from vla_lego.data.mapping import MappingError, describe, map_cameras, map_joints
from vla_lego.data.video import DEFAULT_TOLERANCE_S, VideoDecoder, VideoError
from vla_lego.robot import H1_LAYOUT, ActionLayout, LayoutMismatchError


def _to_stats(d: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in d.items()}


def _image_hw(feature: dict[str, Any]) -> tuple[int, int] | None:
    shape, names = feature.get("shape"), feature.get("names")
    if not shape or len(shape) != 3:
        return None
    if isinstance(names, list) and len(names) == 3 and names[0] in ("channel", "channels"):
        return int(shape[1]), int(shape[2])
    return int(shape[0]), int(shape[1])


class LegoDataset(Dataset):
    """Training samples from a LeRobot dataset (see the module docstring).

    Args:
        root: Dataset directory.
        horizon: Action chunk length T (>= 1).
        cameras: Without ``camera_map``: camera views to serve (default all, dataset order).
        layout: The model's robot layout; joints are mapped onto it by name.
        camera_map: Model camera slot -> dataset camera key.
        allow_missing_cameras: Slots of ``camera_map`` the dataset may lack (black frames).
        joint_aliases: Layout joint -> further names it goes by in this dataset.
        missing_joints: Layout joint -> value where the dataset lacks it (masked in the loss).
        image_size: Resize every view to (height, width) (needed when views differ in size).
        tolerance_s: Timestamp tolerance (LeRobot's default 1e-4 s).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        horizon: int = 50,
        cameras: Sequence[str] | None = None,
        layout: ActionLayout = H1_LAYOUT,
        camera_map: Mapping[str, str] | None = None,
        allow_missing_cameras: Sequence[str] = (),
        joint_aliases: Mapping[str, Sequence[str]] | None = None,
        missing_joints: Mapping[str, float] | None = None,
        image_size: int | tuple[int, int] | None = None,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.root = Path(root)
        self.horizon = int(horizon)
        self.tolerance_s = float(tolerance_s)
        self.source = LeRobotSource(self.root)
        self.info = self.source.info
        self.fps = self.source.fps
        for key in (STATE_KEY, ACTION_KEY):
            if key not in self.info["features"]:
                raise DatasetError(f"{self.root / 'meta/info.json'}: feature {key!r} missing")
        self._check_layout(layout)
        try:
            self.joint_maps = {
                key: map_joints(
                    key, feature_names(self.info, key), layout, joint_aliases, missing_joints
                )
                for key in (STATE_KEY, ACTION_KEY)
            }
            self.camera_map = map_cameras(
                list(self.source.cameras), camera_map, cameras, allow_missing_cameras
            )
        except MappingError as e:
            raise DatasetError(f"{self.root}: {e}") from e
        self.camera_names = self.camera_map.names
        self._dim = layout.dim
        self._layout_obj = layout
        self._size = self._image_size(image_size)
        self._decoder = VideoDecoder(self.tolerance_s)
        self._load_frames()
        self._stats_raw = self._load_stats()

    # ------------------------------------------------------------------ loading
    def _check_layout(self, layout: ActionLayout) -> None:
        block = self.info.get("vla_lego", {}).get("layout")
        try:
            if block is not None:
                layout.check_compatible(block, what=f"dataset {self.root}")
        except LayoutMismatchError as e:
            raise DatasetError(str(e)) from e
        self.layout = layout.to_dict()

    def _image_size(self, image_size: int | tuple[int, int] | None) -> tuple[int, int]:
        if image_size is not None:
            hw = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
            if len(hw) != 2 or min(hw) < 1:
                raise ValueError(f"image_size must be > 0 or (height, width), got {image_size}")
            return int(hw[0]), int(hw[1])
        sizes = {
            k: _image_hw(self.info["features"][k]) for k in self.camera_map.slots.values() if k
        }
        if len(set(sizes.values())) != 1 or None in sizes.values():
            raise DatasetError(
                f"{self.root}: camera views differ in size or do not declare it ({sizes}); set "
                "data.image_size to resize them to one size"
            )
        return next(iter(sizes.values()))  # type: ignore[return-value]

    def _load_frames(self) -> None:
        cols = [STATE_KEY, ACTION_KEY, "episode_index", "frame_index", "timestamp", "index"]
        cols += ["task_index"]
        self.has_subtask = SUBTASK_KEY in self.info["features"]
        if self.has_subtask:
            cols.append(SUBTASK_KEY)
        image_keys = [
            k for k in self.camera_map.slots.values() if k and self.source.cameras[k] == "image"
        ]
        table = self.source.read_frames(cols + image_keys)
        self.source.check_frames(table, self.tolerance_s)
        try:
            self.state = self._vectors(table, STATE_KEY)
            self.actions = self._vectors(table, ACTION_KEY)
        except MappingError as e:
            raise DatasetError(f"{self.root}: {e}") from e
        for name, x in (("state", self.state), ("action", self.actions)):
            if not np.all(np.isfinite(x)):
                row = int(np.flatnonzero(~np.isfinite(x).all(1))[0])
                raise DatasetError(f"{self.root}: {name} of frame {row} is not finite")
        self.action_valid = self.joint_maps[ACTION_KEY].valid.copy()
        self.episode_index = table.column("episode_index").to_numpy().astype(np.int64)
        self.frame_index = table.column("frame_index").to_numpy().astype(np.int64)
        self.timestamp = table.column("timestamp").to_numpy().astype(np.float64)
        self.task_index = table.column("task_index").to_numpy().astype(np.int64)
        unknown = sorted(set(self.task_index.tolist()) - set(self.source.tasks))
        if unknown:
            raise DatasetError(f"{self.root}: task_index {unknown} not in the task table")
        self.tasks = self.source.tasks
        self.subtask = (
            [str(s or "") for s in table.column(SUBTASK_KEY).to_pylist()]
            if self.has_subtask
            else [""] * table.num_rows
        )
        self._images = {k: table.column(k).combine_chunks().field("bytes") for k in image_keys}
        self._image_paths = {k: table.column(k).combine_chunks().field("path") for k in image_keys}
        self._ep_end = np.zeros(len(self.state), dtype=np.int64)
        self._videos: dict[str, list[tuple[str, float]]] = {}
        start = 0
        for ep in self.source.episodes:
            self._ep_end[start : start + ep.length] = start + ep.length
            start += ep.length
        video_keys = [k for k in self.camera_map.slots.values() if k and k not in image_keys]
        by_ep = {e.index: e for e in self.source.episodes}
        for k in video_keys:
            per_frame = []
            for epi in self.episode_index:
                path, t0 = by_ep[int(epi)].videos[k]
                per_frame.append((str(path), t0))
            self._videos[k] = per_frame
            for ep in self.source.episodes:
                if not ep.videos[k][0].is_file():
                    raise DatasetError(
                        f"{self.root}: video file missing: {ep.videos[k][0]} (episode "
                        f"{ep.index}, camera {k})"
                    )

    def _vectors(self, table: pa.Table, key: str) -> np.ndarray:
        x = np.stack(table.column(key).to_numpy(zero_copy_only=False)).astype(np.float32)
        return self.joint_maps[key].apply(x)

    def _load_stats(self) -> dict[str, Any]:
        path = self.root / STATS_PATH
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise DatasetError(f"corrupt {path}: {e}") from e

    def check_videos(self) -> None:
        """Decode the first and last frame of every episode of every video camera.

        Raises:
            DatasetError: A video that is unreadable, or shorter than its episode.
        """
        for k in self._videos:
            for e in self.source.episodes:
                rows = np.flatnonzero(self.episode_index == e.index)
                for i in (rows[0], rows[-1]):
                    self._frame(k, int(i))

    # ------------------------------------------------------------------ contract
    def describe_mapping(self) -> str:
        """The camera and joint mapping as a printable table."""
        return describe(self.camera_map, list(self.joint_maps.values()), self._layout_obj)

    @property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """``{"state": {...}, "actions": {...}}`` with mean/std/min/max/q01/q99 arrays of [D]."""
        out = {}
        for name, key in (("state", STATE_KEY), ("actions", ACTION_KEY)):
            raw = self._stats_raw.get(key) if self.joint_maps[key].is_identity else None
            if raw is None:  # stats of the mapped vectors (foreign order, filled joints)
                raw = vector_stats(self.state if name == "state" else self.actions)
            s = _to_stats(raw)
            for q in ("q01", "q99"):  # datasets from other writers may lack quantiles
                if q not in s:
                    s[q] = s["min"] if q == "q01" else s["max"]
            out[name] = {k: s[k] for k in ("mean", "std", "min", "max", "q01", "q99")}
        return out

    @property
    def num_episodes(self) -> int:
        return int(self.info["total_episodes"])

    def episode_extra(self, episode: int) -> dict[str, Any]:
        """What the episode's metadata row holds beyond LeRobot's layout (the sim generator's
        ``seed``, ``success`` and ``task_name``); ``KeyError`` for an unknown episode index."""
        for e in self.source.episodes:
            if e.index == episode:
                return dict(e.extra)
        raise KeyError(f"episode {episode} not in {self.root}")

    def __len__(self) -> int:
        return len(self.state)

    def _frame(self, key: str, index: int) -> np.ndarray:
        if key in self._videos:
            path, t0 = self._videos[key][index]
            try:
                return self._decoder.frames_at(path, [t0 + self.timestamp[index]])[0]
            except VideoError as e:
                raise DatasetError(
                    f"{self.root}: episode {int(self.episode_index[index])} frame "
                    f"{int(self.frame_index[index])} of {key!r}: {e}"
                ) from e
        data = self._images[key][index].as_py()
        if data is None:
            rel = self._image_paths[key][index].as_py()
            if rel is None:
                raise DatasetError(f"{self.root}: frame {index} of camera {key!r} has no image")
            data = (self.root / rel).read_bytes() if (self.root / rel).is_file() else None
            if data is None:
                raise DatasetError(f"{self.root}: image file missing: {self.root / rel}")
        try:
            return decode_png(data)
        except OSError as e:
            raise DatasetError(f"{self.root}: frame {index} of {key!r} is corrupt: {e}") from e

    def image(self, camera: str, index: int) -> np.ndarray:
        """Decoded frame ``index`` of model camera slot ``camera``, at the served size."""
        key = self.camera_map.slots[camera]
        h, w = self._size
        if key is None:
            return np.zeros((h, w, 3), dtype=np.uint8)
        im = self._frame(key, index)
        if im.shape[:2] != (h, w):
            im = np.asarray(Image.fromarray(im).resize((w, h), Image.Resampling.BILINEAR))
        return im

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} frames")
        i = int(index) % len(self)
        end = int(self._ep_end[i])
        idx = np.arange(i, i + self.horizon)
        pad = idx >= end
        idx = np.minimum(idx, end - 1)
        return {
            "images": np.stack([self.image(c, i) for c in self.camera_names]),
            "state": self.state[i].copy(),
            "actions": self.actions[idx].copy(),
            "action_is_pad": pad,
            "action_valid": self.action_valid.copy(),
            "instruction": self.tasks[int(self.task_index[i])],
            "subtask": self.subtask[i],
            "has_subtask": self.has_subtask,
            "episode_index": int(self.episode_index[i]),
            "frame_index": int(self.frame_index[i]),
        }


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack samples into a batch: arrays become tensors, strings lists."""
    if not samples:
        raise ValueError("collate needs at least one sample")
    out: dict[str, Any] = {}
    for key in samples[0]:
        vals = [s[key] for s in samples]
        if isinstance(vals[0], str):
            out[key] = vals
        elif isinstance(vals[0], (bool, np.bool_)):
            out[key] = torch.tensor(vals, dtype=torch.bool)
        elif isinstance(vals[0], (int, np.integer)):
            out[key] = torch.tensor(vals, dtype=torch.int64)
        else:
            out[key] = torch.from_numpy(np.stack(vals))
    return out


class DummyDataset(Dataset):
    """Random samples with the same structure as :class:`LegoDataset` (for tests).

    Args:
        length: Number of samples.
        horizon: Action chunk length.
        image_size: (height, width).
        camera_names: Views.
        episode_length: Frames per synthetic episode (chunks are padded at episode ends).
        seed: RNG seed; the data is a deterministic function of it.
    """

    def __init__(
        self,
        length: int = 64,
        horizon: int = 50,
        image_size: tuple[int, int] = (128, 128),
        camera_names: tuple[str, ...] = ("head",),
        episode_length: int = 32,
        seed: int = 0,
        layout: ActionLayout = H1_LAYOUT,
    ) -> None:
        if length < 1 or horizon < 1 or episode_length < 1 or min(image_size) < 1:
            raise ValueError("length, horizon, episode_length and image_size must be >= 1")
        rng = np.random.default_rng(seed)
        self.horizon, self.image_size = horizon, tuple(image_size)
        self.camera_names = list(camera_names)
        self.fps = 10.0
        self.layout = layout.to_dict()
        lo, hi = layout.lower, layout.upper
        self.state = (lo + (hi - lo) * rng.random((length, layout.dim))).astype(np.float32)
        self.actions = (lo + (hi - lo) * rng.random((length, layout.dim))).astype(np.float32)
        self.episode_length = episode_length
        self.episode_index = np.arange(length, dtype=np.int64) // episode_length
        self._seed = seed

    @property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        out = {}
        for name, x in (("state", self.state), ("actions", self.actions)):
            s = vector_stats(x)
            out[name] = {k: s[k] for k in ("mean", "std", "min", "max", "q01", "q99")}
        return out

    def __len__(self) -> int:
        return len(self.state)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = int(index) % len(self)
        end = min(len(self), (i // self.episode_length + 1) * self.episode_length)
        idx = np.arange(i, i + self.horizon)
        pad = idx >= end
        rng = np.random.default_rng((self._seed, i))
        h, w = self.image_size
        return {
            "images": rng.integers(0, 256, (len(self.camera_names), h, w, 3), dtype=np.uint8),
            "state": self.state[i].copy(),
            "actions": self.actions[np.minimum(idx, end - 1)].copy(),
            "action_is_pad": pad,
            "action_valid": np.ones(len(self.state[i]), dtype=bool),
            "instruction": "pick up the red 2x4 brick and place it on the white pad",
            "subtask": "grasp the red 2x4 brick with the right hand" if i % 2 else "",
            "has_subtask": True,
            "episode_index": i // self.episode_length,
            "frame_index": i % self.episode_length,
        }


__all__ = ["DatasetError", "DummyDataset", "LegoDataset", "collate"]
