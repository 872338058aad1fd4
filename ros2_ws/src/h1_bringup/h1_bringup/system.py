"""The declarative system description (``config/system.yaml``) and its resolution into nodes.

One YAML file declares the launch arguments and the nodes of the runtime graph. Both
``launch/policy.launch.py`` (``ros2 launch``, turning each :class:`NodeSpec` into a
``launch_ros`` ``Node``) and the pip-environment supervisor (``python -m h1_bringup.up``, turning
it into the command line ``ros2 launch`` would run) read it through :func:`load_system`, so the
two start exactly the same processes.

Format::

    arguments:                 # launch arguments, in declaration order
      robot:
        default: sim           # no default: the argument is required
        choices: [sim, real]   # optional
        type: str              # str (default) | int | float | bool
        description: ...
    nodes:
      - name: h1_bridge        # node name (-r __node:=NAME), unique among selected nodes
        package: h1_bringup
        executable: h1_bridge_node
        when: {robot: real}    # all listed arguments must equal the value (or be in a list)
        required: true         # its exit stops everything (default true)
        parameter_files: [bridge.yaml]          # relative to this file, or "pkg:relpath"
        parameters: {dds_domain: $(dds_domain)} # $(arg) substitutes an argument value
        remappings: {/from: /to}

A parameter value that is exactly ``$(arg)`` takes the argument's typed value; ``$(arg)``
inside a longer string substitutes its text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_SUBST = re.compile(r"\$\((\w+)\)")
_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}
_NODE_KEYS = {
    "name",
    "package",
    "executable",
    "when",
    "required",
    "parameter_files",
    "parameters",
    "remappings",
}


class SystemDescriptionError(ValueError):
    """A malformed system description, parameter file or launch argument."""


@dataclass(frozen=True)
class Argument:
    """One launch argument: name, default (``None``: required), allowed values, type."""

    name: str
    default: str | None
    choices: tuple[str, ...] | None
    type: str
    description: str

    def convert(self, text: str) -> Any:
        """Typed value of ``text``; ``SystemDescriptionError`` naming the argument otherwise."""
        if self.choices is not None and text not in self.choices:
            raise SystemDescriptionError(
                f"launch argument {self.name}:={text!r} is not allowed; expected one of "
                f"{list(self.choices)}"
            )
        if self.type == "str":
            return text
        if self.type == "bool":
            low = text.strip().lower()
            if low not in ("true", "false"):
                raise SystemDescriptionError(
                    f"launch argument {self.name} expects true|false, got {text!r}"
                )
            return low == "true"
        try:
            return _TYPES[self.type](text)
        except ValueError:
            raise SystemDescriptionError(
                f"launch argument {self.name} expects a {self.type}, got {text!r}"
            ) from None


@dataclass(frozen=True)
class NodeSpec:
    """A node to start, fully resolved for one set of launch arguments."""

    name: str
    package: str
    executable: str
    required: bool
    parameter_files: tuple[Path, ...]
    parameters: dict[str, Any]
    remappings: tuple[tuple[str, str], ...]

    def ros_args(self) -> list[str]:
        """The ``--ros-args`` part of the command line ``ros2 launch`` runs for this node."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        for f in self.parameter_files:
            args += ["--params-file", str(f)]
        for k, v in self.parameters.items():
            args += ["-p", f"{k}:={_param_text(v)}"]
        for src, dst in self.remappings:
            args += ["-r", f"{src}:={dst}"]
        return args


def _param_text(v: Any) -> str:
    """A parameter value as the ROS command line reads it (YAML; JSON is a YAML subset)."""
    if isinstance(v, str) and v.strip() == v and yaml.safe_load(v) == v:
        return v
    return json.dumps(v)


@dataclass(frozen=True)
class System:
    """A loaded ``system.yaml``: its arguments and node templates."""

    path: Path
    arguments: dict[str, Argument]
    nodes: tuple[dict[str, Any], ...]

    def parse_arguments(self, given: Mapping[str, str]) -> dict[str, Any]:
        """Check and type the launch arguments; unknown, missing or invalid ones raise."""
        unknown = sorted(set(given) - set(self.arguments))
        if unknown:
            raise SystemDescriptionError(
                f"unknown launch argument(s) {unknown}; {self.path.name} declares "
                f"{list(self.arguments)}"
            )
        values: dict[str, Any] = {}
        for name, arg in self.arguments.items():
            text = given.get(name, arg.default)
            if text is None or (text == "" and arg.default is None):
                raise SystemDescriptionError(
                    f"launch argument {name} is required ({arg.description or 'no default'})"
                )
            values[name] = arg.convert(str(text))
        return values

    def resolve(self, given: Mapping[str, str]) -> list[NodeSpec]:
        """Nodes to start for these launch arguments (conditions applied, files checked)."""
        values = self.parse_arguments(given)
        specs = []
        for node in self.nodes:
            if _matches(node.get("when", {}), values, node["name"]):
                specs.append(self._resolve_node(node, values))
        names = [s.name for s in specs]
        if not specs or len(set(names)) != len(names):
            raise SystemDescriptionError(
                f"{self.path.name}: arguments {values} select nodes {names}; expected at least "
                "one node and unique names (make the 'when' conditions exclusive)"
            )
        return specs

    def _resolve_node(self, node: dict[str, Any], values: dict[str, Any]) -> NodeSpec:
        files = tuple(
            self._param_file(_subst(f, values), node["name"]) for f in node["parameter_files"]
        )
        params = {str(k): _subst(v, values) for k, v in node["parameters"].items()}
        remaps = tuple(
            (str(_subst(a, values)), str(_subst(b, values))) for a, b in node["remappings"].items()
        )
        return NodeSpec(
            name=node["name"],
            package=node["package"],
            executable=node["executable"],
            required=bool(node["required"]),
            parameter_files=files,
            parameters=params,
            remappings=remaps,
        )

    def _param_file(self, ref: str, node_name: str) -> Path:
        if ":" in ref and not ref.startswith("/"):
            pkg, rel = ref.split(":", 1)
            from ament_index_python.packages import get_package_share_directory

            path = Path(get_package_share_directory(pkg)) / rel
        else:
            path = (self.path.parent / ref).resolve()
        check_param_file(path, node_name)
        return path


