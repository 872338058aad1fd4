"""Settings tables: one declaration per node of every parameter's type, range, default and meaning.

A :class:`SettingsTable` is the single owner of a node's settings. The ROS node declares its
parameters from it (``vla_lego_policy.ros_params.declare_table``), its ``config/*.yaml`` file is
generated from it (:meth:`SettingsTable.params_yaml`, checked by the tests), and the ROS-free
paths (bag replay, the direct sim evaluation) resolve the same table with
:meth:`SettingsTable.resolve` — so a default, a range or a cross-parameter rule exists once.

Nothing here imports ROS. :func:`read_params_file` reads the ROS 2 parameter-file format
(``<node or /**>: ros__parameters: {...}``) with PyYAML, as ``rcl_yaml_param_parser`` defines it.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("str", "float", "int", "bool", "str_list", "float_list")
INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class Setting:
    """One parameter of a node.

    Attributes:
        name: Parameter name (as declared on the ROS node).
        kind: One of :data:`KINDS`.
        default: Value when no file or override gives one.
        description: What it does, with units.
        low: Inclusive lower bound (numbers and number lists).
        high: Inclusive upper bound (numbers and number lists).
        choices: Allowed values (strings only; empty: any).
        length: Required list length (lists only; None: any).
        dynamic: True when the running node accepts a new value (``ros2 param set``); False
            makes the ROS parameter read-only.
    """

    name: str
    kind: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    length: int | None = None
    dynamic: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"setting {self.name}: kind must be one of {KINDS}, got {self.kind}")
        if self.kind in ("float", "int", "float_list") and (self.low is None or self.high is None):
            raise ValueError(f"setting {self.name}: numbers need low and high bounds")
        object.__setattr__(self, "default", self.check(self.default))

    def check(self, value: Any) -> Any:
        """The value in this setting's type (ints widen to floats, lists become tuples).

        Raises:
            ValueError: naming the parameter, the value and what is allowed.
        """
        if self.kind in ("float", "int"):
            return self._number(value)
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"parameter {self.name}: expected true or false, got {value!r}")
            return value
        if self.kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"parameter {self.name}: expected a string, got {value!r}")
            if self.choices and value not in self.choices:
                raise ValueError(f"parameter {self.name}: {value!r} is not one of {self.choices}")
            return value
        if not isinstance(value, list | tuple):
            raise ValueError(f"parameter {self.name}: expected a list, got {value!r}")
        if self.length is not None and len(value) != self.length:
            raise ValueError(
                f"parameter {self.name}: expected {self.length} values, got {len(value)}"
            )
        if self.kind == "str_list":
            if not all(isinstance(v, str) for v in value):
                raise ValueError(f"parameter {self.name}: expected strings, got {value!r}")
            return tuple(value)
        return tuple(self._number(v, "float") for v in value)

    def _number(self, value: Any, kind: str | None = None) -> float | int:
        kind = kind or self.kind
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or (kind == "int" and not isinstance(value, int)):
            raise ValueError(f"parameter {self.name}: expected a {kind}, got {value!r}")
        if not math.isfinite(value) or not self.low <= value <= self.high:  # type: ignore[operator]
            raise ValueError(
                f"parameter {self.name}: {value!r} outside the allowed range "
                f"[{self.low}, {self.high}]"
            )
        return float(value) if kind == "float" else int(value)

    def yaml_value(self, value: Any) -> str:
        """``value`` as ROS parameter YAML (doubles keep a decimal point, strings are quoted)."""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "str":
            return _quote(value)
        if self.kind == "float":
            return repr(float(value))
        if self.kind == "int":
            return str(int(value))
        if self.kind == "str_list":
            return "[" + ", ".join(_quote(v) for v in value) + "]"
        return "[" + ", ".join(repr(float(v)) for v in value) + "]"


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SettingsTable:
    """The settings of one node, with the rules that span several of them.

    Args:
        node: Node name (the key of its parameter files).
        settings: Every setting, in the order the generated file lists them.
        rules: Called with a complete, type-checked mapping; raises ``ValueError`` on a
            combination that is not allowed (e.g. two lists of different length).
        sections: Setting name -> comment line written above it in the generated file.
    """

    def __init__(
        self,
        node: str,
        settings: Iterable[Setting],
        rules: Callable[[Mapping[str, Any]], None] | None = None,
        sections: Mapping[str, str] | None = None,
    ) -> None:
        self.node = node
        self.settings = tuple(settings)
        self.by_name = {s.name: s for s in self.settings}
        if len(self.by_name) != len(self.settings):
            raise ValueError(f"{node}: duplicate setting names")
        self.rules = rules
        self.sections = dict(sections or {})

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> Setting:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"{self.node} has no parameter {name!r}") from None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.by_name)

    def default(self, name: str) -> Any:
        """The default of ``name`` (for dataclass fields that must agree with the table)."""
        return self[name].default

    def defaults(self) -> dict[str, Any]:
        """Every setting's default."""
        return {s.name: s.default for s in self.settings}

    def check(self, name: str, value: Any) -> Any:
        """``value`` checked against setting ``name``; returns it in the setting's type."""
        return self[name].check(value)

    def resolve(self, *layers: Mapping[str, Any], source: str = "") -> dict[str, Any]:
        """Defaults, overridden by each layer in turn, every value and rule checked.

        Args:
            layers: Mappings of parameter values (parameter files, command-line overrides).
            source: Named in errors (e.g. the files the layers came from).

        Raises:
            ValueError: an unknown name (with the known ones), a bad value, or a broken rule.
        """
        values = self.defaults()
        where = f" ({source})" if source else ""
        for layer in layers:
            unknown = sorted(set(layer) - set(self.by_name))
            if unknown:
                raise ValueError(
                    f"unknown {self.node} parameters {unknown}{where}; known: {sorted(self.names)}"
                )
            for name, value in layer.items():
                values[name] = self.check(name, value)
        self.check_rules(values)
        return values

    def check_rules(self, values: Mapping[str, Any]) -> None:
        """Every setting present and valid, and the cross-parameter rules hold.

        Raises:
            ValueError: naming the first problem.
        """
        for s in self.settings:
            if s.name not in values:
                raise ValueError(f"parameter {s.name} has no value")
            s.check(values[s.name])
        if self.rules is not None:
            self.rules(values)

    def params_yaml(self, header: str, values: Mapping[str, Any] | None = None) -> str:
        """A complete parameter file: every setting at its default (or in ``values``), described.

        Args:
            header: Comment lines (without ``#``) at the top of the file.
            values: Values to write instead of the defaults (checked; e.g. what a node runs with).
        """
        resolved = self.defaults() if values is None else self.resolve(values)
        lines = [f"# {h}".rstrip() for h in header.strip("\n").splitlines()]
        lines += ["/**:", "  ros__parameters:"]
        for s in self.settings:
            if s.name in self.sections:
                lines += ["", f"    # {self.sections[s.name]}"]
            for line in textwrap.wrap(s.description, 94, break_on_hyphens=False):
                lines.append(f"    # {line}")
            lines.append(f"    {s.name}: {s.yaml_value(resolved[s.name])}")
        return "\n".join(lines) + "\n"


