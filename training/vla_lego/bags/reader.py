"""Reading rosbag2 bags (MCAP or sqlite3) with clear errors for every way a bag can be unusable.

Message types are resolved from the standard ROS 2 store and ``vla_lego_msgs`` first, then from the
definitions stored in the bag itself (MCAP schemas, sqlite3 ``message_definitions``). Problems
surface as :class:`~vla_lego.bags.typestore.BagError` naming the bag and, where it applies, the
topic: not a bag, an interrupted recording, a truncated or corrupt file, a missing topic, a topic
of the wrong type, an unknown message type, or a type whose definition differs from this build's.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from rosbags.interfaces import Connection, MessageDefinitionFormat, Qos
from rosbags.rosbag2 import Reader, ReaderError
from rosbags.serde import SerdeError
from rosbags.typesys import TypesysError, get_types_from_idl, get_types_from_msg
from rosbags.typesys.store import Typestore

from vla_lego.bags.typestore import BagError, UnknownMessageTypeError, build_typestore, ensure_type

# The storage back-ends raise all sorts on damaged files (ReaderError, sqlite3.Error, struct.error,
# OverflowError from a garbage length field, ...): anything but a permission problem is damage.
_DAMAGE: tuple[type[Exception], ...] = (ReaderError, sqlite3.Error, Exception)


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag."""

    topic: str
    msgtype: str
    count: int
    qos: tuple[Qos, ...] = ()


@dataclass(frozen=True)
class BagMessage:
    """One deserialised message: ``msg`` is a ``rosbags`` message object."""

    topic: str
    log_time_ns: int
    msgtype: str
    msg: Any


def _register_from_bag(store: Typestore, conn: Connection) -> None:
    """Register ``conn``'s type from the definition stored in the bag, if it carries one."""
    fmt, text = conn.msgdef.format, conn.msgdef.data
    if fmt == MessageDefinitionFormat.MSG and text:
        store.register(get_types_from_msg(text, conn.msgtype))
    elif fmt == MessageDefinitionFormat.IDL and text:
        sep = "=" * 80 + "\n"
        parts = text.split(sep)[1:] if text.startswith(sep + "IDL: ") else [text]
        for part in parts:
            idl = part.split("\n", 1)[1] if part.startswith("IDL: ") else part
            store.register(get_types_from_idl(idl))


