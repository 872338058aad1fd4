"""``vla-record``: record topics of a live ROS 2 graph into a rosbag2 bag (MCAP or sqlite3).

Subscriptions are generic and raw (CDR bytes go to the bag untouched); topics and their types are
discovered from the graph, also when they appear after the recorder started. The bag is written
into a staging directory and moved to its final name when recording ends: by a limit
(``--duration``, ``--max-size``, ``--max-messages``), Ctrl-C or SIGTERM. If recording fails the
staging directory stays (without ``metadata.yaml``) and is named in the error.

Example::

    vla-record runs/demo_001 --duration 60          # the project's standard topics, MCAP
    vla-record runs/all --all --exclude '/rosout'   # every topic on the graph
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from tqdm import tqdm

from vla_lego.bags.typestore import BagError, UnknownMessageTypeError, build_typestore
from vla_lego.bags.writer import STORAGES, BagWriter
from vla_lego.live.rosgraph import message_class, qos_to_bag, ros_node, subscription_qos
from vla_lego.robot import topics as T

DEFAULT_TOPICS: tuple[str, ...] = (
    T.HEAD_CAMERA_TOPIC,
    *T.WRIST_CAMERA_TOPICS,
    T.JOINT_STATES_TOPIC,
    T.ARM_COMMAND_TOPIC,
    T.INSTRUCTION_TOPIC,
    T.ACTION_CHUNK_TOPIC,
    T.POLICY_STATUS_TOPIC,
    T.POLICY_PARAMS_TOPIC,
    T.SIM_TASK_STATUS_TOPIC,
)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


@dataclass(frozen=True)
class RecordLimits:
    """When to stop recording (None: no limit).

    Attributes:
        duration_s: Seconds of wall time since recording started.
        max_bytes: Total serialised message bytes.
        max_messages: Total messages.
    """

    duration_s: float | None = None
    max_bytes: int | None = None
    max_messages: int | None = None

    def __post_init__(self) -> None:
        for name in ("duration_s", "max_bytes", "max_messages"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"{name} must be > 0 (or None for no limit), got {v}")


def parse_size(text: str) -> int:
    """``"500K"``, ``"64M"``, ``"2G"`` or a plain byte count -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)i?B?\s*", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"size must look like 500K, 64M, 2G or 1000, got {text!r}")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


class BagRecorder:
    """Subscribe to selected topics of ``node``'s graph and append raw messages to ``writer``.

    Args:
        node: rclpy node to subscribe with.
        writer: An open :class:`BagWriter`.
        topics: Topics to record; None records every topic not matching ``exclude``.
        exclude: Regular expression of topic names to skip (with ``topics=None``).
        limits: When :attr:`stop_reason` becomes set.
        depth: Subscription queue depth.
        progress: Optional tqdm bar updated per message.
    """

    def __init__(
        self,
        node: Any,
        writer: BagWriter,
        topics: Sequence[str] | None,
        exclude: str | None = None,
        limits: RecordLimits = RecordLimits(),
        depth: int = 100,
        progress: Any = None,
    ) -> None:
        self.node, self.writer, self.limits, self.depth = node, writer, limits, depth
        self.topics = None if topics is None else set(topics)
        self.exclude = re.compile(exclude) if exclude else None
        self.progress = progress
        self.subscriptions: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.stop_reason: str | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def _wanted(self, topic: str) -> bool:
        if self.topics is not None:
            return topic in self.topics
        return not (self.exclude and self.exclude.search(topic))

    def poll_discovery(self) -> None:
        """Subscribe to wanted topics that appeared on the graph since the last poll."""
        for topic, types in self.node.get_topic_names_and_types():
            if topic in self.subscriptions or topic in self.skipped or not self._wanted(topic):
                continue
            try:
                self._subscribe(topic, types)
            except (UnknownMessageTypeError, BagError) as e:
                if self.topics is not None:  # asked for explicitly: recording cannot go on
                    self.error = e
                    self.stop_reason = "error"
                    return
                self.skipped[topic] = str(e)
                print(f"vla-record: skipping {topic}: {e}", file=sys.stderr, flush=True)

    def _subscribe(self, topic: str, types: Sequence[str]) -> None:
        pubs = self.node.get_publishers_info_by_topic(topic)
        if not pubs:
            # Only subscribers known so far (e.g. the policy node's input before its source is
            # up): without a publisher's QoS the subscription could be incompatible with it (a
            # best-effort camera) and the bag would list no offered QoS. Next poll, as ros2 bag.
            return
        if len(types) != 1:
            raise BagError(f"topic {topic} is published with several types {list(types)}")
        msgtype = types[0]
        cls = message_class(msgtype)
        live_hash = next((str(p.topic_type_hash) for p in pubs if p.topic_type_hash), "")
        self.writer.add_topic(topic, msgtype, qos=[qos_to_bag(p.qos_profile) for p in pubs])
        ours = self.writer.typestore.hash_rihs01(msgtype)
        if live_hash.startswith("RIHS01_") and live_hash != ours:
            raise UnknownMessageTypeError(
                f"{msgtype} on {topic}: the graph's type hash {live_hash} differs from the "
                f"definition found on disk ({ours}); rebuild/source the matching interfaces"
            )
        qos = subscription_qos([p.qos_profile for p in pubs], self.depth)
        self.subscriptions[topic] = self.node.create_subscription(
            cls, topic, partial(self._on_message, topic), qos, raw=True
        )
        print(f"vla-record: subscribed {topic} [{msgtype}]", flush=True)

    def _on_message(self, topic: str, data: bytes) -> None:
        if self.stop_reason is not None:
            return
        stamp = self.node.get_clock().now().nanoseconds
        with self._lock:
            self.writer.write(topic, stamp, data)
        if self.progress is not None:
            self.progress.update(1)
        lim = self.limits
        if lim.max_bytes is not None and self.writer.bytes_written >= lim.max_bytes:
            self.stop_reason = f"size limit {lim.max_bytes} B reached"
        elif lim.max_messages is not None and self.writer.message_count >= lim.max_messages:
            self.stop_reason = f"message limit {lim.max_messages} reached"

    def close(self) -> None:
        for sub in self.subscriptions.values():
            self.node.destroy_subscription(sub)
        self.subscriptions.clear()


