"""Benchmark the bag tools: bag write/read rates, offline replay speed, bag -> dataset rate.

    python bench/bags.py [--seconds 20] [--image 480 640] [--report bench/results/bags.md]

A synthetic teleop bag (head camera rgb8 at 15 Hz, joint states and commands at 50 Hz) is written
with :class:`vla_lego.bags.BagWriter` in MCAP and sqlite3, read back, replayed through the policy
node's runtime (a scripted policy, recorded-free simulated timing) and converted to a dataset.
Prints a markdown table; every rate comes from this one run.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import vla_lego.data  # noqa: F401  (imported up front: its torch import is not conversion time)
from vla_lego.bags import BagReader, BagWriter, build_typestore
from vla_lego.bags.bag2dataset import ConvertConfig, convert
from vla_lego.eval.replay import ReplayConfig, replay
from vla_lego.robot import H1_LAYOUT
from vla_lego.robot import topics as T
from vla_lego.runtime.scripted import SinePolicy

T0 = 1_700_000_000_000_000_000


def write_bag(path: Path, storage: str, seconds: float, image: tuple[int, int]) -> tuple[int, int]:
    """Returns (messages, bytes)."""
    ts = build_typestore()
    Img, JS = ts.types["sensor_msgs/msg/Image"], ts.types["sensor_msgs/msg/JointState"]
    Header, Time = ts.types["std_msgs/msg/Header"], ts.types["builtin_interfaces/msg/Time"]
    String = ts.types["std_msgs/msg/String"]
    h, w = image
    frame = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8).reshape(-1)

    def header(t: int) -> object:
        return Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id="")

    events: list[tuple[int, str, object]] = [(T0, T.INSTRUCTION_TOPIC, String(data="stack"))]
    events += [
        (
            t,
            T.HEAD_CAMERA_TOPIC,
            Img(
                header=header(t),
                height=h,
                width=w,
                encoding="rgb8",
                is_bigendian=0,
                step=3 * w,
                data=frame,
            ),
        )
        for t in (T0 + int(k * 1e9 / 15) for k in range(int(seconds * 15)))
    ]
    lo, hi = H1_LAYOUT.lower, H1_LAYOUT.upper
    for k in range(int(seconds * 50)):
        t = T0 + int(k * 1e9 / 50) + 1000
        q = (lo + hi) / 2 + 0.2 * (hi - lo) / 2 * math.sin(k / 50)
        for topic in (T.JOINT_STATES_TOPIC, T.ARM_COMMAND_TOPIC):
            events.append(
                (
                    t,
                    topic,
                    JS(
                        header=header(t),
                        name=list(H1_LAYOUT.names),
                        position=q,
                        velocity=np.zeros(0),
                        effort=np.zeros(0),
                    ),
                )
            )
    events.sort(key=lambda e: e[0])
    types = {
        T.INSTRUCTION_TOPIC: "std_msgs/msg/String",
        T.HEAD_CAMERA_TOPIC: "sensor_msgs/msg/Image",
        T.JOINT_STATES_TOPIC: "sensor_msgs/msg/JointState",
        T.ARM_COMMAND_TOPIC: "sensor_msgs/msg/JointState",
    }
    with BagWriter(path, storage=storage, typestore=ts) as bw:
        for topic, msgtype in types.items():
            bw.add_topic(topic, msgtype)
        for t, topic, msg in events:
            bw.write_msg(topic, t, msg)
        return bw.message_count, bw.bytes_written


def timed(fn: object, *args: object, **kw: object) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)  # type: ignore[operator]
    return out, time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="length of the synthetic bag")
    p.add_argument("--image", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    p.add_argument("--report", type=Path, help="also write the table to this markdown file")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for storage in ("mcap", "sqlite3"):
            bag = Path(tmp) / storage
            (n, nbytes), dt_w = timed(write_bag, bag, storage, args.seconds, tuple(args.image))
            rows.append(
                (f"write {storage}", f"{n / dt_w:,.0f} msg/s", f"{nbytes / dt_w / 1e6:,.0f} MB/s")
            )

            def read_all(b: Path = bag) -> int:
                with BagReader(b) as r:
                    return sum(1 for _ in r.messages())

            _, dt_r = timed(read_all)
            rows.append(
                (
                    f"read+decode {storage}",
                    f"{n / dt_r:,.0f} msg/s",
                    f"{nbytes / dt_r / 1e6:,.0f} MB/s",
                )
            )
        bag = Path(tmp) / "mcap"
        cfg = ReplayConfig(cameras={"head": T.HEAD_CAMERA_TOPIC})
        res, dt_p = timed(replay, bag, SinePolicy(), cfg, progress=False)
        ticks = len(res.tick_times)  # type: ignore[attr-defined]
        rows.append(
            (
                "replay-eval (scripted policy)",
                f"{args.seconds / dt_p:,.1f}x real time",
                f"{ticks / dt_p:,.0f} ticks/s",
            )
        )
        conv_cfg = ConvertConfig(fps=10, image_size=(224, 224))
        summary, dt_c = timed(convert, [bag], Path(tmp) / "ds", conv_cfg, progress=False)
        frames = summary.frames  # type: ignore[attr-defined]
        rows.append(
            (
                "bag2dataset (10 Hz, 224x224)",
                f"{frames / dt_c:,.0f} frames/s",
                f"{args.seconds / dt_c:,.1f}x real time",
            )
        )
    lines = [
        f"Bag tools, {args.seconds:g} s synthetic bag, {args.image[0]}x{args.image[1]} rgb8 "
        "camera at 15 Hz, joints + commands at 50 Hz",
        "",
        "| step | rate | also |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(lines)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
