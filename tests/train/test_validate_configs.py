"""scripts/validate_configs.py: every shipped combination composes and validates; a broken config
directory fails with a readable line naming the combination and the problem."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "validate_configs", REPO / "scripts" / "validate_configs.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_shipped_configs_all_valid(capsys: pytest.CaptureFixture[str]) -> None:
    script = _load_script()
    groups = script.discover_groups(REPO / "training" / "vla_lego" / "configs")
    assert {"model", "trainer", "data", "cluster", "logging"} <= set(groups)
    assert {"tiny", "base", "large", "eo1_3b"} <= set(groups["model"])
    assert script.main(["--world-size", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "all configs compose and validate" in out


def test_broken_config_dir_fails_readably(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = REPO / "training" / "vla_lego" / "configs"
    shutil.copy(src / "config.yaml", tmp_path / "config.yaml")
    for group, option in (
        ("model", "tiny"),
        ("trainer", "default"),
        ("data", "dummy"),
        ("cluster", "local"),
        ("logging", "disabled"),
    ):
        (tmp_path / group).mkdir()
        shutil.copy(src / group / f"{option}.yaml", tmp_path / group / f"{option}.yaml")
    (tmp_path / "logging" / "disabled.yaml").rename(tmp_path / "logging" / "default.yaml")
    default = (tmp_path / "trainer" / "default.yaml").read_text()
    (tmp_path / "trainer" / "broken.yaml").write_text(
        default.replace("  lr: 1.0e-4", "  lr: -3.0e-4")
    )
    (tmp_path / "model" / "typo.yaml").write_text(
        (tmp_path / "model" / "tiny.yaml").read_text() + "text_num_layer: 3\n"
    )
    script = _load_script()
    assert script.main(["--config-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "BROKEN" in err and "trainer=broken" in err
    assert "trainer.optimizer.lr must be a finite number > 0, got -0.0003" in err
    assert "model=typo" in err and "did you mean 'text_num_layers'" in err
    assert "3 broken combination(s)" in err  # broken x tiny, default x typo, broken x typo
