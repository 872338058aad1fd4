"""Reading LeRobot v3.0 datasets into training samples (the batch contract of docs/INTERFACES.md).

``LegoDataset(root, horizon)`` validates the dataset when opened (missing files, a wrong
``codebase_version``, truncated or corrupt parquet, inconsistent episode indices and a robot
layout that does not match all raise :class:`DatasetError` naming the file and the problem), keeps
the numeric columns in memory and decodes camera frames lazily per sample.

A sample::

    images         uint8 [V, H, W, 3]   views in ``camera_names`` order
    state          float32 [D]
    actions        float32 [T, D]       actions of frames i .. i+T-1 of the same episode
    action_is_pad  bool [T]             True past the episode end (last action repeated there)
    instruction    str                  the task text (tasks.parquet)
    subtask        str                  the subtask column ("" when the dataset has none)
    episode_index, frame_index  int
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import Dataset

from vla_lego.data.lerobot import (
    ACTION_KEY,
    CODEBASE_VERSION,
    DEFAULT_EPISODES_PATH,
    IMAGE_PREFIX,
    INFO_PATH,
    STATE_KEY,
    STATS_PATH,
    SUBTASK_KEY,
    TASKS_PATH,
    decode_png,
    vector_stats,
)
from vla_lego.robot import H1_LAYOUT, ActionLayout, LayoutMismatchError


class DatasetError(ValueError):
    """A dataset on disk is missing, incomplete, corrupt or made for another robot."""


def _read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    if not path.is_file():
        raise DatasetError(f"dataset file missing: {path}")
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as e:
        raise DatasetError(f"corrupt or truncated parquet file {path}: {e}") from e


def _read_info(root: Path) -> dict[str, Any]:
    path = root / INFO_PATH
    if not root.is_dir():
        raise DatasetError(f"dataset directory not found: {root}")
    if not path.is_file():
        raise DatasetError(f"{path} missing: {root} is not a (complete) LeRobot dataset")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"corrupt {path}: {e}") from e
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise DatasetError(
            f"{path}: codebase_version {info.get('codebase_version')!r}, expected "
            f"{CODEBASE_VERSION!r}"
        )
    for key in ("fps", "features", "data_path", "total_frames", "total_episodes"):
        if key not in info:
            raise DatasetError(f"{path}: missing key {key!r}")
    for key in (STATE_KEY, ACTION_KEY):
        if key not in info["features"]:
            raise DatasetError(f"{path}: feature {key!r} missing")
    return info


def _to_stats(d: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in d.items()}


class LegoDataset(Dataset):
    """Training samples from a LeRobot v3.0 dataset (see the module docstring).

    Args:
        root: Dataset directory.
        horizon: Action chunk length T (>= 1).
        cameras: Camera views to serve (default: all, in the dataset's order).
        layout: Expected robot layout; a dataset for another layout raises ``DatasetError``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        horizon: int = 50,
        cameras: list[str] | tuple[str, ...] | None = None,
        layout: ActionLayout = H1_LAYOUT,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.root = Path(root)
        self.horizon = int(horizon)
        self.info = _read_info(self.root)
        self.fps = float(self.info["fps"])
        self._check_layout(layout)
        all_cams = [
            k[len(IMAGE_PREFIX) :] for k in self.info["features"] if k.startswith(IMAGE_PREFIX)
        ]
        self.camera_names = list(cameras) if cameras is not None else all_cams
        missing = [c for c in self.camera_names if c not in all_cams]
        if missing or not self.camera_names:
            raise DatasetError(f"cameras {missing or '[]'} not in dataset; it has {all_cams}")
        self._load_tasks()
        self._load_frames()
        self._load_episodes()
        self._stats_raw = self._load_stats()

    # ------------------------------------------------------------------ loading
    def _check_layout(self, layout: ActionLayout) -> None:
        block = self.info.get("vla_lego", {}).get("layout")
        try:
            if block is not None:
                layout.check_compatible(block, what=f"dataset {self.root}")
            elif self.info["features"][STATE_KEY].get("names") != list(layout.names):
                raise LayoutMismatchError(f"dataset {self.root} state names differ from the layout")
        except LayoutMismatchError as e:
            raise DatasetError(str(e)) from e
        self.layout = layout.to_dict()
        self._dim = layout.dim

    def _load_tasks(self) -> None:
        table = _read_parquet(self.root / TASKS_PATH)
        df = table.to_pandas()
        if "task_index" not in df.columns:
            raise DatasetError(f"{self.root / TASKS_PATH}: column 'task_index' missing")
        self.tasks = {int(i): str(t) for t, i in zip(df.index, df["task_index"])}

    def _data_files(self) -> list[Path]:
        files = sorted((self.root / "data").glob("chunk-*/file-*.parquet"))
        if not files:
            raise DatasetError(f"no data files under {self.root / 'data'}")
        return files

    def _load_frames(self) -> None:
        tables = [_read_parquet(p) for p in self._data_files()]
        try:
            table = pa.concat_tables(tables)
        except pa.ArrowInvalid as e:
            raise DatasetError(f"data files of {self.root} have inconsistent schemas: {e}") from e
        need = [STATE_KEY, ACTION_KEY, "episode_index", "frame_index", "task_index", "index"]
        need += [IMAGE_PREFIX + c for c in self.camera_names]
        missing = [c for c in need if c not in table.column_names]
        if missing:
            raise DatasetError(f"data of {self.root} lacks columns {missing}")
        if table.num_rows != int(self.info["total_frames"]):
            raise DatasetError(
                f"{self.root}: data has {table.num_rows} frames, info.json says "
                f"{self.info['total_frames']} (truncated dataset?)"
            )
        order = np.argsort(table.column("index").to_numpy())
        table = table.take(pa.array(order))
        self.state = np.stack(table.column(STATE_KEY).to_numpy(zero_copy_only=False)).astype(
            np.float32
        )
        self.actions = np.stack(table.column(ACTION_KEY).to_numpy(zero_copy_only=False)).astype(
            np.float32
        )
        if self.state.shape[1] != self._dim or self.actions.shape[1] != self._dim:
            raise DatasetError(f"{self.root}: state/action width differs from layout ({self._dim})")
        self.episode_index = table.column("episode_index").to_numpy().astype(np.int64)
        self.frame_index = table.column("frame_index").to_numpy().astype(np.int64)
        self.task_index = table.column("task_index").to_numpy().astype(np.int64)
        self.subtask = (
            [str(s or "") for s in table.column(SUBTASK_KEY).to_pylist()]
            if SUBTASK_KEY in table.column_names
            else [""] * table.num_rows
        )
        self._images = {
            c: table.column(IMAGE_PREFIX + c).combine_chunks().field("bytes")
            for c in self.camera_names
        }

    def _load_episodes(self) -> None:
        files = sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not files:
            path = self.root / DEFAULT_EPISODES_PATH.format(chunk_index=0, file_index=0)
            raise DatasetError(f"episode metadata missing: {path}")
        cols = ["episode_index", "length", "dataset_from_index", "dataset_to_index"]
        eps = pa.concat_tables([_read_parquet(p, cols) for p in files]).to_pandas()
        if len(eps) != int(self.info["total_episodes"]):
            raise DatasetError(
                f"{self.root}: {len(eps)} episode rows, info.json says "
                f"{self.info['total_episodes']}"
            )
        self._ep_end = np.zeros(len(self.state), dtype=np.int64)
        for _, e in eps.iterrows():
            lo, hi = int(e["dataset_from_index"]), int(e["dataset_to_index"])
            ok = hi - lo == int(e["length"]) and 0 <= lo < hi <= len(self.state)
            if not ok or np.any(self.episode_index[lo:hi] != int(e["episode_index"])):
                raise DatasetError(
                    f"{self.root}: episode {int(e['episode_index'])} indices [{lo}, {hi}) do not "
                    "match the data"
                )
            self._ep_end[lo:hi] = hi
        if np.any(self._ep_end == 0):
            raise DatasetError(f"{self.root}: frames not covered by any episode")

    def _load_stats(self) -> dict[str, Any]:
        path = self.root / STATS_PATH
        if not path.is_file():
            raise DatasetError(f"{path} missing")
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise DatasetError(f"corrupt {path}: {e}") from e

    # ------------------------------------------------------------------ contract
    @property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """``{"state": {...}, "actions": {...}}`` with mean/std/min/max/q01/q99 arrays of [D]."""
        out = {}
        for name, key in (("state", STATE_KEY), ("actions", ACTION_KEY)):
            raw = self._stats_raw.get(key)
            if raw is None:
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

    def __len__(self) -> int:
        return len(self.state)

    def image(self, camera: str, index: int) -> np.ndarray:
        """Decoded frame ``index`` of ``camera``."""
        data = self._images[camera][index].as_py()
        if data is None:
            raise DatasetError(
                f"{self.root}: frame {index} of camera {camera!r} has no image bytes"
            )
        try:
            return decode_png(data)
        except OSError as e:
            raise DatasetError(f"{self.root}: frame {index} of {camera!r} is corrupt: {e}") from e

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
            "instruction": self.tasks[int(self.task_index[i])],
            "subtask": self.subtask[i],
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
            "instruction": "pick up the red 2x4 brick and place it on the white pad",
            "subtask": "grasp the red 2x4 brick with the right hand" if i % 2 else "",
            "episode_index": i // self.episode_length,
            "frame_index": i % self.episode_length,
        }


__all__ = ["DatasetError", "DummyDataset", "LegoDataset", "collate"]
