"""Bag messages -> arrays in the robot layout: joint vectors, RGB frames, instructions, chunks.

Shared by replay-eval and bag2dataset so both read a bag the same way. Joint-state messages are
matched to :data:`vla_lego.robot.H1_LAYOUT` by name (any order, several topics may each carry part
of the joints, e.g. arms and hands); a name set that does not fit the layout is a
:class:`~vla_lego.robot.LayoutMismatchError` naming the missing and unexpected joints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vla_lego.bags.reader import BagReader, stamp_ns
from vla_lego.bags.typestore import BagError
from vla_lego.robot import ActionLayout, LayoutMismatchError
from vla_lego.robot import topics as T
from vla_lego.runtime.images import decode_compressed, decode_raw

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"
STRING_TYPE = "std_msgs/msg/String"
CHUNK_TYPE = "vla_lego_msgs/msg/ActionChunk"
_CAMERA_RE = re.compile(r"/camera/([^/]+)/image_raw(/compressed)?$")
# Model view order: head first, then wrists (the order of vla_lego.robot.topics).
_VIEW_ORDER = [T.HEAD_CAMERA_TOPIC, *T.WRIST_CAMERA_TOPICS]


def msg_time(msg: Any, log_time_ns: int) -> float:
    """Seconds: the header stamp when set, else the log (receive) time."""
    s = stamp_ns(msg)
    return (s if s > 0 else log_time_ns) / 1e9


def discover_cameras(reader: BagReader) -> dict[str, str]:
    """Camera name -> topic for every ``.../camera/<name>/image_raw[/compressed]`` image topic.

    Raw and compressed topics of one camera: the raw one wins. Order: head, left, right wrist, then
    others alphabetically.
    """
    found: dict[str, str] = {}
    for topic, info in sorted(reader.topics.items(), key=lambda kv: kv[0].endswith("compressed")):
        m = _CAMERA_RE.search(topic)
        if m and info.msgtype in IMAGE_TYPES and info.count > 0 and m.group(1) not in found:
            found[m.group(1)] = topic

    def rank(item: tuple[str, str]) -> tuple[int, str]:
        raw = item[1].removesuffix("/compressed")
        return (_VIEW_ORDER.index(raw) if raw in _VIEW_ORDER else len(_VIEW_ORDER), item[0])

    return dict(sorted(found.items(), key=rank))


def parse_camera_args(items: Sequence[str] | None, reader: BagReader) -> dict[str, str]:
    """``["head=/h1/camera/head/image_raw", ...]`` -> mapping; default :func:`discover_cameras`.

    Raises:
        BagError: a malformed item, or no camera topic at all.
    """
    if items:
        try:
            return T.parse_camera_items(items)
        except ValueError as e:
            raise BagError(str(e)) from None
    found = discover_cameras(reader)
    if not found:
        have = ", ".join(f"{t} [{s.msgtype}]" for t, s in sorted(reader.topics.items()))
        raise BagError(
            f"bag {reader.path} has no camera topics (.../camera/<name>/image_raw with "
            f"sensor_msgs/Image or CompressedImage); it has: {have}. Name them with --camera"
        )
    return found


def decode_image(msg: Any, msgtype: str, topic: str) -> np.ndarray:
    """RGB ``uint8 (H, W, 3)`` from an Image / CompressedImage message.

    Raises:
        BagError: naming the topic, when the payload is not a decodable image.
    """
    try:
        if msgtype == "sensor_msgs/msg/CompressedImage":
            return decode_compressed(msg.data, msg.format)
        return decode_raw(msg.data, msg.height, msg.width, msg.encoding, msg.step, msg.is_bigendian)
    except ValueError as e:
        raise BagError(f"bad image on {topic}: {e}") from e


@dataclass(frozen=True)
class JointColumns:
    """Where each joint of one topic's messages goes in the layout vector."""

    topic: str
    names: tuple[str, ...]
    layout_index: np.ndarray  # (k,) layout positions of the message entries kept
    message_index: np.ndarray  # (k,) entries of the message that are layout joints


