"""Message types for rosbag2 files: the ROS 2 Kilted standard types plus the project's own.

Bags are written and read with the ``rosbags`` library (``rosbag2_py`` does not exist in the pip
environment). ``rosbags`` ships the standard message definitions; the project's messages
(``vla_lego_msgs``) and any other interface package are registered from their ``.msg`` text, found
through the ament index (``$AMENT_PREFIX_PATH/share/<pkg>/msg``) or the source tree. The RIHS01
hashes ``rosbags`` computes from that text match the ones ``rosidl`` generates, so ``ros2 bag
info``, ``ros2 bag play`` and Foxglove see the same types as the live graph.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, TypesysError, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

# The distribution whose standard message definitions the bags carry.
DEFAULT_STORE = Stores.ROS2_KILTED
PROJECT_MSG_PACKAGE = "vla_lego_msgs"
_REPO_ROOT = Path(__file__).resolve().parents[3]
_SOURCE_MSG_DIRS = (_REPO_ROOT / "ros2_ws" / "src",)


class BagError(ValueError):
    """A bag cannot be used: missing, truncated, corrupt, or without what the tool needs."""


class UnknownMessageTypeError(BagError):
    """A message type has no definition in the typestore, the ament index or the bag."""


def _ament_prefixes() -> list[Path]:
    return [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]


def find_msg_dir(package: str) -> Path | None:
    """Directory holding ``package``'s ``.msg`` files, or None.

    Looks in ``$VLA_LEGO_MSG_PATH`` (``os.pathsep``-separated roots containing ``<pkg>/msg``), the
    ament index prefixes (``<prefix>/share/<pkg>/msg``), then this repository's ``ros2_ws/src``.
    """
    roots = [Path(p) for p in os.environ.get("VLA_LEGO_MSG_PATH", "").split(os.pathsep) if p]
    candidates = [r / package / "msg" for r in roots]
    candidates += [p / "share" / package / "msg" for p in _ament_prefixes()]
    candidates += [r / package / "msg" for r in _SOURCE_MSG_DIRS]
    for c in candidates:
        if c.is_dir() and any(c.glob("*.msg")):
            return c
    return None


def _types_from_msg_dir(package: str, msg_dir: Path) -> dict[str, Any]:
    types: dict[str, Any] = {}
    for f in sorted(msg_dir.glob("*.msg")):
        types.update(get_types_from_msg(f.read_text(encoding="utf-8"), f"{package}/msg/{f.stem}"))
    return types


def _nested_names(fielddefs: dict[str, Any]) -> set[str]:
    """Message type names referenced by the fields of ``fielddefs`` (recursively into arrays)."""
    names: set[str] = set()

    def visit(desc: tuple[Any, Any]) -> None:
        node, rest = desc
        if node == Nodetype.NAME:
            names.add(str(rest))
        elif node in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            visit(rest[0])

    for _consts, fields in fielddefs.values():
        for _name, desc in fields:
            visit(desc)
    return names


def register_package(store: Typestore, package: str) -> bool:
    """Register every message of ``package`` (and packages it references) found on disk.

    Returns:
        True if the package's ``.msg`` files were found and registered.
    """
    pending, done = [package], set()
    found = False
    while pending:
        pkg = pending.pop()
        done.add(pkg)
        msg_dir = find_msg_dir(pkg)
        if msg_dir is None:
            continue
        types = _types_from_msg_dir(pkg, msg_dir)
        store.register(types)
        found = found or pkg == package
        for ref in _nested_names(types):
            ref_pkg = ref.split("/", 1)[0]
            if ref not in store.fielddefs and ref_pkg not in done:
                pending.append(ref_pkg)
    return found


def build_typestore(extra_packages: Iterable[str] = ()) -> Typestore:
    """A typestore with the standard ROS 2 types and ``vla_lego_msgs`` (plus ``extra_packages``).

    Raises:
        UnknownMessageTypeError: ``vla_lego_msgs`` definitions cannot be found.
    """
    store = get_typestore(DEFAULT_STORE)
    for pkg in (PROJECT_MSG_PACKAGE, *extra_packages):
        if not register_package(store, pkg):
            raise UnknownMessageTypeError(
                f"message definitions of package {pkg!r} not found; looked in "
                f"$VLA_LEGO_MSG_PATH, $AMENT_PREFIX_PATH/share/{pkg}/msg and "
                f"{', '.join(str(d) for d in _SOURCE_MSG_DIRS)} (source scripts/env.sh?)"
            )
    return store


def ensure_type(store: Typestore, msgtype: str, where: str = "") -> None:
    """Make sure ``msgtype`` (``pkg/msg/Name``) is known, registering its package if needed.

    Raises:
        UnknownMessageTypeError: naming the type (and ``where`` it was met) when no definition
            exists.
    """
    if msgtype in store.fielddefs:
        return
    parts = msgtype.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        try:
            register_package(store, parts[0])
        except TypesysError as e:
            raise UnknownMessageTypeError(f"cannot register {msgtype!r}: {e}") from e
    if msgtype not in store.fielddefs:
        at = f" on {where}" if where else ""
        raise UnknownMessageTypeError(
            f"unknown message type {msgtype!r}{at}: no definition in the ROS 2 standard types, in "
            f"share/{parts[0]}/msg of $AMENT_PREFIX_PATH or in the bag"
        )


__all__ = [
    "DEFAULT_STORE",
    "PROJECT_MSG_PACKAGE",
    "BagError",
    "UnknownMessageTypeError",
    "build_typestore",
    "ensure_type",
    "find_msg_dir",
    "register_package",
]
