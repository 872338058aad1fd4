"""``python -m vla_lego.runtime params-yaml MODULE [--write FILE | --check FILE]``.

Prints the ROS parameter file generated from the settings table of ``MODULE`` (a module with a
``params_yaml()`` function: ``vla_lego.runtime.policy_params``, ``h1_bringup.bridge_params``),
writes it, or exits 1 when FILE is out of date.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m vla_lego.runtime")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("params-yaml", help="the parameter file generated from a settings table")
    g.add_argument("module", help="module with a params_yaml() function")
    out = g.add_mutually_exclusive_group()
    out.add_argument("--write", metavar="FILE", help="write the generated file to FILE")
    out.add_argument("--check", metavar="FILE", help="exit 1 when FILE is not the generated file")
    args = p.parse_args(argv)
    text = importlib.import_module(args.module).params_yaml()
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
    elif args.check:
        if Path(args.check).read_text(encoding="utf-8") != text:
            print(f"{args.check} is out of date; regenerate it with --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