def _subst(v: Any, values: Mapping[str, Any]) -> Any:
    if not isinstance(v, str):
        return v
    whole = _SUBST.fullmatch(v)
    if whole:
        return values[whole.group(1)]
    return _SUBST.sub(lambda m: str(values[m.group(1)]), v)


def _matches(when: Mapping[str, Any], values: Mapping[str, Any], node: str) -> bool:
    for arg, want in when.items():
        if arg not in values:
            raise SystemDescriptionError(f"node {node}: condition on undeclared argument {arg!r}")
        allowed = want if isinstance(want, list) else [want]
        if values[arg] not in allowed and str(values[arg]) not in [str(a) for a in allowed]:
            return False
    return True


def check_param_file(path: Path, node_name: str) -> None:
    """Raise ``SystemDescriptionError`` unless ``path`` is a ROS 2 parameter file for ``node_name``.

    A parameter file maps node names (or ``/**``) to ``{ros__parameters: {...}}``.
    """
    if not path.is_file():
        raise SystemDescriptionError(f"parameter file {path} for node {node_name} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SystemDescriptionError(f"parameter file {path} is not valid YAML: {e}") from None
    if not isinstance(data, dict) or not data:
        raise SystemDescriptionError(
            f"parameter file {path}: expected a mapping of node name -> "
            f"{{ros__parameters: {{...}}}}, got {type(data).__name__}"
        )
    for key, body in data.items():
        if not isinstance(body, dict) or not isinstance(body.get("ros__parameters"), dict):
            raise SystemDescriptionError(
                f"parameter file {path}: entry {key!r} must hold a 'ros__parameters' mapping, "
                f"got {body!r:.80}"
            )


def _check_node(i: int, node: Any, path: Path) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise SystemDescriptionError(f"{path}: nodes[{i}] must be a mapping, got {node!r:.60}")
    missing = [k for k in ("name", "package", "executable") if not node.get(k)]
    extra = sorted(set(node) - _NODE_KEYS)
    if missing or extra:
        raise SystemDescriptionError(
            f"{path}: nodes[{i}] missing {missing} / unknown keys {extra}; "
            f"allowed keys: {sorted(_NODE_KEYS)}"
        )
    out = dict(node)
    out.setdefault("when", {})
    out.setdefault("required", True)
    for key, kind in (("parameter_files", list), ("parameters", dict), ("remappings", dict)):
        out[key] = out.get(key) or kind()
        if not isinstance(out[key], kind):
            raise SystemDescriptionError(f"{path}: nodes[{i}].{key} must be a {kind.__name__}")
    return out


def _check_argument(name: str, spec: Any, path: Path) -> Argument:
    spec = spec or {}
    if not isinstance(spec, dict):
        raise SystemDescriptionError(f"{path}: argument {name} must be a mapping, got {spec!r:.60}")
    kind = str(spec.get("type", "str"))
    if kind not in _TYPES:
        raise SystemDescriptionError(
            f"{path}: argument {name} has type {kind!r}; expected {list(_TYPES)}"
        )
    choices = spec.get("choices")
    default = spec.get("default")
    if isinstance(default, bool):
        default = str(default).lower()
    return Argument(
        name=name,
        default=None if default is None else str(default),
        choices=None if choices is None else tuple(str(c) for c in choices),
        type=kind,
        description=str(spec.get("description", "")),
    )


def load_system(path: str | Path) -> System:
    """Load and validate a system description; ``SystemDescriptionError`` names what is wrong."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise SystemDescriptionError(f"cannot read system description {path}: {e}") from None
    if not isinstance(data, dict) or set(data) - {"arguments", "nodes"} or "nodes" not in data:
        raise SystemDescriptionError(f"{path}: expected top-level keys 'arguments' and 'nodes'")
    args = {n: _check_argument(n, s, path) for n, s in (data.get("arguments") or {}).items()}
    nodes = tuple(_check_node(i, n, path) for i, n in enumerate(data["nodes"] or []))
    return System(path=path, arguments=args, nodes=nodes)


__all__ = [
    "Argument",
    "NodeSpec",
    "System",
    "SystemDescriptionError",
    "check_param_file",
    "load_system",
]
