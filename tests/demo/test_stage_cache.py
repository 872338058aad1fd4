"""The demo's stage cache: a stage is reused only when everything it was built from is the same."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import vla_lego.train
import vla_lego.train.api
from vla_lego.demo.config import PRESETS
from vla_lego.demo.stages import cached, export_policy, train_policy


def _counting_build(calls: list[Path]):
    def build(out: Path) -> dict[str, Any]:
        calls.append(out)
        (out / "artifact").write_text(str(len(calls)))
        return {"n": len(calls)}

    return build


def test_same_inputs_reuse_and_different_inputs_rebuild(tmp_path: Path) -> None:
    cfg = PRESETS["quick"].with_overrides(out=str(tmp_path))
    calls: list[Path] = []
    build = _counting_build(calls)
    first = cached(cfg, "export", False, build, inputs="train-key-a")
    again = cached(cfg, "export", False, build, inputs="train-key-a")
    assert len(calls) == 1 and again["n"] == 1 and again["cache_key"] == first["cache_key"]
    changed = cached(cfg, "export", False, build, inputs="train-key-b")
    assert len(calls) == 2 and changed["n"] == 2 and changed["cache_key"] != first["cache_key"]
    assert (tmp_path / "export" / "artifact").read_text() == "2"
    cached(cfg, "export", True, build, inputs="train-key-b")  # --fresh
    assert len(calls) == 3


def test_an_interrupted_stage_is_rebuilt(tmp_path: Path) -> None:
    cfg = PRESETS["quick"].with_overrides(out=str(tmp_path))
    calls: list[Path] = []

    def crash(out: Path) -> dict[str, Any]:
        (out / "partial").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached(cfg, "data", False, crash)
    cached(cfg, "data", False, _counting_build(calls))
    assert len(calls) == 1 and not (tmp_path / "data" / "partial").exists()


def test_editing_a_model_preset_retrains_and_reexports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The train key covers the composed Hydra config, so a changed ``model/tiny.yaml`` is not
    served a checkpoint of the old model; the export key follows the train key."""
    configs = tmp_path / "configs"
    shutil.copytree(vla_lego.train.api.config_dir(), configs)
    monkeypatch.setattr(vla_lego.train.api, "config_dir", lambda: configs)
    trained: list[int] = []

    def fake_train(composed: Any) -> SimpleNamespace:
        # The edge replaced here is minutes of training; the cache logic around it is real.
        trained.append(int(composed.model.image_size))
        policy = tmp_path / f"policy{len(trained)}"
        policy.mkdir()
        return SimpleNamespace(policy_dir=policy, step=1, time_limited=False, metrics={})

    monkeypatch.setattr(vla_lego.train, "train_from_config", fake_train)
    cfg = PRESETS["quick"].with_overrides(out=str(tmp_path / "demo"))
    first = train_policy(cfg, "/data/set", fresh=False)
    assert train_policy(cfg, "/data/set", fresh=False)["cache_key"] == first["cache_key"]
    assert len(trained) == 1

    tiny = configs / "model" / "tiny.yaml"
    size = trained[0]
    tiny.write_text(tiny.read_text().replace(f"image_size: {size}", f"image_size: {size + 28}"))
    second = train_policy(cfg, "/data/set", fresh=False)
    assert trained == [size, size + 28]
    assert second["cache_key"] != first["cache_key"]

    exports: list[str] = []

    def key_of(upstream: str) -> str:
        monkeypatch.setattr(
            "vla_lego.export.exporter.export_checkpoint",
            lambda ckpt, out, opts: exports.append(ckpt) or SimpleNamespace(parity={}),
        )
        return str(export_policy(cfg, "ckpt", False, upstream=upstream)["cache_key"])

    assert key_of(first["cache_key"]) == key_of(first["cache_key"]) and len(exports) == 1
    assert key_of(second["cache_key"]) != key_of(first["cache_key"])
