"""Declaring typed, bounded, described ROS parameters in one call (shared by the nodes)."""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node


def declare(
    node: Node,
    name: str,
    default: Any,
    description: str,
    low: float | None = None,
    high: float | None = None,
) -> Any:
    """Declare ``name`` (type from ``default``), read-only, with bounds; return its value.

    Raises:
        ValueError: the value given at start-up is outside ``[low, high]`` or not finite.
    """
    desc = ParameterDescriptor(description=description, read_only=True)
    if low is not None or high is not None:
        lo = low if low is not None else -1e300
        hi = high if high is not None else 1e300
        if isinstance(default, bool):
            pass
        elif isinstance(default, int):
            desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        elif isinstance(default, float):
            desc.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
    value = node.declare_parameter(name, default, desc).value
    # rclpy checks ranges only on set, not on the value given at start-up: check here.
    vals = value if isinstance(value, list | tuple) else [value]
    for v in vals:
        numeric = isinstance(v, int | float) and not isinstance(v, bool)
        if numeric and (v != v or (low is not None and v < low) or (high is not None and v > high)):
            raise ValueError(
                f"parameter {node.get_name()}.{name} = {value!r} is outside [{low}, {high}]"
            )
    return value


__all__ = ["declare"]
