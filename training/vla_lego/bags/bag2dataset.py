"""``vla-bag2dataset``: demonstration bags -> a LeRobot v3 training dataset (``vla_lego.data``).

Each bag holds cameras, joint states (the measured state; arms and hands on one topic or several),
the commands (``/h1/arm_command``: the demonstrated actions) and the instruction. A bag is cut into
episodes where the instruction changes (an empty instruction is idle time, not an episode) and
where any input stream goes silent for longer than ``max_gap``. Each episode is resampled onto a
regular grid at the dataset ``fps`` over the time every stream covers: state and action are
linearly interpolated, each camera contributes its latest frame at or before the grid time. The
instruction text is the episode's task. Statistics come from the dataset writer.

Two passes per bag keep memory small: the first reads everything except image payloads, the
second decodes only the frames an episode uses. The dataset is written into a temporary directory
and renamed when complete; on any error nothing that looks like a dataset is left behind.

Example::

    vla-bag2dataset runs/demo_*/ -o data/teleop --fps 10 --image-size 128 128
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vla_lego.bags.reader import BagReader
from vla_lego.bags.streams import (
    JOINT_STATE_TYPE,
    STRING_TYPE,
    JointMapper,
    decode_image,
    msg_time,
    parse_camera_args,
    require_inputs,
)
from vla_lego.bags.typestore import BagError
from vla_lego.robot import H1_LAYOUT, ActionLayout, LayoutMismatchError
from vla_lego.robot import topics as T


@dataclass(frozen=True)
class ConvertConfig:
    """How bags become episodes.

    Attributes:
        fps: Dataset frame rate, Hz.
        cameras: View name -> image topic (model order); None: discovered from the first bag.
        state_topics: JointState topics that together carry every layout joint (measured).
        action_topics: JointState topics that together carry every layout joint (commanded).
        instruction_topic: std_msgs/String topic with the task instruction.
        instruction: Task for every episode (overrides the topic).
        image_size: (height, width) frames are resized to; None: the first camera's size.
        max_gap: Seconds a stream may be silent inside an episode.
        min_frames: Shorter episodes are skipped.
        allow_extra_joints: Ignore joint names outside the layout instead of failing.
        layout: Robot layout.
        video: Store camera frames as mp4 video (as LeRobot does) instead of PNG in parquet.
        codec: FFmpeg video encoder (``libsvtav1`` = AV1, LeRobot's default).
    """

    fps: float = 10.0
    cameras: dict[str, str] | None = None
    state_topics: tuple[str, ...] = (T.JOINT_STATES_TOPIC,)
    action_topics: tuple[str, ...] = (T.ARM_COMMAND_TOPIC,)
    instruction_topic: str = T.INSTRUCTION_TOPIC
    instruction: str | None = None
    image_size: tuple[int, int] | None = None
    max_gap: float = 0.5
    min_frames: int = 2
    allow_extra_joints: bool = False
    layout: ActionLayout = H1_LAYOUT
    video: bool = False
    codec: str = "libsvtav1"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fps) and 0.1 <= self.fps <= 1000.0):
            raise ValueError(f"fps must be in [0.1, 1000] Hz, got {self.fps}")
        if not 0.0 < self.max_gap <= 60.0:
            raise ValueError(f"max_gap must be in (0, 60] s, got {self.max_gap}")
        if self.min_frames < 1:
            raise ValueError(f"min_frames must be >= 1, got {self.min_frames}")
        if self.image_size is not None and min(self.image_size) < 8:
            raise ValueError(f"image_size must be at least 8x8, got {self.image_size}")
        if set(self.state_topics) & set(self.action_topics):
            raise ValueError("state_topics and action_topics must differ")


@dataclass
class _Track:
    """A joint-vector signal assembled from one or more JointState topics."""

    layout: ActionLayout
    times: dict[str, list[float]] = field(default_factory=dict)
    values: dict[str, list[np.ndarray]] = field(default_factory=dict)
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, topic: str, t: float, idx: np.ndarray, vals: np.ndarray) -> None:
        self.times.setdefault(topic, []).append(t)
        self.values.setdefault(topic, []).append(vals)
        self.columns[topic] = idx

    def streams(self) -> dict[str, np.ndarray]:
        return {k: np.sort(np.asarray(v)) for k, v in self.times.items()}

    def at(self, t: np.ndarray) -> np.ndarray:
        """Linear interpolation of every joint at times ``t`` -> ``(len(t), D)``."""
        out = np.full((len(t), self.layout.dim), np.nan)
        for topic, times in self.times.items():
            tt = np.asarray(times)
            order = np.argsort(tt, kind="stable")
            vals = np.asarray(self.values[topic])[order]
            for k, j in enumerate(self.columns[topic]):
                out[:, j] = np.interp(t, tt[order], vals[:, k])
        return out


@dataclass
class _Scan:
    """Pass 1 of one bag: everything but image payloads."""

    path: str
    state: _Track
    action: _Track
    instructions: list[tuple[float, str]]
    frame_stamps: dict[str, np.ndarray]  # camera name -> header stamps (s), ascending
    frame_logs: dict[str, np.ndarray]  # camera name -> log times (ns) of those frames


@dataclass
class _Episode:
    bag: str
    task: str
    times: np.ndarray
    frames: dict[str, np.ndarray]  # camera name -> frame index per grid time


def _scan(
    reader: BagReader, cfg: ConvertConfig, cameras: dict[str, str], progress: bool = True
) -> _Scan:
    state_map = JointMapper(cfg.layout, cfg.state_topics, cfg.allow_extra_joints)
    action_map = JointMapper(cfg.layout, cfg.action_topics, cfg.allow_extra_joints)
    state, action = _Track(cfg.layout), _Track(cfg.layout)
    instructions: list[tuple[float, str]] = []
    cam_of = {t: n for n, t in cameras.items()}
    stamps: dict[str, list[float]] = {n: [] for n in cameras}
    logs: dict[str, list[int]] = {n: [] for n in cameras}
    topics = [*cameras.values(), *cfg.state_topics, *cfg.action_topics]
    if cfg.instruction is None:
        topics.append(cfg.instruction_topic)
    bar = tqdm(
        reader.messages(topics),
        total=sum(reader.topics[t].count for t in topics),
        desc=f"scan {Path(reader.path).name}",
        unit="msg",
        leave=False,
        disable=not progress,
    )
    for m in bar:
        if m.topic in cam_of:
            stamps[cam_of[m.topic]].append(msg_time(m.msg, m.log_time_ns))
            logs[cam_of[m.topic]].append(m.log_time_ns)
        elif m.topic in cfg.state_topics:
            state.add(m.topic, msg_time(m.msg, m.log_time_ns), *state_map.values(m.topic, m.msg))
        elif m.topic in cfg.action_topics:
            action.add(m.topic, msg_time(m.msg, m.log_time_ns), *action_map.values(m.topic, m.msg))
        else:
            instructions.append((m.log_time_ns / 1e9, str(m.msg.data).strip()))
    state_map.check_complete()
    action_map.check_complete()
    return _Scan(
        str(reader.path),
        state,
        action,
        instructions,
        *_by_stamp(stamps, logs),
    )


def _by_stamp(
    stamps: dict[str, list[float]], logs: dict[str, list[int]]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each camera's frames in header-stamp order (log order differs when frames arrive out of
    order), log times permuted alike: the frame at a grid time is the latest stamped before it."""
    order = {n: np.argsort(np.asarray(v, float), kind="stable") for n, v in stamps.items()}
    return (
        {n: np.asarray(v, float)[order[n]] for n, v in stamps.items()},
        {n: np.asarray(v, np.int64)[order[n]] for n, v in logs.items()},
    )


def _segments(scan: _Scan, cfg: ConvertConfig, t_end: float) -> list[tuple[float, float, str]]:
    """(start, end, task) of every stretch with one non-empty instruction."""
    if cfg.instruction is not None:
        return [(-math.inf, math.inf, cfg.instruction)]
    if not scan.instructions:
        raise BagError(
            f"bag {scan.path}: no instruction on {cfg.instruction_topic}; pass --instruction"
        )
    # The first instruction holds from the bag's start (latched before recording began).
    out, t0, text = [], -math.inf, scan.instructions[0][1]
    for t, new in scan.instructions[1:]:
        if new != text:
            out.append((t0, t, text))
            t0, text = t, new
    out.append((t0, t_end, text))
    return [s for s in out if s[2]]


def _covered(times: dict[str, np.ndarray], max_gap: float) -> list[tuple[float, float]]:
    """Intervals where every stream has data with no gap longer than ``max_gap``."""
    lo = max(t[0] for t in times.values())
    hi = min(t[-1] for t in times.values())
    cuts: list[tuple[float, float]] = []
    for t in times.values():
        d = np.diff(t)
        cuts += [(t[i], t[i + 1]) for i in np.flatnonzero(d > max_gap)]
    out, start = [], lo
    for a, b in sorted(cuts):
        if a > start and start < hi:
            out.append((start, min(a, hi)))
        start = max(start, b)
    if start < hi:
        out.append((start, hi))
    return out


def _plan(scan: _Scan, cfg: ConvertConfig) -> tuple[list[_Episode], int]:
    """Episodes of one bag, and how many stretches were too short to keep."""
    streams = {**scan.state.streams(), **scan.action.streams()}
    streams.update({f"camera {n}": np.sort(s) for n, s in scan.frame_stamps.items()})
    for name, t in streams.items():
        if t.size == 0:
            raise BagError(f"bag {scan.path}: stream {name} has no messages")
    hi = max(t[-1] for t in streams.values())
    episodes, skipped = [], 0
    for s0, s1, task in _segments(scan, cfg, hi):
        for a, b in _covered(streams, cfg.max_gap):
            a, b = max(a, s0), min(b, s1)
            n = math.floor((b - a) * cfg.fps + 1e-9) + 1 if b >= a else 0
            if n < cfg.min_frames:
                skipped += 1
                continue
            times = a + np.arange(n) / cfg.fps
            frames = {
                name: np.searchsorted(scan.frame_stamps[name], times, side="right") - 1
                for name in scan.frame_stamps
            }
            episodes.append(_Episode(scan.path, task, times, frames))
    return episodes, skipped


def _resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if rgb.shape[:2] == size:
        return rgb
    import cv2

    return np.ascontiguousarray(cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA))