class BagReader:
    """Open a rosbag2 bag for reading.

    Args:
        path: Bag directory (with ``metadata.yaml``) or a single ``.mcap`` / ``.db3`` file.
        typestore: Known message types; default :func:`build_typestore`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        BagError: ``path`` is not a complete, readable bag.
    """

    def __init__(self, path: str | os.PathLike[str], typestore: Typestore | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"bag {self.path} does not exist")
        if self.path.is_dir() and not (self.path / "metadata.yaml").is_file():
            raise BagError(
                f"{self.path} is not a complete rosbag2 bag: it has no metadata.yaml "
                "(an interrupted recording, or not a bag directory)"
            )
        self.typestore = typestore if typestore is not None else build_typestore()
        self._reader: Reader | None = None
        self._problems: dict[str, str] = {}

    # -- lifecycle --------------------------------------------------------------------------
    def open(self) -> BagReader:
        try:
            reader = Reader(self.path)
            reader.open()
        except (BagError, PermissionError):
            raise
        except _DAMAGE as e:
            raise BagError(f"cannot open bag {self.path}: truncated or corrupt ({e})") from e
        self._reader = reader
        self._resolve_types()
        return self

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def __enter__(self) -> BagReader:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        self.close()
        return False

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            raise RuntimeError("BagReader is not open; use it as a context manager")
        return self._reader

    def _resolve_types(self) -> None:
        """Make every topic's type known; remember (not raise) problems until a topic is used."""
        for conn in self.reader.connections:
            try:
                if conn.msgtype not in self.typestore.fielddefs:
                    _register_from_bag(self.typestore, conn)
                ensure_type(self.typestore, conn.msgtype, where=conn.topic)
            except (UnknownMessageTypeError, TypesysError) as e:
                self._problems[conn.topic] = str(e)
                continue
            have = self.typestore.hash_rihs01(conn.msgtype)
            if conn.digest and conn.digest.startswith("RIHS01_") and conn.digest != have:
                self._problems[conn.topic] = (
                    f"message type {conn.msgtype} on {conn.topic} has type hash {conn.digest} in "
                    f"the bag but {have} in this build: the message definition changed"
                )

    # -- metadata ---------------------------------------------------------------------------
    @property
    def topics(self) -> dict[str, TopicSummary]:
        """Topic name -> summary, for every topic in the bag."""
        out: dict[str, TopicSummary] = {}
        for name, info in self.reader.topics.items():
            qos: tuple[Qos, ...] = ()
            for c in info.connections:
                qos += tuple(getattr(c.ext, "offered_qos_profiles", ()) or ())
            out[name] = TopicSummary(name, info.msgtype or "?", info.msgcount, qos)
        return out

    @property
    def start_ns(self) -> int:
        return int(self.reader.start_time)

    @property
    def end_ns(self) -> int:
        return int(self.reader.end_time)

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9 if self.reader.message_count else 0.0

    @property
    def message_count(self) -> int:
        return int(self.reader.message_count)

    def require(self, required: Mapping[str, str | Iterable[str] | None]) -> None:
        """Check that each topic exists, has messages and (optionally) an allowed type.

        Args:
            required: topic -> allowed message type(s), or None for any type.

        Raises:
            BagError: naming every missing/empty topic or wrong type, and what the bag has.
        """
        topics = self.topics
        problems = []
        for topic, allowed in required.items():
            if topic not in topics or topics[topic].count == 0:
                problems.append(f"missing required topic {topic}")
                continue
            if allowed is None:
                continue
            ok = {allowed} if isinstance(allowed, str) else set(allowed)
            if topics[topic].msgtype not in ok:
                problems.append(
                    f"topic {topic} has type {topics[topic].msgtype}, expected {sorted(ok)}"
                )
        if problems:
            have = ", ".join(f"{t} [{s.msgtype}, {s.count}]" for t, s in sorted(topics.items()))
            raise BagError(f"bag {self.path}: " + "; ".join(problems) + f". The bag has: {have}")

    # -- messages ---------------------------------------------------------------------------
    def _connections(self, topics: Iterable[str] | None) -> list[Connection]:
        conns = list(self.reader.connections)
        if topics is None:
            return conns
        wanted = set(topics)
        return [c for c in conns if c.topic in wanted]

    def raw_messages(
        self,
        topics: Iterable[str] | None = None,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> Iterator[tuple[str, int, str, bytes]]:
        """``(topic, log_time_ns, msgtype, cdr_bytes)`` in log-time order, optionally only with
        ``start_ns <= log time < stop_ns``.

        Raises:
            BagError: the storage is damaged part-way.
        """
        conns = self._connections(topics)
        if not conns:
            return
        it = self.reader.messages(connections=conns, start=start_ns, stop=stop_ns)
        while True:
            try:
                conn, t, data = next(it)
            except StopIteration:
                return
            except _DAMAGE as e:
                raise BagError(f"bag {self.path} is truncated or corrupt: {e!r}") from e
            yield conn.topic, int(t), conn.msgtype, data

    def messages(
        self,
        topics: Iterable[str] | None = None,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> Iterator[BagMessage]:
        """Deserialised messages of ``topics`` (all when None) in log-time order (optionally
        only those with ``start_ns <= log time < stop_ns``).

        Raises:
            UnknownMessageTypeError / BagError: a requested topic's type cannot be decoded, or
                a message is corrupt.
        """
        wanted = set(topics) if topics is not None else set(self.topics)
        for topic in sorted(wanted & set(self._problems)):
            raise UnknownMessageTypeError(f"bag {self.path}: {self._problems[topic]}")
        for topic, t, msgtype, data in self.raw_messages(wanted, start_ns, stop_ns):
            try:
                msg = self.typestore.deserialize_cdr(data, msgtype)
            except (SerdeError, AssertionError, IndexError, ValueError, KeyError) as e:
                raise BagError(
                    f"bag {self.path}: message on {topic} at {t} ns does not decode as "
                    f"{msgtype} ({e!r}); the bag is corrupt"
                ) from e
            yield BagMessage(topic, t, msgtype, msg)


def stamp_ns(msg: Any) -> int:
    """The ``header.stamp`` of ``msg`` in ns (0 when it has no header)."""
    header = getattr(msg, "header", None)
    if header is None:
        return 0
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


__all__ = ["BagMessage", "BagReader", "TopicSummary", "stamp_ns"]
