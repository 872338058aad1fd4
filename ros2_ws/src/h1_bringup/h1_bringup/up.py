"""``python -m h1_bringup.up policy.launch.py robot:=sim policy_path:=...`` — launch without ros2.

Reads the same system description the launch file reads (the launch file names it in its
``SYSTEM_FILE`` constant), checks the arguments (the launch file's checks,
:func:`h1_bringup.launch_args.check_launch`) and every parameter file before anything starts,
then runs the nodes under :mod:`h1_bringup.supervisor`. The supervisor does not respawn:
``respawn_policy:=true`` needs ``ros2 launch``. Exit codes: 0 after Ctrl-C / SIGTERM,
1 when a required node died, 2 for bad input (nothing was started).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Sequence
from pathlib import Path

from h1_bringup import supervisor
from h1_bringup.launch_args import check_launch
from h1_bringup.system import NodeSpec, SystemDescriptionError, load_system

PACKAGE = "h1_bringup"


def share_dir() -> Path:
    """The installed share directory of h1_bringup (source tree as a fallback)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except (ImportError, LookupError):
        return Path(__file__).resolve().parents[1]


def system_file_of(launch_file: Path) -> Path:
    """The system description a launch file declares in its module-level ``SYSTEM_FILE``."""
    tree = ast.parse(launch_file.read_text(), str(launch_file))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "SYSTEM_FILE" for t in node.targets
        ):
            return launch_file.parent.parent / "config" / ast.literal_eval(node.value)
    raise SystemDescriptionError(f"{launch_file} declares no SYSTEM_FILE")


def parse_launch_args(items: Sequence[str]) -> dict[str, str]:
    """``name:=value`` pairs as ``ros2 launch`` takes them."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise SystemDescriptionError(f"launch arguments are name:=value, got {item!r}")
        out[name] = value
    return out


def resolve(launch: str, items: Sequence[str]) -> list[NodeSpec]:
    """Node specs for a launch file name (or path) and ``name:=value`` arguments."""
    path = Path(launch)
    if not path.is_file():
        path = share_dir() / "launch" / launch
    if not path.is_file():
        raise SystemDescriptionError(f"launch file {launch!r} not found (looked in {path.parent})")
    system = load_system(system_file_of(path))
    plan = check_launch(system, parse_launch_args(items))
    if plan.values["respawn_policy"]:
        raise SystemDescriptionError(
            "respawn_policy:=true needs ros2 launch; python -m h1_bringup.up stops everything "
            "when a required node exits"
        )
    specs = plan.nodes
    for spec in specs:
        supervisor.executable_path(spec)
    return specs


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m h1_bringup.up", description=__doc__)
    p.add_argument("launch_file", help="e.g. policy.launch.py")
    p.add_argument("arguments", nargs="*", help="launch arguments name:=value")
    p.add_argument("--sigint-timeout", type=float, default=10.0, help="s before SIGTERM")
    p.add_argument("--print", action="store_true", help="print the command lines and exit")
    a = p.parse_args(argv)
    try:
        specs = resolve(a.launch_file, a.arguments)
    except (SystemDescriptionError, FileNotFoundError) as e:
        print(f"[up] error: {e}", file=sys.stderr)
        return 2
    if a.print:
        for s in specs:
            print(" ".join(supervisor.command_line(s)))
        return 0
    return supervisor.run(specs, sigint_timeout=a.sigint_timeout)


__all__ = ["main", "parse_launch_args", "resolve", "share_dir", "system_file_of"]

if __name__ == "__main__":
    sys.exit(main())
