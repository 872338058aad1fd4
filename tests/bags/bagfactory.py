"""Bags written directly with ``rosbags`` (not by vla-record), for the bag tool tests."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from vla_lego.bags.typestore import build_typestore
from vla_lego.robot import H1_LAYOUT
from vla_lego.robot import topics as T

T0_NS = 1_700_000_000_000_000_000


def _header(ts: Typestore, t_ns: int, frame: str = "") -> Any:
    Time = ts.types["builtin_interfaces/msg/Time"]
    Header = ts.types["std_msgs/msg/Header"]
    return Header(stamp=Time(sec=t_ns // 10**9, nanosec=t_ns % 10**9), frame_id=frame)


def joint_state(ts: Typestore, t_ns: int, names: Sequence[str], pos: np.ndarray) -> Any:
    JS = ts.types["sensor_msgs/msg/JointState"]
    return JS(
        header=_header(ts, t_ns),
        name=list(names),
        position=np.asarray(pos, np.float64),
        velocity=np.zeros(0),
        effort=np.zeros(0),
    )


def image(ts: Typestore, t_ns: int, value: int, h: int = 24, w: int = 32) -> Any:
    Img = ts.types["sensor_msgs/msg/Image"]
    data = np.full((h, w, 3), value, np.uint8)
    data[:, :, 1] = (value * 3) % 256
    return Img(
        header=_header(ts, t_ns, "head_camera"),
        height=h,
        width=w,
        encoding="rgb8",
        is_bigendian=0,
        step=3 * w,
        data=data.reshape(-1),
    )


def compressed_image(ts: Typestore, t_ns: int, value: int, h: int = 24, w: int = 32) -> Any:
    from vla_lego.runtime.images import encode_compressed

    Img = ts.types["sensor_msgs/msg/CompressedImage"]
    rgb = np.full((h, w, 3), value, np.uint8)
    data = np.frombuffer(encode_compressed(rgb, "png"), np.uint8)
    return Img(
        header=_header(ts, t_ns, "head_camera"), format="rgb8; png compressed rgb8", data=data
    )


def demo_trajectory(t: np.ndarray | float) -> np.ndarray:
    """A smooth in-limits trajectory in the layout (arms and hands), t in seconds since start."""
    lo, hi = H1_LAYOUT.lower, H1_LAYOUT.upper
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    phase = np.linspace(0, math.pi, H1_LAYOUT.dim)
    tt = np.asarray(t, float)[..., None]
    return mid + 0.3 * half * np.sin(2 * math.pi * 0.3 * tt + phase)


def write_demo_bag(
    path: Path,
    storage: str = "mcap",
    duration: float = 3.0,
    camera_rate: float = 15.0,
    joint_rate: float = 50.0,
    command_rate: float = 50.0,
    instruction: str | None = "stack the red brick on the blue brick",
    joint_names: Sequence[str] = H1_LAYOUT.names,
    split_hands: bool = False,
    commands: bool = True,
    extra: Callable[[Writer, Typestore], None] | None = None,
    t0_ns: int = T0_NS,
    compressed: bool = False,
    image_size: tuple[int, int] = (24, 32),
    stamp_offset_ns: int = 0,
) -> Path:
    """A teleop-style demonstration: head camera, joint states following the commands, commands.

    ``stamp_offset_ns`` shifts every header stamp against the log times (a graph on sim time
    recorded with a wall-clock recorder).

    With ``split_hands`` the hand joints come on a separate ``/h1/hand_states`` topic; with
    ``compressed`` the camera is a PNG ``CompressedImage`` on ``.../image_raw/compressed``.
    """
    ts = build_typestore()
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    with Writer(path, version=9, storage_plugin=plugin) as w:
        c_img = (
            w.add_connection(
                T.HEAD_CAMERA_TOPIC + "/compressed", "sensor_msgs/msg/CompressedImage", typestore=ts
            )
            if compressed
            else w.add_connection(T.HEAD_CAMERA_TOPIC, "sensor_msgs/msg/Image", typestore=ts)
        )
        c_js = w.add_connection(T.JOINT_STATES_TOPIC, "sensor_msgs/msg/JointState", typestore=ts)
        c_hand = (
            w.add_connection("/h1/hand_states", "sensor_msgs/msg/JointState", typestore=ts)
            if split_hands
            else None
        )
        c_cmd = w.add_connection(T.ARM_COMMAND_TOPIC, "sensor_msgs/msg/JointState", typestore=ts)
        c_ins = w.add_connection(T.INSTRUCTION_TOPIC, "std_msgs/msg/String", typestore=ts)
        events: list[tuple[int, int, Any, Any]] = []
        if instruction is not None:
            String = ts.types["std_msgs/msg/String"]
            events.append((t0_ns, 0, c_ins, String(data=instruction)))
        for k in range(int(duration * camera_rate)):
            t = t0_ns + int(k * 1e9 / camera_rate) + 1_000_000
            make = compressed_image if compressed else image
            hs = t + stamp_offset_ns
            events.append((t, 1, c_img, make(ts, hs, 40 + 10 * (k // 10), *image_size)))
        names = list(joint_names)
        for k in range(int(duration * joint_rate)):
            t = t0_ns + int(k * 1e9 / joint_rate) + 2_000_000
            q = demo_trajectory((t - t0_ns) / 1e9 - 0.05)  # the robot lags its command
            if split_hands:
                arm = H1_LAYOUT.arm_slice
                hand = H1_LAYOUT.hand_slice
                hs = t + stamp_offset_ns
                events.append((t, 2, c_js, joint_state(ts, hs, names[arm], q[arm])))
                events.append((t, 3, c_hand, joint_state(ts, hs, names[hand], q[hand])))
            else:
                hs = t + stamp_offset_ns
                events.append((t, 2, c_js, joint_state(ts, hs, names, q[: len(names)])))
        if commands:
            for k in range(int(duration * command_rate)):
                t = t0_ns + int(k * 1e9 / command_rate) + 3_000_000
                q = demo_trajectory((t - t0_ns) / 1e9)
                hs = t + stamp_offset_ns
                events.append((t, 4, c_cmd, joint_state(ts, hs, H1_LAYOUT.names, q)))
        for t, _, conn, msg in sorted(events, key=lambda e: (e[0], e[1])):
            w.write(conn, t, ts.serialize_cdr(msg, conn.msgtype))
        if extra is not None:
            extra(w, ts)
    return path
