"""The ROS edge of the bag tools: message classes, QoS translation, a private rclpy context.

Only :mod:`vla_lego.live.record` and :mod:`vla_lego.live.play` import this (and rclpy); reading,
converting and evaluating bags work without a ROS installation.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)

from vla_lego.bags.typestore import UnknownMessageTypeError

# rosbag2's spelling of an infinite duration in offered_qos_profiles.
_INFINITE = QosTime(2147483647, 4294967295)


def message_class(msgtype: str) -> type[Any]:
    """The rosidl Python class of ``pkg/msg/Name``.

    Raises:
        UnknownMessageTypeError: the interface package is not built/importable.
    """
    parts = msgtype.split("/")
    if len(parts) != 3:
        raise UnknownMessageTypeError(f"malformed message type {msgtype!r}; expected pkg/msg/Name")
    try:
        module = importlib.import_module(f"{parts[0]}.{parts[1]}")
        return getattr(module, parts[2])  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as e:
        raise UnknownMessageTypeError(
            f"message type {msgtype} is not importable in Python ({e}); build and source its "
            "interface package"
        ) from e


def _duration_to_qos_time(d: Any) -> QosTime:
    ns = int(getattr(d, "nanoseconds", 0))
    if ns <= 0:
        return QosTime(0, 0)
    if ns >= _INFINITE.sec * 1_000_000_000:
        return _INFINITE
    return QosTime(ns // 1_000_000_000, ns % 1_000_000_000)


def qos_to_bag(profile: Any) -> Qos:
    """An rclpy ``QoSProfile`` as the ``rosbags`` ``Qos`` stored in ``metadata.yaml``."""
    return Qos(
        history=QosHistory(int(profile.history)),
        depth=int(profile.depth),
        reliability=QosReliability(int(profile.reliability)),
        durability=QosDurability(int(profile.durability)),
        deadline=_duration_to_qos_time(profile.deadline),
        lifespan=_duration_to_qos_time(profile.lifespan),
        liveliness=QosLiveliness(int(profile.liveliness)),
        liveliness_lease_duration=_duration_to_qos_time(profile.liveliness_lease_duration),
        avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions),
    )


def subscription_qos(publisher_profiles: Sequence[Any], depth: int) -> Any:
    """A QoS that matches every publisher (like ``ros2 bag record``'s adaptation).

    Best effort if any publisher is best effort; transient local only if all publishers are (so a
    latched ``/vla/instruction`` published before recording started is still recorded).
    """
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    reliable = all(p.reliability == ReliabilityPolicy.RELIABLE for p in publisher_profiles)
    latched = bool(publisher_profiles) and all(
        p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publisher_profiles
    )
    return QoSProfile(
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def publisher_qos(offered: Sequence[Qos], depth: int) -> Any:
    """The QoS to replay a topic with: the first recorded publisher's reliability/durability."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    reliability, durability = ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE
    if offered:
        if offered[0].reliability == QosReliability.BEST_EFFORT:
            reliability = ReliabilityPolicy.BEST_EFFORT
        if offered[0].durability == QosDurability.TRANSIENT_LOCAL:
            durability = DurabilityPolicy.TRANSIENT_LOCAL
    return QoSProfile(depth=depth, reliability=reliability, durability=durability)


@contextmanager
def ros_node(name: str, use_sim_time: bool = False) -> Iterator[Any]:
    """An rclpy node in a private context without rclpy's signal handlers (the tools own them).

    DDS discovery stays on this machine unless the caller set ``ROS_AUTOMATIC_DISCOVERY_RANGE``.
    ``use_sim_time``: the node's clock follows ``/clock`` (a graph running on sim time).
    """
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    from rclpy.parameter import Parameter

    overrides = [Parameter("use_sim_time", Parameter.Type.BOOL, True)] if use_sim_time else []
    node = rclpy.create_node(name, context=context, parameter_overrides=overrides)
    try:
        yield node
    finally:
        node.destroy_node()
        if context.ok():
            rclpy.shutdown(context=context)


__all__ = ["message_class", "publisher_qos", "qos_to_bag", "ros_node", "subscription_qos"]