def _load_frames(
    reader: BagReader,
    scan: _Scan,
    ep: _Episode,
    cameras: dict[str, str],
    size: tuple[int, int] | None,
) -> dict[str, dict[int, np.ndarray]]:
    """Decode the frames ``ep`` uses: camera name -> frame index -> RGB (resized to ``size``,
    default the first camera's size)."""
    need = {n: set(ep.frames[n].tolist()) for n in cameras}
    by_log = {n: {int(scan.frame_logs[n][i]): i for i in need[n]} for n in cameras}
    lo = min(int(scan.frame_logs[n][i]) for n in cameras for i in need[n])
    hi = max(int(scan.frame_logs[n][i]) for n in cameras for i in need[n])
    cam_of = {t: n for n, t in cameras.items()}
    out: dict[str, dict[int, np.ndarray]] = {n: {} for n in cameras}
    for m in reader.messages(list(cameras.values()), lo, hi + 1):
        name = cam_of[m.topic]
        i = by_log[name].get(m.log_time_ns)
        if i is not None and i not in out[name]:
            out[name][i] = decode_image(m.msg, m.msgtype, m.topic)
    for n in cameras:
        if len(out[n]) != len(need[n]):
            raise BagError(f"bag {scan.path}: frames of camera {n} vanished between passes")
    if size is None:
        size = next(iter(out[next(iter(cameras))].values())).shape[:2]
    return {n: {i: _resize(f, size) for i, f in fr.items()} for n, fr in out.items()}


