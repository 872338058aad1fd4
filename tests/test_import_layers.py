"""Import layers (docs/ARCHITECTURE.md): the import-linter contracts in pyproject.toml hold on the
tree, and each one fails, naming itself and the offending import, when an import breaks it.

import-linter reads every import statement, those inside functions and ``TYPE_CHECKING`` blocks
included, so a lazy import cannot hide a cycle or an upward import from these checks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "training" / "vla_lego"
CONFIG = ROOT / "pyproject.toml"
# The ROS packages are root packages of the contracts: found from their sources, built or not.
ROS_PACKAGE_DIRS = (ROOT / "ros2_ws/src/vla_lego_policy", ROOT / "ros2_ws/src/h1_bringup")


def _contract_names() -> dict[str, str]:
    cfg = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]
    return {c["id"]: c["name"] for c in cfg["contracts"]}


def _lint_imports(src_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` of the venv on the ``vla_lego`` found in ``src_dir``."""
    exe = Path(sys.executable).with_name("lint-imports")
    # Not a skip: the layers are only enforced if this runs (dev dependency, requirements.lock).
    assert exe.is_file(), f"{exe} not found: install the dev dependencies (scripts/setup.sh)"
    env = dict(os.environ)
    # Ahead of the editable install's finder, so a planted copy is the one analysed.
    paths = [str(src_dir), *map(str, ROS_PACKAGE_DIRS), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["COLUMNS"] = "250"  # one summary line per contract, however long its name
    return subprocess.run(
        [str(exe), "--no-cache", "--config", str(CONFIG)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _status(output: str, name: str) -> str:
    """KEPT or BROKEN, as the summary reports contract ``name``."""
    m = re.search(rf"^{re.escape(name)} (KEPT|BROKEN)", output, re.MULTILINE)
    assert m, f"contract {name!r} not in the lint-imports summary:\n{output}"
    return m.group(1)


def test_the_tree_keeps_every_import_contract() -> None:
    names = _contract_names()
    assert {"vla-lego-layers", "no-cycles", "ros-edge", "ros-packages-on-top"} <= set(names)
    run = _lint_imports(ROOT / "training", ROOT)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    for name in names.values():
        assert _status(out, name) == "KEPT", out


# (file to plant in, line appended, contract it breaks, text naming the offending import)
PLANTS = {
    "upward import": (
        "robot/h1.py",
        "import vla_lego.demo",
        "vla-lego-layers",
        "vla_lego.robot.h1 -> vla_lego.demo",
    ),
    "sibling packages": (
        "bags/bag2dataset.py",
        "import vla_lego.export",
        "vla-lego-layers",
        "vla_lego.bags.bag2dataset -> vla_lego.export",
    ),
    "module cycle": (
        "sim/tasks.py",
        "from vla_lego.sim import env as _env",
        "no-cycles",
        ".tasks -> .env",
    ),
    "lazy module cycle": (
        "runtime/safety.py",
        "def _planted() -> None:\n    from vla_lego.runtime import controller  # noqa: F401",
        "no-cycles",
        ".safety -> .controller",
    ),
    "rclpy in the runtime": (
        "runtime/sync.py",
        "import rclpy",
        "ros-edge",
        "vla_lego.runtime.sync -> rclpy",
    ),
    "torch in the runtime": (
        "runtime/scheduler.py",
        "import torch",
        "runtime-torch-free",
        "vla_lego.runtime.scheduler -> torch",
    ),
    "vla_lego imports a ROS node package": (
        "robot/topics.py",
        "import vla_lego_policy",
        "ros-packages-on-top",
        "vla_lego.robot.topics -> vla_lego_policy",
    ),
}


@pytest.mark.parametrize("plant", list(PLANTS))
def test_a_planted_import_breaks_its_contract(plant: str, tmp_path: Path) -> None:
    rel, line, contract_id, offending = PLANTS[plant]
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src / "vla_lego", ignore=shutil.ignore_patterns("__pycache__"))
    target = src / "vla_lego" / rel
    target.write_text(target.read_text() + f"\n\n{line}\n")

    run = _lint_imports(src, tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out
    name = _contract_names()[contract_id]
    assert _status(out, name) == "BROKEN", out
    assert offending in out, out
