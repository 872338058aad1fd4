"""Declaring a node's ROS parameters from its :class:`vla_lego.runtime.params.SettingsTable`.

The one way both ROS packages (``vla_lego_policy``, ``h1_bringup``) declare parameters: each
setting becomes a typed parameter with its description, range (``FloatingPointRange`` /
``IntegerRange``), choices and read-only flag, at the table's default. rclpy checks ranges only
when a parameter is set at run time, not on the values given at start-up, so every value is
checked against the table here, and a parameter the table does not know makes the node refuse to
start instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

from vla_lego.runtime.params import Setting, SettingsTable

# Parameters rclpy itself declares or reads (QoS overriding): never unknown.
ROS_BUILTIN = ("use_sim_time", "start_type_description_service")


def _is_builtin(name: str) -> bool:
    return name in ROS_BUILTIN or name.startswith("qos_overrides.")


def descriptor(setting: Setting) -> ParameterDescriptor:
    """The ``ParameterDescriptor`` of one setting."""
    desc = ParameterDescriptor(
        name=setting.name, description=setting.description, read_only=not setting.dynamic
    )
    if setting.kind in ("float", "float_list"):
        desc.floating_point_range = [
            FloatingPointRange(
                from_value=float(setting.low or 0.0), to_value=float(setting.high or 0.0), step=0.0
            )
        ]
    elif setting.kind == "int":
        desc.integer_range = [
            IntegerRange(from_value=int(setting.low or 0), to_value=int(setting.high or 0), step=1)
        ]
    if setting.choices:
        desc.additional_constraints = f"one of {list(setting.choices)}"
    return desc


def _ros_default(setting: Setting) -> Any:
    return list(setting.default) if isinstance(setting.default, tuple) else setting.default


def declare_table(node: Node, table: SettingsTable) -> dict[str, Any]:
    """Declare every setting of ``table`` on ``node``; return the checked values.

    Raises:
        ValueError: a parameter override the table does not know (listing the known ones), a
            value of the wrong type or outside its range, or a broken cross-parameter rule.
    """
    unknown = sorted(n for n in node._parameter_overrides if n not in table and not _is_builtin(n))
    if unknown:
        raise ValueError(
            f"unknown parameters {unknown} for {node.get_name()}; known: {sorted(table.names)}"
        )
    values: dict[str, Any] = {}
    for s in table.settings:
        value = node.declare_parameter(s.name, _ros_default(s), descriptor(s)).value
        values[s.name] = s.check(value)
    table.check_rules(values)
    return values


def on_dynamic_change(
    node: Node,
    table: SettingsTable,
    values: dict[str, Any],
    apply: Callable[[dict[str, Any]], None],
) -> None:
    """Accept ``ros2 param set`` for the table's dynamic settings.

    A change is checked against the table (range and cross rules) before ``apply`` receives the
    complete new values; a refused change leaves ``values`` as they were.
    """

    def callback(params: list[Parameter]) -> SetParametersResult:
        new = dict(values)
        ours = [p for p in params if p.name in table]  # not rclpy's own (qos_overrides ...)
        if not ours:
            return SetParametersResult(successful=True)
        try:
            for p in ours:
                setting = table[p.name]
                if not setting.dynamic:
                    raise ValueError(f"parameter {p.name} cannot change while the node runs")
                new[p.name] = setting.check(p.value)
            table.check_rules(new)
            apply(new)
        except ValueError as e:
            return SetParametersResult(successful=False, reason=str(e))
        values.update(new)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(callback)


__all__ = ["ROS_BUILTIN", "declare_table", "descriptor", "on_dynamic_change"]
