"""Launch-time checks of ``policy.launch.py``'s arguments, shared with ``python -m h1_bringup.up``.

``config/system.yaml`` declares the arguments and nodes of the graph; this module adds what only
``ros2 launch`` can do (``LAUNCH_ONLY_ARGUMENTS``: respawning the policy node) and the checks that
must pass before anything starts: every argument typed and in its choices, and ``policy_path``
naming something the policy node can load (an existing checkpoint or export directory, or an
importable ``python:module:attr``). A failed check raises :class:`SystemDescriptionError` with one
line naming the argument; nothing was started and the robot was never commanded.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from h1_bringup.system import Argument, NodeSpec, System, SystemDescriptionError

# The export directory's manifest: vla_lego.inference.manifest.MANIFEST_NAME (h1_bringup stays
# free of vla_lego.inference; tests/launch/test_launch_arguments.py checks that the two agree).
MANIFEST_NAME = "manifest.json"
# The node that LAUNCH_ONLY_ARGUMENTS' respawn_* settings apply to (its name in system.yaml).
POLICY_NODE = "policy"
# Backends that load an export directory (with MANIFEST_NAME) rather than a training checkpoint.
EXPORT_BACKENDS = ("onnxruntime", "tensorrt")
CHECKPOINT_BACKENDS = ("torch",)
# How long a launch looks for a graph already running on its ROS domain. Discovery on loopback
# takes ~0.1 s on an idle machine, but a fresh-clone CI run on 2 loaded cores missed a running
# graph within 1 s and started a second one; every launch pays this wait (the sim's MuJoCo load
# and the policy's model load take longer).
DISCOVERY_WAIT_S = 3.0

LAUNCH_ONLY_ARGUMENTS: dict[str, Argument] = {
    a.name: a
    for a in (
        Argument(
            name="respawn_policy",
            default="false",
            choices=None,
            type="bool",
            description="restart the policy node when it exits (it comes back idle: send SetTask "
            "again); the bridge holds meanwhile (stale commands ramp the arm_sdk weight to 0). "
            "false: its exit stops everything (ros2 launch only)",
        ),
        Argument(
            name="respawn_delay",
            default="1.0",
            choices=None,
            type="float",
            description="seconds between the policy node's exit and its restart (respawn_policy)",
        ),
        Argument(
            name="respawn_max",
            default="3",
            choices=None,
            type="int",
            description="restarts of the policy node before its next exit stops everything "
            "(respawn_policy; negative: no limit)",
        ),
    )
}


@dataclass(frozen=True)
class LaunchPlan:
    """What one set of launch arguments starts: the node specs and every typed argument value."""

    nodes: list[NodeSpec]
    values: dict[str, Any]


def check_policy_path(backend: str, policy_path: str) -> None:
    """Raise ``SystemDescriptionError`` unless the policy node can find ``policy_path``.

    Args:
        backend: The ``backend`` launch argument (``auto``, ``torch``, ``onnxruntime``,
            ``tensorrt``).
        policy_path: A checkpoint directory, an export directory, ``BACKEND:PATH`` or
            ``python:module:attr``.
    """
    text = policy_path.strip()
    head, sep, rest = text.partition(":")
    if sep and head == "python":
        module, colon, attr = rest.partition(":")
        if not module or not colon or not attr:
            raise SystemDescriptionError(
                f"launch argument policy_path:={policy_path!r}: expected python:MODULE:ATTR"
            )
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise SystemDescriptionError(
                f"launch argument policy_path:={policy_path!r}: no Python module {module!r} "
                "on PYTHONPATH"
            )
        return
    if sep and head in (*EXPORT_BACKENDS, *CHECKPOINT_BACKENDS) and backend == "auto":
        backend, text = head, rest
    path = Path(text).expanduser()
    if not path.is_dir():
        raise SystemDescriptionError(
            f"launch argument policy_path:={policy_path!r} is not a directory (expected a "
            "checkpoint dir, an export dir from `python -m vla_lego.export`, or "
            "python:module:attr)"
        )
    if backend in EXPORT_BACKENDS and not (path / MANIFEST_NAME).is_file():
        raise SystemDescriptionError(
            f"launch argument policy_path:={policy_path!r} has no {MANIFEST_NAME}: backend "
            f"{backend} needs an export dir (`python -m vla_lego.export`)"
        )


def check_not_running(node: Any, names: Iterable[str], wait: float = DISCOVERY_WAIT_S) -> None:
    """Raise ``SystemDescriptionError`` if nodes of these names already run on this ROS domain.

    A second launch of the graph on one domain would start a second bridge writing
    ``rt/arm_sdk`` and a second policy answering ``/vla/set_task``; it is refused instead.

    Args:
        node: An rclpy node of the launching process (spun elsewhere, e.g. launch_ros's).
        names: The node names the launch would start (in the root namespace).
        wait: Seconds to let discovery find them.
    """
    wanted = {"/" + n.lstrip("/") for n in names}
    deadline = time.monotonic() + wait
    while True:
        seen = {f"{ns.rstrip('/')}/{n}" for n, ns in node.get_node_names_and_namespaces()} & wanted
        if seen or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if seen:
        raise SystemDescriptionError(
            f"the graph already runs on this ROS domain: node(s) {sorted(seen)} exist; stop "
            "that launch first or use another ROS_DOMAIN_ID (nothing was started)"
        )


def check_launch(system: System, given: Mapping[str, str]) -> LaunchPlan:
    """Check every launch argument and resolve the nodes, before anything is started.

    Args:
        system: The loaded ``system.yaml``.
        given: Argument values as text (``name:=value``); the ``LAUNCH_ONLY_ARGUMENTS`` among them
            are checked here, the rest by :meth:`System.resolve`.

    Returns:
        The nodes to start and the typed value of every argument (system and launch-only).

    Raises:
        SystemDescriptionError: one line naming the wrong argument.
    """
    own = {k: v for k, v in given.items() if k in LAUNCH_ONLY_ARGUMENTS}
    rest = {k: v for k, v in given.items() if k not in LAUNCH_ONLY_ARGUMENTS}
    values = system.parse_arguments(rest)
    for name, arg in LAUNCH_ONLY_ARGUMENTS.items():
        values[name] = arg.convert(own.get(name, str(arg.default)))
    nodes = system.resolve(rest)
    if "policy_path" in values and "backend" in values:
        check_policy_path(str(values["backend"]), str(values["policy_path"]))
    return LaunchPlan(nodes=nodes, values=values)


__all__ = [
    "CHECKPOINT_BACKENDS",
    "DISCOVERY_WAIT_S",
    "EXPORT_BACKENDS",
    "LAUNCH_ONLY_ARGUMENTS",
    "MANIFEST_NAME",
    "POLICY_NODE",
    "LaunchPlan",
    "check_launch",
    "check_not_running",
    "check_policy_path",
]
