"""Live play: publish a bag's messages on their topics at the recorded rate (``ros2 bag play``).

Used by ``vla-replay-eval --live`` to drive a running graph (e.g. the real policy node) from a
recording. Messages go out as the raw CDR bytes stored in the bag, on publishers created with the
recorded QoS, paced by their log times (scaled by ``rate``). Two options make recorded inputs usable
by a node that checks staleness: ``restamp`` shifts every ``header.stamp`` so the recording looks
live (relative timing kept), and ``clock_hz`` publishes the bag time on ``/clock`` for nodes run
with ``use_sim_time``. The command line is ``vla-replay-eval --live``: this module has no ``main``
of its own, which would have to import that CLI back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from vla_lego.bags.reader import BagReader
from vla_lego.live.rosgraph import message_class, publisher_qos, ros_node
from vla_lego.robot import topics as T

# What the policy node publishes itself: not replayed into a live graph unless asked for.
POLICY_OUTPUT_TOPICS: tuple[str, ...] = (
    T.ARM_COMMAND_TOPIC,
    T.ACTION_CHUNK_TOPIC,
    T.POLICY_STATUS_TOPIC,
)
CLOCK_TOPIC = "/clock"


@dataclass(frozen=True)
class PlayOptions:
    """How to play a bag.

    Attributes:
        topics: Topics to publish (None: all but ``exclude``); named topics are published even
            when ``exclude`` lists them.
        exclude: Topics left out of "all topics".
        rate: Playback speed factor (2.0 plays twice as fast).
        start_delay: Seconds between creating publishers and the first message (discovery).
        restamp: Shift ``header.stamp`` of every message so the recording looks live.
        clock_hz: Publish the bag time on ``/clock`` at most this often (0: off).
        loop: Start over at the end until stopped.
        wait_for_subscribers: Before the first message, wait up to this many seconds until
            every published topic has a matched subscriber (0: do not wait).
    """

    topics: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = POLICY_OUTPUT_TOPICS
    rate: float = 1.0
    start_delay: float = 0.5
    restamp: bool = False
    clock_hz: float = 0.0
    loop: bool = False
    wait_for_subscribers: float = 0.0

    def __post_init__(self) -> None:
        if not 0.01 <= self.rate <= 100.0:
            raise ValueError(f"rate must be in [0.01, 100], got {self.rate}")
        if self.start_delay < 0 or self.clock_hz < 0:
            raise ValueError(f"start_delay and clock_hz must be >= 0, got {self}")


def _selected(reader: BagReader, opts: PlayOptions) -> list[str]:
    if opts.topics is not None:  # asked for by name: published, excluded by default or not
        reader.require({t: None for t in opts.topics})
        return sorted(set(opts.topics))
    names = sorted(set(reader.topics) - set(opts.exclude))
    if not names:
        raise ValueError(f"nothing to play: every topic of the bag is excluded ({opts.exclude})")
    return names


class _Restamper:
    """Rewrites ``header.stamp`` where present: ``new = wall0 + (stamp - bag0) / rate``."""

    def __init__(self, reader: BagReader, wall0_ns: int, bag0_ns: int, rate: float) -> None:
        self.store = reader.typestore
        self.wall0, self.bag0, self.rate = wall0_ns, bag0_ns, rate
        self._has_header: dict[str, bool] = {}

    def __call__(self, msgtype: str, data: bytes) -> bytes:
        if msgtype not in self._has_header:
            fields = self.store.fielddefs[msgtype][1]
            self._has_header[msgtype] = any(
                n == "header" and d[1] == "std_msgs/msg/Header" for n, d in fields
            )
        if not self._has_header[msgtype]:
            return data
        msg: Any = self.store.deserialize_cdr(data, msgtype)
        stamp = msg.header.stamp
        ns = self.wall0 + int((stamp.sec * 1_000_000_000 + stamp.nanosec - self.bag0) / self.rate)
        stamp.sec, stamp.nanosec = divmod(max(ns, 0), 1_000_000_000)
        return bytes(self.store.serialize_cdr(msg, msgtype))


def _make_publishers(node: Any, reader: BagReader, topics: Iterable[str]) -> dict[str, Any]:
    info = reader.topics
    pubs: dict[str, Any] = {}
    for t in topics:
        cls = message_class(info[t].msgtype)
        pubs[t] = node.create_publisher(cls, t, publisher_qos(info[t].qos, depth=100))
    return pubs


def play(
    bag: str,
    opts: PlayOptions = PlayOptions(),
    stop: threading.Event | None = None,
    progress: bool = True,
    node_name: str = "vla_play",
) -> int:
    """Publish ``bag`` into the live graph; return the number of messages published."""
    stop = stop or threading.Event()
    with BagReader(bag) as reader, ros_node(node_name) as node:
        topics = _selected(reader, opts)
        pubs = _make_publishers(node, reader, topics)
        clock_pub = None
        if opts.clock_hz > 0:
            from rosgraph_msgs.msg import Clock

            clock_pub = node.create_publisher(Clock, CLOCK_TOPIC, 10)
        print(f"vla-play: publishing {len(topics)} topics from {bag}: {topics}", flush=True)
        time.sleep(opts.start_delay)
        _wait_for_subscribers(pubs, opts.wait_for_subscribers, stop)
        total = sum(reader.topics[t].count for t in topics)
        sent = 0
        with tqdm(total=total, unit="msg", desc="playing", disable=not progress) as bar:
            while not stop.is_set():
                sent += _play_once(reader, topics, pubs, clock_pub, opts, stop, bar)
                if not opts.loop:
                    break
                bar.reset()
    print(f"vla-play: published {sent} messages", flush=True)
    return sent


def _play_once(
    reader: BagReader,
    topics: Sequence[str],
    pubs: dict[str, Any],
    clock_pub: Any,
    opts: PlayOptions,
    stop: threading.Event,
    bar: Any,
) -> int:
    bag0 = reader.start_ns
    wall0 = time.monotonic_ns()
    restamp = _Restamper(reader, time.time_ns(), bag0, opts.rate) if opts.restamp else None
    last_clock, sent = -1.0, 0
    for topic, t, msgtype, data in reader.raw_messages(topics):
        due = wall0 + (t - bag0) / opts.rate
        while not stop.is_set() and (wait := (due - time.monotonic_ns()) / 1e9) > 0:
            time.sleep(min(wait, 0.05))
        if stop.is_set():
            break
        if clock_pub is not None and time.monotonic() - last_clock >= 1.0 / opts.clock_hz:
            _publish_clock(clock_pub, t)
            last_clock = time.monotonic()
        pubs[topic].publish(restamp(msgtype, data) if restamp else bytes(data))
        sent += 1
        bar.update(1)
    return sent


def _wait_for_subscribers(pubs: dict[str, Any], timeout: float, stop: threading.Event) -> None:
    """Messages published before DDS matched a subscriber are lost: wait for the matches."""
    deadline = time.monotonic() + timeout
    while timeout > 0 and not stop.is_set() and time.monotonic() < deadline:
        if all(p.get_subscription_count() > 0 for p in pubs.values()):
            return
        time.sleep(0.05)
    lonely = [t for t, p in pubs.items() if p.get_subscription_count() == 0]
    if timeout > 0 and lonely:
        print(f"vla-play: no subscriber on {lonely} after {timeout} s; playing anyway", flush=True)


def _publish_clock(pub: Any, t_ns: int) -> None:
    from rosgraph_msgs.msg import Clock

    msg = Clock()
    msg.clock.sec, msg.clock.nanosec = divmod(int(t_ns), 1_000_000_000)
    pub.publish(msg)


__all__ = ["CLOCK_TOPIC", "POLICY_OUTPUT_TOPICS", "PlayOptions", "play"]
