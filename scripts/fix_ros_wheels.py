"""Rewrite build-image include paths in the ROS 2 wheels' CMake exports to this interpreter's.

The PyPI ROS 2 wheels ship ``share/*/cmake/*Export.cmake`` files whose imported targets name
``/opt/python/cp311-cp311/...`` include directories of the image they were built in. CMake refuses
imported targets with non-existent include paths, so building an interface package fails until
they point at this venv's Python and numpy headers. Idempotent.

Usage: python scripts/fix_ros_wheels.py VENV
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy


def main(venv: str) -> int:
    py_inc = sysconfig.get_paths()["include"]
    np_inc = numpy.get_include()
    pattern = re.compile(r'INTERFACE_INCLUDE_DIRECTORIES "([^"]*)"')
    changed = 0
    for f in Path(venv, "share").glob("*/cmake/*.cmake"):
        text = f.read_text()
        if "/opt/python/" not in text:
            continue

        def fix(m: re.Match[str]) -> str:
            out = []
            for p in m.group(1).split(";"):
                if p.startswith("/opt/python/"):
                    p = np_inc if "numpy" in p else py_inc
                out.append(p)
            return 'INTERFACE_INCLUDE_DIRECTORIES "' + ";".join(dict.fromkeys(out)) + '"'

        new = pattern.sub(fix, text)
        if new != text:
            f.write_text(new)
            changed += 1
    leftover = [
        str(f)
        for f in Path(venv, "share").glob("*/cmake/*.cmake")
        if "/opt/python/" in f.read_text()
    ]
    if leftover:
        print(f"fix_ros_wheels: paths left unfixed in {leftover}", file=sys.stderr)
        return 1
    print(f"fix_ros_wheels: rewrote {changed} file(s); python include {py_inc}, numpy {np_inc}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
