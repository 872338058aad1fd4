"""Can this dataset be trained on? ``python -m vla_lego.data.inspect ROOT [options]``.

Prints the LeRobot version, episodes, frames, fps, every camera (storage, resolution, codec),
the mapping of cameras and joints onto the model (what is missing, what is dropped) and the first
problems found; then reads every frame's metadata and decodes the first and last frame of each
episode of each video. Exit code 0: trainable as configured; 1: problems listed; 2: bad usage.

The options are the data config's mapping keys (``data.camera_map`` etc., configs/data/sim.yaml)::

    --camera-map head=observation.images.cam_high   (repeat per slot)
    --allow-missing-camera left_wrist
    --joint-alias left_elbow_joint=l_elbow
    --missing-joint left_hand_pinky=0.0
    --image-size 224
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vla_lego.data.formats import DatasetError, LeRobotSource, feature_names, read_info
from vla_lego.data.mapping import MappingError, describe, map_cameras, map_joints
from vla_lego.data.video import VideoError, probe_video
from vla_lego.robot import H1_LAYOUT

_VECTORS = ("observation.state", "action")


def _pairs(items: Sequence[str], what: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        if "=" not in item:
            raise ValueError(f"{what} expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out.append((k.strip(), v.strip()))
    return out


def _camera_lines(src: LeRobotSource) -> tuple[list[str], list[str]]:
    lines, problems = [], []
    for key, dtype in src.cameras.items():
        feat = src.features[key]
        shape = feat.get("shape")
        codec = ""
        if dtype == "video":
            codec = str(feat.get("info", {}).get("video.codec", "?"))
            first = src.episodes[0].videos.get(key) if src.episodes else None
            if first is not None:
                try:
                    probed = probe_video(first[0])
                    codec = f"{probed['video.codec']} {probed['video.width']}x"
                    codec += f"{probed['video.height']} {probed['video.pix_fmt']}"
                except VideoError as e:
                    problems.append(str(e))
        lines.append(f"  {key:<34} {dtype:<6} shape {shape} {codec}".rstrip())
    return lines, problems


def inspect_dataset(root: str | Path, **mapping: Any) -> tuple[str, list[str]]:
    """The report text and the list of problems (empty: trainable) for the dataset at ``root``.

    Args:
        root: Dataset directory.
        **mapping: The data config's mapping options (``camera_map``, ``allow_missing_cameras``,
            ``joint_aliases``, ``missing_joints``) and ``image_size``.
    """
    root = Path(root)
    out: list[str] = [f"dataset {root}"]
    problems: list[str] = []
    try:
        info = read_info(root)
        src = LeRobotSource(root)
    except DatasetError as e:
        return "\n".join([*out, "problems:", f"  - {e}"]), [str(e)]
    n_frames, n_eps = int(info["total_frames"]), int(info["total_episodes"])
    out.append(
        f"  LeRobot {src.version}, {n_eps} episodes, {n_frames} frames, {src.fps:g} fps, "
        f"robot_type {info.get('robot_type')!r}, {len(src.tasks)} tasks"
    )
    out.append("cameras:")
    lines, cam_problems = _camera_lines(src)
    out += lines
    problems += cam_problems
    try:
        cams = map_cameras(
            list(src.cameras),
            mapping.get("camera_map"),
            None,
            mapping.get("allow_missing_cameras") or (),
        )
    except MappingError as e:
        problems.append(str(e))
        cams = None
    joint_maps = []
    for key in _VECTORS:
        if key not in src.features:
            problems.append(f"feature {key!r} missing")
            continue
        names = feature_names(info, key)
        fills = dict(mapping.get("missing_joints") or {})
        try:
            joint_maps.append(
                map_joints(key, names, H1_LAYOUT, mapping.get("joint_aliases"), fills)
            )
        except MappingError as e:
            problems.append(str(e))
            try:  # show the partial match anyway: everything missing filled with 0
                every = {n: fills.get(n, 0.0) for n in H1_LAYOUT.names}
                joint_maps.append(
                    map_joints(key, names, H1_LAYOUT, mapping.get("joint_aliases"), every)
                )
            except MappingError:
                pass
    if cams is not None:
        out.append(describe(cams, joint_maps, H1_LAYOUT))
    if not problems:  # the full read: frame counts, timestamps, task indices, video frames
        from vla_lego.data.dataset import LegoDataset

        try:
            ds = LegoDataset(root, horizon=1, **mapping)
            ds.check_videos()
            out.append("read every frame's metadata and the ends of each video: ok")
        except (DatasetError, ValueError) as e:
            problems.append(str(e))
    out.append("problems:" if problems else "problems: none, trainable")
    out += [f"  - {p}" for p in problems[:10]]
    return "\n".join(out), problems


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m vla_lego.data.inspect",
        description="Report what a LeRobot dataset holds and whether it can be trained on.",
    )
    p.add_argument("root", help="dataset directory (holds meta/info.json)")
    p.add_argument("--camera-map", action="append", default=[], metavar="SLOT=KEY")
    p.add_argument("--allow-missing-camera", action="append", default=[], metavar="SLOT")
    p.add_argument("--joint-alias", action="append", default=[], metavar="JOINT=NAME")
    p.add_argument("--missing-joint", action="append", default=[], metavar="JOINT=VALUE")
    p.add_argument("--image-size", type=int, default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        aliases: dict[str, list[str]] = {}
        for j, n in _pairs(args.joint_alias, "--joint-alias"):
            aliases.setdefault(j, []).append(n)
        mapping: dict[str, Any] = {
            "camera_map": dict(_pairs(args.camera_map, "--camera-map")) or None,
            "allow_missing_cameras": list(args.allow_missing_camera),
            "joint_aliases": aliases or None,
            "missing_joints": {
                j: float(v) for j, v in _pairs(args.missing_joint, "--missing-joint")
            }
            or None,
            "image_size": args.image_size,
        }
    except ValueError as e:
        print(f"inspect: error: {e}", file=sys.stderr)
        return 2
    text, problems = inspect_dataset(args.root, **mapping)
    print(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["build_parser", "inspect_dataset", "main"]