@dataclass
class ConvertSummary:
    """What a conversion wrote."""

    path: Path
    episodes: int
    frames: int
    tasks: list[str]
    skipped_short: int
    bags: int


def _check_bag(reader: BagReader, cfg: ConvertConfig, cameras: dict[str, str]) -> None:
    extra: dict[str, Any] = {t: JOINT_STATE_TYPE for t in cfg.action_topics}
    if cfg.instruction is None:
        extra[cfg.instruction_topic] = STRING_TYPE
    require_inputs(reader, cameras, cfg.state_topics, extra)


class _DatasetSink:
    """Creates the dataset writer at the first episode (when the image size is known)."""

    def __init__(self, out: Path, cfg: ConvertConfig, overwrite: bool) -> None:
        self.out, self.cfg, self.overwrite = out, cfg, overwrite
        self.writer: Any = None
        self.frames = 0
        self.tasks: list[str] = []

    def episode(self, scan: _Scan, ep: _Episode, frames: dict[str, dict[int, np.ndarray]]) -> None:
        # Lazy: vla_lego.data's package init imports torch; reading and checking a bag do not
        # need it.
        from vla_lego.data import LeRobotV3Writer

        names = list(frames)
        if self.writer is None:
            shape = next(iter(frames[names[0]].values())).shape[:2]
            self.writer = LeRobotV3Writer(
                self.out,
                self.cfg.fps,
                names,
                shape,
                self.cfg.layout,
                overwrite=self.overwrite,
                video=self.cfg.video,
                codec=self.cfg.codec,
            )
        state, action = scan.state.at(ep.times), scan.action.at(ep.times)
        for k in range(len(ep.times)):
            images = {n: frames[n][int(ep.frames[n][k])] for n in names}
            self.writer.add_frame(images, state[k], action[k], ep.task)
        self.writer.save_episode(source_bag=scan.path, bag_time=float(ep.times[0]))
        self.frames += len(ep.times)
        if ep.task not in self.tasks:
            self.tasks.append(ep.task)