class JointMapper:
    """Map JointState messages of one or more topics onto the layout vector.

    Args:
        layout: Robot layout.
        topics: Joint-state topics that together must name every layout joint.
        allow_extra: Ignore names outside the layout instead of raising.
    """

    def __init__(
        self, layout: ActionLayout, topics: Sequence[str], allow_extra: bool = False
    ) -> None:
        self.layout, self.topics, self.allow_extra = layout, tuple(topics), allow_extra
        self.columns: dict[str, JointColumns] = {}

    def columns_for(self, topic: str, names: Sequence[str]) -> JointColumns:
        """The column mapping of ``topic`` (fixed by its first message; later ones must agree).

        Raises:
            LayoutMismatchError: unknown joint names (unless ``allow_extra``), duplicates, or a
                message whose names differ from the topic's first.
        """
        key = tuple(names)
        have = self.columns.get(topic)
        if have is not None:
            if have.names != key:
                raise LayoutMismatchError(
                    f"joint names on {topic} changed from {list(have.names)} to {list(key)}"
                )
            return have
        if len(set(key)) != len(key):
            raise LayoutMismatchError(f"joint names on {topic} repeat: {list(key)}")
        known = set(self.layout.names)
        extra = [n for n in key if n not in known]
        if extra and not self.allow_extra:
            raise LayoutMismatchError(
                f"joint names on {topic} do not match the robot layout: unexpected {extra}; "
                f"layout joints are {list(self.layout.names)}"
            )
        pairs = [(self.layout.index(n), i) for i, n in enumerate(key) if n in known]
        cols = JointColumns(
            topic, key, np.array([p[0] for p in pairs], int), np.array([p[1] for p in pairs], int)
        )
        self.columns[topic] = cols
        return cols

    def check_complete(self) -> None:
        """Raise unless the topics seen so far together name every layout joint exactly once."""
        seen: dict[str, str] = {}
        for cols in self.columns.values():
            for i in cols.layout_index:
                name = self.layout.names[i]
                if name in seen:
                    raise LayoutMismatchError(
                        f"joint {name} is published on both {seen[name]} and {cols.topic}"
                    )
                seen[name] = cols.topic
        missing = [n for n in self.layout.names if n not in seen]
        if missing:
            raise LayoutMismatchError(
                f"joint-state topics {list(self.topics)} do not name layout joints {missing} "
                f"(got {sorted(seen)})"
            )

    def values(
        self, topic: str, msg: Any, field: str = "position"
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(layout indices, values)`` carried by one message.

        Raises:
            LayoutMismatchError / BagError: bad names, or ``field`` shorter than ``name``.
        """
        cols = self.columns_for(topic, list(msg.name))
        vals = np.asarray(getattr(msg, field), dtype=np.float64)
        if vals.shape[0] != len(cols.names):
            raise BagError(
                f"JointState on {topic} has {len(cols.names)} names but {vals.shape[0]} {field}s"
            )
        return cols.layout_index, vals[cols.message_index]


def require_inputs(
    reader: BagReader,
    cameras: Mapping[str, str],
    joint_topics: Sequence[str],
    extra: Mapping[str, str | Sequence[str] | None] | None = None,
) -> None:
    """Check the topics a tool needs (cameras, joint states, ``extra``) with their types."""
    req: dict[str, str | Sequence[str] | None] = {t: IMAGE_TYPES for t in cameras.values()}
    req.update({t: JOINT_STATE_TYPE for t in joint_topics})
    req.update(extra or {})
    reader.require(req)


__all__ = [
    "CHUNK_TYPE",
    "IMAGE_TYPES",
    "JOINT_STATE_TYPE",
    "STRING_TYPE",
    "JointColumns",
    "JointMapper",
    "decode_image",
    "discover_cameras",
    "msg_time",
    "parse_camera_args",
    "require_inputs",
]
