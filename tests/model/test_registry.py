"""The model contract and registry: name -> class, create from a config, load by model.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from vla_lego.configs import model_preset_file
from vla_lego.models import registry
from vla_lego.models.base import MODEL_FILE, CachedPolicyModel, PolicyModel
from vla_lego.models.checkpoint import MANIFEST, CheckpointError
from vla_lego.models.eo1 import EO1Config, EO1Policy, EO1Processor


def test_eo1_is_registered_with_its_config_and_processor() -> None:
    cls = registry.get_model_class("eo1")
    assert cls is EO1Policy and cls.model_type == "eo1"
    assert registry.model_config_class("eo1") is EO1Config
    assert registry.model_processor_class("eo1") is EO1Processor
    assert "eo1" in registry.available_models()


def test_unknown_model_type_names_the_known_ones() -> None:
    with pytest.raises(registry.UnknownModelError, match=r"did you mean 'eo1'"):
        registry.get_model_class("eo2")


def test_register_rejects_incomplete_classes_and_name_clashes() -> None:
    with pytest.raises(TypeError, match="missing"):
        registry.register_model("half")(type("Half", (), {"compute_loss": None}))
    with pytest.raises(TypeError, match="registered as"):
        registry.register_model("other")(EO1Policy)
    assert "half" not in registry.available_models()


def test_create_model_from_the_hydra_group_and_from_a_config(tiny_config: EO1Config) -> None:
    from omegaconf import OmegaConf

    group = OmegaConf.load(model_preset_file("tiny"))
    assert group.type == "eo1"
    assert registry.model_config(group) == EO1Config.from_preset("tiny")
    torch.manual_seed(0)
    model = registry.create_model(tiny_config)
    assert isinstance(model, EO1Policy) and model.config == tiny_config
    assert isinstance(model, PolicyModel) and isinstance(model, CachedPolicyModel)
    assert registry.is_cached(model)
    assert registry.preset_config("tiny", action_horizon=8).action_horizon == 8
    with pytest.raises(ValueError, match="did you mean 'tiny'"):
        registry.preset_config("tinyy")
    with pytest.raises(ValueError, match="type 'pi0'"):
        EO1Config.from_dict({**tiny_config.to_dict(), "type": "pi0"})


def test_sizes_come_only_from_the_preset_files() -> None:
    with pytest.raises(TypeError):
        EO1Config()  # type: ignore[call-arg]  # no size defaults to drift from the YAMLs
    with pytest.raises(ValueError, match="missing size field"):
        EO1Config.from_dict({"name": "tiny"})
    cfg = EO1Config.from_preset("tiny")
    assert cfg.subtask_drop_prob == 0.1 and cfg.text_hidden_size == 64


def _drop_model_file(directory: Path) -> None:
    """Make ``directory`` look like a checkpoint written before model.json existed."""
    (directory / MODEL_FILE).unlink()
    manifest = json.loads((directory / MANIFEST).read_text())
    del manifest["files"][MODEL_FILE]
    (directory / MANIFEST).write_text(json.dumps(manifest))


def test_checkpoints_record_the_type_and_old_ones_load_as_eo1(
    tiny_policy: EO1Policy, tmp_path: Path, batch_factory: Any, obs_of: Any
) -> None:
    tiny_policy.save_pretrained(tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / MODEL_FILE).read_text()) == {"model_type": "eo1"}
    assert registry.checkpoint_model_type(tmp_path / "ckpt") == "eo1"
    loaded = registry.load_model(tmp_path / "ckpt")
    assert isinstance(loaded, EO1Policy)

    _drop_model_file(tmp_path / "ckpt")
    assert registry.checkpoint_model_type(tmp_path / "ckpt") == "eo1"
    old = registry.load_model(tmp_path / "ckpt")
    obs = obs_of(batch_factory(1, 1))
    noise = torch.randn(1, tiny_policy.config.action_horizon, tiny_policy.config.max_action_dim)
    a, _ = old.sample_actions(obs, noise=noise.clone(), decode_text=False)
    b, _ = tiny_policy.sample_actions(obs, noise=noise.clone(), decode_text=False)
    torch.testing.assert_close(a, b)


def test_a_checkpoint_of_another_type_is_refused(tiny_policy: EO1Policy, tmp_path: Path) -> None:
    tiny_policy.save_pretrained(tmp_path / "ckpt")
    (tmp_path / "ckpt" / MODEL_FILE).write_text(json.dumps({"model_type": "pi0"}))
    manifest = json.loads((tmp_path / "ckpt" / MANIFEST).read_text())
    manifest["files"].pop(MODEL_FILE)  # keep the manifest check out of the way
    (tmp_path / "ckpt" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(registry.UnknownModelError, match="pi0"):
        registry.load_model(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="'pi0' model"):
        EO1Policy.from_pretrained(tmp_path / "ckpt")


def test_example_inputs_are_seeded(tiny_policy: EO1Policy) -> None:
    a = tiny_policy.example_inputs(views=2, words=4, seed=3)
    b = tiny_policy.example_inputs(views=2, words=4, seed=3)
    assert a.num_views == 2 and torch.equal(a.input_ids, b.input_ids)
    torch.testing.assert_close(a.pixel_values, b.pixel_values)
