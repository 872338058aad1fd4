"""h1_bringup's settings come from tables: bridge.yaml is generated, the per-robot and sim/camera
files only name known settings with valid values, and BridgeConfig's defaults are the table's."""

from __future__ import annotations

from pathlib import Path

import pytest

from h1_bringup.bridge_core import BridgeConfig
from h1_bringup.bridge_params import BRIDGE_PARAMS, params_yaml
from h1_bringup.node_params import CAMERA_PARAMS, SIM_PARAMS
from vla_lego.runtime.params import SettingsTable, read_params_file

CONFIG = Path(__file__).resolve().parents[2] / "ros2_ws/src/h1_bringup/config"


def test_bridge_yaml_is_the_generated_file() -> None:
    assert (CONFIG / "bridge.yaml").read_text() == params_yaml(), (
        "bridge.yaml is out of date: python -m vla_lego.runtime params-yaml "
        "h1_bringup.bridge_params --write ros2_ws/src/h1_bringup/config/bridge.yaml"
    )


@pytest.mark.parametrize(
    ("files", "table", "node"),
    [
        (["bridge.yaml", "bridge_sim.yaml"], BRIDGE_PARAMS, "h1_bridge"),
        (["bridge.yaml", "bridge_real.yaml"], BRIDGE_PARAMS, "h1_bridge"),
        (["sim.yaml"], SIM_PARAMS, "h1_sim"),
        (["camera.yaml"], CAMERA_PARAMS, "head_camera"),
    ],
)
def test_config_files_name_known_settings_with_valid_values(
    files: list[str], table: SettingsTable, node: str
) -> None:
    layers = [read_params_file(CONFIG / f, node) for f in files]
    table.resolve(*layers, source=", ".join(files))


def test_bridge_config_defaults_and_ranges_are_the_table() -> None:
    d, cfg = BRIDGE_PARAMS.defaults(), BridgeConfig()
    for name in ("control_rate", "ramp_up_time", "command_timeout", "arm_max_velocity"):
        assert getattr(cfg, name) == d[name], name
    assert tuple(cfg.kp_vec) == d["kp"]
    assert BridgeConfig.from_values(d) == cfg
    with pytest.raises(ValueError, match="arm_max_velocity"):
        BridgeConfig(arm_max_velocity=BRIDGE_PARAMS["arm_max_velocity"].high + 1)
    with pytest.raises(ValueError, match=r"kp must be 1 or 8 finite values in \[0, 500.0\]"):
        BridgeConfig(kp=(600.0,))
