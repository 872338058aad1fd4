"""system.yaml: one declaration, resolved per launch arguments; bad input is a clear error."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from h1_bringup import up
from h1_bringup.system import SystemDescriptionError, load_system

PKG = Path(__file__).resolve().parents[2] / "ros2_ws" / "src" / "h1_bringup"
SYSTEM = PKG / "config" / "system.yaml"


def _names(args: dict[str, str]) -> list[str]:
    return [s.name for s in load_system(SYSTEM).resolve(args)]


def test_sim_and_real_select_their_nodes() -> None:
    assert _names({"robot": "sim", "policy_path": "/m"}) == ["h1_sim", "h1_bridge", "policy"]
    assert _names({"robot": "real", "policy_path": "/m"}) == ["head_camera", "h1_bridge", "policy"]
    assert _names({"robot": "real", "policy_path": "/m", "use_camera": "false"}) == [
        "h1_bridge",
        "policy",
    ]


def test_arguments_reach_parameters_typed() -> None:
    system = load_system(SYSTEM)
    specs = system.resolve({"policy_path": "python:pkg.mod:factory", "dds_domain": "7"})
    by = {s.name: s for s in specs}
    assert by["h1_bridge"].parameters["dds_domain"] == 7
    assert by["h1_sim"].parameters == {
        "task": "pick_place",
        "preset": "easy",
        "dds_domain": 7,
        "network_interface": "lo",
    }
    assert by["policy"].parameters == {"policy": "python:pkg.mod:factory"}
    args = by["h1_bridge"].ros_args()
    assert args[:3] == ["--ros-args", "-r", "__node:=h1_bridge"]
    files = [args[i + 1] for i, a in enumerate(args) if a == "--params-file"]
    assert files == [str(PKG / "config" / f) for f in ("bridge.yaml", "bridge_sim.yaml")]
    assert "dds_domain:=7" in args
    torch = {s.name: s for s in system.resolve({"policy_path": "/ckpt", "backend": "torch"})}
    assert torch["policy"].parameters == {"policy": "torch:/ckpt"}


def test_sim_task_and_preset_arguments_are_the_sims() -> None:
    """``task:=`` and ``preset:=`` offer exactly the sim's tasks and presets and reach h1_sim."""
    from vla_lego.sim.config import PRESETS
    from vla_lego.sim.tasks import TASKS

    system = load_system(SYSTEM)
    assert set(system.arguments["task"].choices) == set(TASKS)
    assert set(system.arguments["preset"].choices) == set(PRESETS)
    specs = system.resolve({"policy_path": "/m", "task": "tower", "preset": "hard"})
    sim = next(s for s in specs if s.name == "h1_sim")
    assert (sim.parameters["task"], sim.parameters["preset"]) == ("tower", "hard")
    with pytest.raises(SystemDescriptionError, match="preset:='brutal' is not allowed"):
        system.resolve({"policy_path": "/m", "preset": "brutal"})


def test_parameter_text_is_what_ros_parses() -> None:
    from h1_bringup.system import NodeSpec

    spec = NodeSpec("n", "p", "e", True, (), {"a": "", "b": "5", "c": 5, "d": [1.0, 2.0]}, ())
    assert spec.ros_args()[3:] == [
        "-p",
        'a:=""',
        "-p",
        'b:="5"',
        "-p",
        "c:=5",
        "-p",
        "d:=[1.0, 2.0]",
    ]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"robot": "foo", "policy_path": "/m"}, "robot:='foo' is not allowed; expected one of"),
        ({"robot": "sim"}, "launch argument policy_path is required"),
        ({"policy_path": "/m", "dds_domain": "x"}, "dds_domain expects a int"),
        ({"policy_path": "/m", "use_camera": "maybe"}, "use_camera expects true|false"),
        ({"policy_path": "/m", "robto": "sim"}, "unknown launch argument(s) ['robto']"),
    ],
)
def test_bad_arguments_are_named(args: dict[str, str], needle: str) -> None:
    with pytest.raises(SystemDescriptionError) as e:
        load_system(SYSTEM).resolve(args)
    assert needle in str(e.value)


def _copy_pkg(tmp_path: Path) -> Path:
    dst = tmp_path / "h1_bringup"
    shutil.copytree(PKG / "config", dst / "config")
    shutil.copytree(PKG / "launch", dst / "launch")
    return dst


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("/**:\n  ros__parameters: [1, 2\n", "is not valid YAML"),
        ("/**:\n  control_rate: 50.0\n", "must hold a 'ros__parameters' mapping"),
        ("- 1\n- 2\n", "expected a mapping of node name"),
    ],
)
def test_malformed_parameter_file(tmp_path: Path, content: str, needle: str) -> None:
    pkg = _copy_pkg(tmp_path)
    (pkg / "config" / "bridge.yaml").write_text(content)
    with pytest.raises(SystemDescriptionError, match=r"bridge\.yaml") as e:
        up.resolve(str(pkg / "launch" / "policy.launch.py"), ["policy_path:=/m"])
    assert needle in str(e.value)


def test_malformed_system_file(tmp_path: Path) -> None:
    pkg = _copy_pkg(tmp_path)
    (pkg / "config" / "system.yaml").write_text("nodes:\n  - name: a\n    pakage: x\n")
    with pytest.raises(SystemDescriptionError, match=r"unknown keys \['pakage'\]"):
        load_system(pkg / "config" / "system.yaml")


def test_launch_args_syntax() -> None:
    assert up.parse_launch_args(["robot:=sim", "policy_path:=a:=b"]) == {
        "robot": "sim",
        "policy_path": "a:=b",
    }
    with pytest.raises(SystemDescriptionError, match="name:=value"):
        up.parse_launch_args(["backend=torch"])


def test_launch_file_names_its_system_file() -> None:
    assert up.system_file_of(PKG / "launch" / "policy.launch.py") == SYSTEM


def test_up_print_shows_ros2_launch_command_lines(ros_env: dict[str, str]) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "h1_bringup.up",
            "policy.launch.py",
            "policy_path:=python:vla_lego.runtime.scripted:SinePolicy",
            "--print",
        ],
        env=ros_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "vla_lego_policy" in r.stderr and "not found" in r.stderr:
        pytest.skip(f"policy node not built yet: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].split()[0].endswith("/lib/h1_bringup/h1_sim_node")
    assert "--ros-args -r __node:=h1_sim --params-file" in lines[0]
    assert lines[2].split()[0].endswith("/lib/vla_lego_policy/policy_node")


def test_up_bad_input_exits_2_without_starting(ros_env: dict[str, str]) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "h1_bringup.up", "policy.launch.py", "robot:=foo"],
        env=ros_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "robot:='foo' is not allowed" in r.stderr
    assert "started" not in r.stdout