def parse_params_text(text: str, node: str | Sequence[str], source: str = "") -> dict[str, Any]:
    """The parameters a ROS 2 parameter file's text gives ``node`` (see :func:`read_params_file`).

    Raises:
        ValueError: not YAML, or no ``ros__parameters`` entry for the node; names ``source``.
    """
    import yaml

    where = source or "parameter text"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{where}: not a YAML parameter file: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected '<node>: ros__parameters: {{...}}'")
    names = (node,) if isinstance(node, str) else tuple(node)
    wildcard: dict[str, Any] = {}
    own: dict[str, Any] = {}
    for key, entry in data.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("ros__parameters"), dict)):
            continue
        name = str(key).rstrip("/")
        if name in ("/**", "**", "/*", "*"):
            wildcard.update(_flatten(entry["ros__parameters"]))
        elif any(name == n or name.endswith("/" + n) for n in names):
            own.update(_flatten(entry["ros__parameters"]))
    if not wildcard and not own:
        raise ValueError(f"{where}: no '/**' or {' / '.join(names)} entry with ros__parameters")
    return {**wildcard, **own}


def read_params_file(path: str | os.PathLike[str], node: str | Sequence[str]) -> dict[str, Any]:
    """The parameters a ROS 2 parameter file gives node ``node`` (a name or its aliases, e.g. the
    executable's default name and the name a launch file gives it).

    Entries for ``/**`` apply to every node; an entry named ``node`` or ``/…/node`` is applied
    after them (as rcl does); ``qos_overrides`` and other nested mappings are flattened to dotted
    names.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not YAML, or no ``ros__parameters`` entry for the node.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"parameter file {p} does not exist")
    return parse_params_text(p.read_text(encoding="utf-8"), node, str(p))


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def read_params_files(
    paths: Iterable[str | os.PathLike[str]], node: str | Sequence[str]
) -> dict[str, Any]:
    """Several parameter files for ``node``, later files overriding earlier ones (as
    ``--params-file A --params-file B``)."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged.update(read_params_file(path, node))
    return merged


__all__ = [
    "INT_MAX",
    "KINDS",
    "Setting",
    "SettingsTable",
    "parse_params_text",
    "read_params_file",
    "read_params_files",
]