def convert(
    bags: Sequence[str | Path],
    out: str | Path,
    cfg: ConvertConfig = ConvertConfig(),
    overwrite: bool = False,
    progress: bool = True,
) -> ConvertSummary:
    """Convert ``bags`` into one dataset at ``out`` (see the module docstring).

    Raises:
        FileExistsError: ``out`` exists and ``overwrite`` is False.
        BagError / LayoutMismatchError: an unusable bag (named); nothing is written then.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"dataset {out} exists already; choose another path or overwrite")
    if not bags:
        raise ValueError("no bags given")
    sink, cameras, skipped = _DatasetSink(out, cfg, overwrite), cfg.cameras, 0
    try:
        for bag in tqdm(list(bags), desc="bags", unit="bag", disable=not progress):
            with BagReader(bag) as reader:
                cameras = cameras or parse_camera_args(None, reader)
                _check_bag(reader, cfg, cameras)
                try:
                    scan = _scan(reader, cfg, cameras, progress)
                except LayoutMismatchError as e:
                    raise LayoutMismatchError(f"bag {bag}: {e}") from e
                episodes, short = _plan(scan, cfg)
                skipped += short
                for ep in episodes:
                    sink.episode(scan, ep, _load_frames(reader, scan, ep, cameras, cfg.image_size))
        if sink.writer is None:
            raise BagError(
                f"no episode in {len(bags)} bag(s): every stretch with an instruction and all "
                f"inputs was shorter than {cfg.min_frames} frames at {cfg.fps} Hz"
            )
        path = sink.writer.finalize()
    finally:
        if sink.writer is not None:
            sink.writer.close()  # removes the temporary directory unless finalized
    n_ep = sink.writer.num_episodes
    return ConvertSummary(path, n_ep, sink.frames, sink.tasks, skipped, len(bags))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vla-bag2dataset",
        description="Convert demonstration rosbags (cameras, joint states, commands, "
        "instruction) into a LeRobot v3 training dataset, resampled to --fps.",
    )
    p.add_argument("bags", nargs="+", help="bag directories (MCAP or sqlite3) or .mcap/.db3 files")
    p.add_argument("-o", "--out", required=True, help="dataset directory to create")
    p.add_argument("--fps", type=float, default=ConvertConfig.fps, help="dataset frame rate, Hz")
    p.add_argument(
        "--camera",
        action="append",
        metavar="NAME=TOPIC",
        help="camera view and topic in model order (repeat); default: every "
        ".../camera/<name>/image_raw topic of the first bag",
    )
    p.add_argument(
        "--state-topics",
        nargs="+",
        default=list(ConvertConfig.state_topics),
        metavar="TOPIC",
        help="JointState topics with the measured joints",
    )
    p.add_argument(
        "--action-topics",
        nargs="+",
        default=list(ConvertConfig.action_topics),
        metavar="TOPIC",
        help="JointState topics with the commanded joints",
    )
    p.add_argument("--instruction-topic", default=ConvertConfig.instruction_topic)
    p.add_argument("--instruction", help="task text for every episode (instead of the topic)")
    p.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="resize frames (default: the first camera's size)",
    )
    p.add_argument(
        "--max-gap",
        type=float,
        default=ConvertConfig.max_gap,
        metavar="S",
        help="a stream silent longer than S seconds ends the episode",
    )
    p.add_argument("--min-frames", type=int, default=ConvertConfig.min_frames)
    p.add_argument(
        "--allow-extra-joints",
        action="store_true",
        help="ignore joint names outside the robot layout instead of failing",
    )
    p.add_argument(
        "--video", action="store_true", help="store camera frames as mp4 video, as LeRobot does"
    )
    p.add_argument("--codec", default=ConvertConfig.codec, help="FFmpeg encoder for --video")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = ConvertConfig(
            fps=args.fps,
            cameras=T.parse_camera_items(args.camera) if args.camera else None,
            state_topics=tuple(args.state_topics),
            action_topics=tuple(args.action_topics),
            instruction_topic=args.instruction_topic,
            instruction=args.instruction,
            image_size=tuple(args.image_size) if args.image_size else None,
            max_gap=args.max_gap,
            min_frames=args.min_frames,
            allow_extra_joints=args.allow_extra_joints,
            video=args.video,
            codec=args.codec,
        )
        s = convert(args.bags, args.out, cfg, args.overwrite, progress=not args.quiet)
    except (BagError, LayoutMismatchError, ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"vla-bag2dataset: error: {e}", file=sys.stderr)
        return 2
    print(
        f"vla-bag2dataset: wrote {s.episodes} episodes, {s.frames} frames, tasks {s.tasks} "
        f"from {s.bags} bag(s) to {s.path}"
        + (f" ({s.skipped_short} short stretches skipped)" if s.skipped_short else "")
    )
    return 0


__all__ = ["ConvertConfig", "ConvertSummary", "build_parser", "convert", "main"]

if __name__ == "__main__":
    sys.exit(main())