def _install_stop_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def record(
    output: str,
    topics: Sequence[str] | None = DEFAULT_TOPICS,
    exclude: str | None = None,
    storage: str = "mcap",
    limits: RecordLimits = RecordLimits(),
    overwrite: bool = False,
    node_name: str = "vla_record",
    stop: threading.Event | None = None,
    progress: bool = True,
    use_sim_time: bool = False,
) -> str:
    """Record until a limit, ``stop`` is set, or SIGINT/SIGTERM; return the finished bag path.

    ``use_sim_time``: log times come from ``/clock`` (as ``ros2 bag record --use-sim-time``), so
    they share the clock of the header stamps of a graph running on sim time.

    Raises:
        UnknownMessageTypeError / BagError: an explicitly requested topic cannot be recorded (the
            partial bag is kept under its ``.partial`` name for salvage).
    """
    from rclpy.executors import SingleThreadedExecutor

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        _install_stop_signals(stop)
    writer = BagWriter(
        output,
        storage=storage,
        typestore=build_typestore(),
        overwrite=overwrite,
        custom_data={"vla_lego.recorder": "vla-record"},
    ).open()
    bar = tqdm(unit="msg", desc="recording", disable=not progress, file=sys.stderr)
    with ros_node(node_name, use_sim_time=use_sim_time) as node:
        rec = BagRecorder(node, writer, topics, exclude, limits, progress=bar)
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)
        node.create_timer(0.2, rec.poll_discovery)
        rec.poll_discovery()
        print(f"vla-record: recording to {output}", flush=True)
        t0 = time.monotonic()
        try:
            while rec.stop_reason is None and not stop.is_set() and node.context.ok():
                executor.spin_once(timeout_sec=0.05)
                if limits.duration_s is not None and time.monotonic() - t0 >= limits.duration_s:
                    rec.stop_reason = f"duration {limits.duration_s} s reached"
        except BaseException:
            writer.abort(keep_partial=True)
            raise
        finally:
            rec.close()
            executor.shutdown(timeout_sec=1.0)
            bar.close()
        if rec.error is not None:
            writer.abort(keep_partial=True)
            raise type(rec.error)(f"{rec.error} (partial recording kept in {writer.tmp})")
    path = writer.close()
    reason = rec.stop_reason or "stopped"
    print(f"vla-record: {reason}; wrote {writer.message_count} messages to {path}", flush=True)
    return str(path)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vla-record",
        description="Record ROS 2 topics into a rosbag2 bag (MCAP by default). The bag gets its "
        "final name only when complete: on a limit, Ctrl-C or SIGTERM.",
    )
    p.add_argument("output", help="bag directory to create (must not exist)")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "-t",
        "--topics",
        nargs="+",
        metavar="TOPIC",
        help="topics to record (default: the project's camera, joint, command, "
        "instruction, chunk and status topics)",
    )
    g.add_argument("-a", "--all", action="store_true", help="record every topic on the graph")
    p.add_argument("--exclude", metavar="REGEX", help="with --all: skip topics matching REGEX")
    p.add_argument("-s", "--storage", choices=sorted(STORAGES), default="mcap")
    p.add_argument("-d", "--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument(
        "--max-size",
        type=parse_size,
        metavar="SIZE",
        help="stop after SIZE bytes of messages (e.g. 500M, 2G)",
    )
    p.add_argument("--max-messages", type=int, metavar="N", help="stop after N messages")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bag at OUTPUT")
    p.add_argument("--node-name", default="vla_record")
    p.add_argument(
        "--use-sim-time",
        action="store_true",
        help="log times from /clock (record a graph that runs on sim time)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.exclude and not args.all:
        parser.error("--exclude only applies with --all")
    topics = None if args.all else (args.topics or list(DEFAULT_TOPICS))
    try:
        limits = RecordLimits(args.duration, args.max_size, args.max_messages)
        record(
            args.output,
            topics,
            args.exclude,
            args.storage,
            limits,
            args.overwrite,
            args.node_name,
            progress=not args.quiet,
            use_sim_time=args.use_sim_time,
        )
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"vla-record: error: {e}", file=sys.stderr)
        return 2
    return 0


__all__ = [
    "DEFAULT_TOPICS",
    "BagRecorder",
    "RecordLimits",
    "build_parser",
    "main",
    "parse_size",
    "record",
]

if __name__ == "__main__":
    sys.exit(main())
