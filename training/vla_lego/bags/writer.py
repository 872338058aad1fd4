"""Atomic rosbag2 writing: a bag appears under its final name only once it is complete.

The bag is written as ``.<name>.partial/<name>`` beside its final place; :meth:`BagWriter.close`
writes the storage index and ``metadata.yaml``, fsyncs and renames the bag directory to its final
path. A crash leaves only the ``.partial`` directory, which no reader mistakes for a bag (it has no
``metadata.yaml``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from rosbags.interfaces import Connection, Qos
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from vla_lego.atomic import replace_directory
from vla_lego.bags.typestore import BagError, build_typestore, ensure_type

STORAGES: dict[str, StoragePlugin] = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


def partial_path(path: Path) -> Path:
    """Staging directory the bag at ``path`` is written in (as ``<staging>/<name>``)."""
    return path.parent / f".{path.name}.partial"


class BagWriter:
    """Write a rosbag2 bag (MCAP or sqlite3) atomically.

    Args:
        path: Final bag directory; must not exist unless ``overwrite``.
        storage: ``"mcap"`` (default) or ``"sqlite3"``.
        typestore: Message types; default :func:`build_typestore`.
        overwrite: Replace an existing bag at ``path`` (only once the new one is complete).
        custom_data: String key/values stored in ``metadata.yaml`` (provenance).

    Raises:
        ValueError: Unknown storage.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        storage: str = "mcap",
        typestore: Typestore | None = None,
        overwrite: bool = False,
        custom_data: dict[str, str] | None = None,
    ) -> None:
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {sorted(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"bag {self.path} exists already; choose another output path")
        self.storage = storage
        self.overwrite = overwrite
        self.typestore = typestore if typestore is not None else build_typestore()
        self.tmp = partial_path(self.path)
        self._writer: Writer | None = None
        self._connections: dict[str, Connection] = {}
        self._custom = dict(custom_data or {})
        self.bytes_written = 0
        self.message_count = 0

    def open(self) -> BagWriter:
        """Create the staging directory.

        Raises:
            FileExistsError: a staging directory from an interrupted write exists (it may hold
                data worth salvaging) and ``overwrite`` is False.
        """
        if self.tmp.exists():
            if not self.overwrite:
                raise FileExistsError(
                    f"{self.tmp} is left from an interrupted write of {self.path}; remove it "
                    "(or salvage its contents) first, or pass overwrite=True"
                )
            shutil.rmtree(self.tmp)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir()
        # Inside the staging dir the bag has its final name, so its storage file does too.
        self._writer = Writer(
            self.tmp / self.path.name,
            version=Writer.VERSION_LATEST,
            storage_plugin=STORAGES[self.storage],
        )
        for k, v in self._custom.items():
            self._writer.set_custom_data(k, v)
        self._writer.open()
        return self

    @property
    def topics(self) -> dict[str, str]:
        """Topic -> message type of every topic added so far."""
        return {t: c.msgtype for t, c in self._connections.items()}

    def add_topic(self, topic: str, msgtype: str, qos: list[Qos] | None = None) -> None:
        """Declare ``topic`` with ``msgtype`` (registered from its ``.msg`` text if needed).

        Raises:
            UnknownMessageTypeError: no definition of ``msgtype`` can be found.
            BagError: ``topic`` already added with another type.
        """
        if self._writer is None:
            raise RuntimeError("BagWriter.open() must be called before add_topic()")
        if topic in self._connections:
            have = self._connections[topic].msgtype
            if have != msgtype:
                raise BagError(
                    f"topic {topic} already recorded as {have}, now offered as {msgtype}"
                )
            return
        ensure_type(self.typestore, msgtype, where=topic)
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=self.typestore, offered_qos_profiles=qos or []
        )

    def write(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Append one CDR-serialised message received at ``timestamp_ns``."""
        if self._writer is None:
            raise RuntimeError("BagWriter is not open")
        self._writer.write(self._connections[topic], int(timestamp_ns), data)
        self.bytes_written += len(data)
        self.message_count += 1

    def write_msg(self, topic: str, timestamp_ns: int, msg: Any) -> None:
        """Serialise a ``rosbags`` message object of the topic's type and append it."""
        msgtype = self._connections[topic].msgtype
        self.write(topic, timestamp_ns, self.typestore.serialize_cdr(msg, msgtype))

    def close(self) -> Path:
        """Write index and metadata, fsync, and move the bag to its final name.

        Returns:
            The final bag path.
        """
        if self._writer is None:
            raise RuntimeError("BagWriter is not open")
        writer, self._writer = self._writer, None
        staged = self.tmp / self.path.name
        try:
            writer.close()
        except BaseException:
            writer.abort()
            raise
        if self.path.exists() and not self.overwrite:  # appeared since __init__: keep the partial
            raise FileExistsError(f"bag {self.path} exists already; the new one is in {self.tmp}")
        replace_directory(staged, self.path)  # fsyncs the bag first
        self.tmp.rmdir()
        return self.path

    def abort(self, keep_partial: bool = False) -> None:
        """Stop without finalising; the staging directory is removed unless ``keep_partial``."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abort()
        if not keep_partial and self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> BagWriter:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


__all__ = ["STORAGES", "BagWriter", "partial_path"]
