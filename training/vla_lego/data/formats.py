"""Reading LeRobot datasets as LeRobot writes them: codebase v2.0/v2.1 and v3.0.

The two layouts (paths are info.json's templates; LeRobot's defaults shown)::

    v2.x  meta/info.json, meta/tasks.jsonl {task_index, task}, meta/episodes.jsonl
          {episode_index, tasks, length}, meta/episodes_stats.jsonl (v2.1) / meta/stats.json
          data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet
          videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4
          (episode_chunk = episode_index // chunks_size; each video starts at t = 0)
    v3.0  meta/info.json, meta/tasks.parquet (index "task" -> task_index),
          meta/episodes/chunk-*/file-*.parquet (episode_index, tasks, length,
          data/chunk_index, data/file_index, dataset_from_index, dataset_to_index,
          videos/<key>/chunk_index, videos/<key>/file_index, videos/<key>/from_timestamp, ...)
          data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet (many episodes per file)
          videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4 (episodes
          concatenated; an episode's frame at ``timestamp`` is at ``from_timestamp + timestamp``)

Everything is checked while loading, and every problem names the file, episode and key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SUPPORTED_VERSIONS = ("v2.0", "v2.1", "v3.0")
INFO_PATH = "meta/info.json"


class DatasetError(ValueError):
    """A dataset on disk is missing, incomplete, corrupt or made for another robot."""


@dataclass
class EpisodeMeta:
    """Where one episode lives.

    Attributes:
        index: ``episode_index``.
        length: Frames.
        tasks: Task texts the episode metadata lists.
        data_file: Parquet file holding its frames.
        videos: Video key -> (mp4 path, ``from_timestamp`` of the episode in that file).
        extra: The row's other scalar values, those LeRobot's layout does not define (e.g. the
            ``seed``, ``success`` and ``task_name`` the sim generator stores per episode).
    """

    index: int
    length: int
    tasks: list[str]
    data_file: Path
    videos: dict[str, tuple[Path, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


# Episode-row keys the LeRobot layouts define (besides the "<group>/..." columns).
_LAYOUT_KEYS = frozenset(
    {"episode_index", "tasks", "length", "dataset_from_index", "dataset_to_index"}
)


def _row_extra(row: dict[str, Any]) -> dict[str, Any]:
    """The scalar values of an episode row that are not part of the LeRobot layout."""
    return {
        k: v
        for k, v in row.items()
        if k not in _LAYOUT_KEYS and "/" not in k and isinstance(v, str | int | float | bool)
    }


def read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    """``pq.read_table`` with a :class:`DatasetError` naming the file when it is bad."""
    if not path.is_file():
        raise DatasetError(f"dataset file missing: {path}")
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as e:
        raise DatasetError(f"corrupt or truncated parquet file {path}: {e}") from e


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DatasetError(f"dataset file missing: {path}")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}:{n}: not JSON: {e}") from e
    return rows


def read_info(root: Path) -> dict[str, Any]:
    """``meta/info.json`` of ``root``, with its required keys and a supported version.

    Raises:
        DatasetError: Missing directory/file, bad JSON, unknown ``codebase_version``, missing keys.
    """
    path = root / INFO_PATH
    if not root.is_dir():
        raise DatasetError(f"dataset directory not found: {root}")
    if not path.is_file():
        raise DatasetError(f"{path} missing: {root} is not a (complete) LeRobot dataset")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"corrupt {path}: {e}") from e
    version = info.get("codebase_version")
    if version not in SUPPORTED_VERSIONS:
        raise DatasetError(
            f"{path}: codebase_version {version!r} is not supported; this reader knows "
            f"{', '.join(SUPPORTED_VERSIONS)}"
        )
    for key in ("fps", "features", "data_path", "total_frames", "total_episodes"):
        if key not in info:
            raise DatasetError(f"{path}: missing key {key!r}")
    if not float(info["fps"]) > 0:
        raise DatasetError(f"{path}: fps must be > 0, got {info['fps']!r}")
    if version.startswith("v2") and "chunks_size" not in info:
        raise DatasetError(f"{path}: missing key 'chunks_size' (needed by {version} paths)")
    return info


def image_features(info: dict[str, Any]) -> dict[str, str]:
    """Feature key -> ``"image"`` or ``"video"`` for every camera feature."""
    return {
        k: f["dtype"] for k, f in info["features"].items() if f.get("dtype") in ("image", "video")
    }


def feature_names(info: dict[str, Any], key: str) -> list[str] | None:
    """The ``names`` of a vector feature (a list, or LeRobot's older ``{"motors": [...]}``)."""
    names = info["features"][key].get("names")
    if isinstance(names, dict):
        lists = [v for v in names.values() if isinstance(v, list)]
        names = lists[0] if len(lists) == 1 else None
    if names is None:
        return None
    return [str(n) for n in names]


class LeRobotSource:
    """The metadata of a LeRobot dataset: version, tasks, episodes and where their files are.

    Args:
        root: Dataset directory.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.info = read_info(self.root)
        self.version: str = self.info["codebase_version"]
        self.fps = float(self.info["fps"])
        self.features: dict[str, Any] = self.info["features"]
        self.cameras = image_features(self.info)
        if "video" in self.cameras.values() and not self.info.get("video_path"):
            raise DatasetError(f"{self.root / INFO_PATH}: video features but no video_path")
        if self.version == "v3.0":
            self.tasks = self._tasks_v3()
            self.episodes = self._episodes_v3()
        else:
            self.tasks = self._tasks_v2()
            self.episodes = self._episodes_v2()
        if len(self.episodes) != int(self.info["total_episodes"]):
            raise DatasetError(
                f"{self.root}: {len(self.episodes)} episodes in the metadata, info.json says "
                f"{self.info['total_episodes']}"
            )

    # ------------------------------------------------------------------ v3.0
    def _tasks_v3(self) -> dict[int, str]:
        path = self.root / "meta" / "tasks.parquet"
        df = read_parquet(path).to_pandas()
        if "task_index" not in df.columns:
            raise DatasetError(f"{path}: column 'task_index' missing")
        if "task" in df.columns:  # written without the index
            return {int(i): str(t) for t, i in zip(df["task"], df["task_index"])}
        return {int(i): str(t) for t, i in zip(df.index, df["task_index"])}

    def _episodes_v3(self) -> list[EpisodeMeta]:
        files = sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not files:
            path = self.root / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
            raise DatasetError(f"episode metadata missing: {path}")
        table = pa.concat_tables([read_parquet(p) for p in files], promote_options="default")
        rows = table.to_pylist()
        need = ["episode_index", "length", "data/chunk_index", "data/file_index"]
        need += ["dataset_from_index", "dataset_to_index"]
        videos = [k for k, d in self.cameras.items() if d == "video"]
        for key in videos:
            need += [f"videos/{key}/{c}" for c in ("chunk_index", "file_index", "from_timestamp")]
        missing = [c for c in need if c not in table.column_names]
        if missing:
            raise DatasetError(f"episode metadata {files[0].parent} lacks columns {missing}")
        out = []
        for r in sorted(rows, key=lambda r: int(r["episode_index"])):
            ep = int(r["episode_index"])
            data = self.root / self.info["data_path"].format(
                chunk_index=int(r["data/chunk_index"]), file_index=int(r["data/file_index"])
            )
            vids = {}
            for key in videos:
                path = self.root / self.info["video_path"].format(
                    video_key=key,
                    chunk_index=int(r[f"videos/{key}/chunk_index"]),
                    file_index=int(r[f"videos/{key}/file_index"]),
                )
                vids[key] = (path, float(r[f"videos/{key}/from_timestamp"]))
            tasks = [str(t) for t in (r.get("tasks") or [])]
            out.append(EpisodeMeta(ep, int(r["length"]), tasks, data, vids, _row_extra(r)))
        return out

    # ------------------------------------------------------------------ v2.x
    def _tasks_v2(self) -> dict[int, str]:
        rows = _read_jsonl(self.root / "meta" / "tasks.jsonl")
        try:
            return {int(r["task_index"]): str(r["task"]) for r in rows}
        except KeyError as e:
            raise DatasetError(f"{self.root / 'meta/tasks.jsonl'}: a row lacks {e}") from e

    def _episodes_v2(self) -> list[EpisodeMeta]:
        path = self.root / "meta" / "episodes.jsonl"
        rows = _read_jsonl(path)
        chunks = int(self.info["chunks_size"])
        out = []
        for r in sorted(rows, key=lambda r: int(r.get("episode_index", -1))):
            if "episode_index" not in r or "length" not in r:
                raise DatasetError(f"{path}: a row lacks episode_index/length: {r}")
            ep = int(r["episode_index"])
            fmt = {"episode_chunk": ep // chunks, "episode_index": ep}
            data = self.root / self.info["data_path"].format(**fmt)
            vids = {
                key: (self.root / self.info["video_path"].format(video_key=key, **fmt), 0.0)
                for key, d in self.cameras.items()
                if d == "video"
            }
            tasks = [str(t) for t in (r.get("tasks") or [])]
            out.append(EpisodeMeta(ep, int(r["length"]), tasks, data, vids, _row_extra(r)))
        return out

    # ------------------------------------------------------------------ data
    def data_files(self) -> list[Path]:
        """The parquet files holding the frames, each once, in episode order."""
        seen: dict[Path, None] = {}
        for e in self.episodes:
            seen.setdefault(e.data_file, None)
        return list(seen)

    def read_frames(self, columns: list[str]) -> pa.Table:
        """The given columns of every frame, sorted by ``index``; checks counts and timestamps.

        Raises:
            DatasetError: A missing/corrupt data file, missing columns, frame counts that differ
                from the metadata, or timestamps that are not ``frame_index / fps``.
        """
        tables = []
        for path in self.data_files():
            t = read_parquet(path)
            missing = [c for c in columns if c not in t.column_names]
            if missing:
                raise DatasetError(f"{path} lacks columns {missing}; it has {t.column_names}")
            tables.append(t.select(columns))
        table = pa.concat_tables(tables)
        if table.num_rows != int(self.info["total_frames"]):
            raise DatasetError(
                f"{self.root}: data has {table.num_rows} frames, info.json says "
                f"{self.info['total_frames']} (truncated dataset?)"
            )
        if "index" in table.column_names:
            order = np.argsort(table.column("index").to_numpy(), kind="stable")
            table = table.take(pa.array(order))
        return table

    def check_frames(self, table: pa.Table, tolerance_s: float) -> None:
        """Episode lengths and timestamps as LeRobot checks them (``1/fps`` apart within
        ``tolerance_s``, starting at 0)."""
        ep_col = table.column("episode_index").to_numpy()
        ts = table.column("timestamp").to_numpy().astype(np.float64)
        fi = table.column("frame_index").to_numpy()
        start = 0
        for e in self.episodes:
            hi = start + e.length
            rows = np.flatnonzero(ep_col == e.index)
            if len(rows) != e.length or (len(rows) and (rows[0] != start or rows[-1] != hi - 1)):
                raise DatasetError(
                    f"{self.root}: episode {e.index} has {len(rows)} frames in {e.data_file} "
                    f"(rows {rows[:1].tolist()}..), the metadata says {e.length} from row {start}"
                )
            want = np.arange(e.length) / self.fps
            err = np.abs(ts[start:hi] - ts[start] - want) if e.length else np.zeros(0)
            bad = np.flatnonzero(err > tolerance_s)
            if len(bad):
                k = int(bad[0])
                raise DatasetError(
                    f"{e.data_file}: episode {e.index} frame {int(fi[start + k])}: timestamp "
                    f"{ts[start + k]:.6f} s, expected {ts[start] + want[k]:.6f} s at {self.fps} "
                    f"fps (tolerance {tolerance_s} s)"
                )
            start = hi


__all__ = [
    "INFO_PATH",
    "SUPPORTED_VERSIONS",
    "DatasetError",
    "EpisodeMeta",
    "LeRobotSource",
    "feature_names",
    "image_features",
    "read_info",
    "read_parquet",
]
