"""EO-1 checkpoints: save -> load identical outputs, atomic writes, clear errors, eo1_3b path."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from vla_lego.models.checkpoint import CheckpointError
from vla_lego.models.eo1 import EO1Config, EO1Policy
from vla_lego.robot import H1_LAYOUT, ActionLayout, LayoutMismatchError

STATS = {
    "state": {"mean": np.linspace(-1, 1, 20), "std": np.full(20, 0.5)},
    "actions": {
        "mean": np.linspace(0, 1, 20),
        "std": np.full(20, 2.0),
        "q01": np.zeros(20),
        "q99": np.ones(20),
    },
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_config) -> tuple[EO1Policy, Path]:
    torch.manual_seed(3)
    policy = EO1Policy(tiny_config, stats=STATS).eval()
    d = tmp_path_factory.mktemp("ckpt") / "eo1"
    policy.save_pretrained(d)
    return policy, d


def test_save_load_identical_outputs(saved, batch_factory, obs_of) -> None:
    policy, d = saved
    loaded = EO1Policy.from_pretrained(d, layout=H1_LAYOUT)
    assert loaded.config == policy.config
    o = obs_of(batch_factory(2, 2))
    a1, t1 = policy.sample_actions(o, generator=torch.Generator().manual_seed(0))
    a2, t2 = loaded.sample_actions(o, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a1, a2) and t1 == t2
    for (n1, p1), (n2, p2) in zip(policy.state_dict().items(), loaded.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)
    stats = json.loads((d / "norm_stats.json").read_text())["stats"]
    assert stats["actions"]["std"] == [2.0] * 20
    assert json.loads((d / "robot_layout.json").read_text()) == H1_LAYOUT.to_dict()
    assert (d / "tokenizer" / "tokenizer.json").is_file()
    assert not list(d.parent.glob(".eo1.tmp-*")), "temporary directory left behind"


def test_layout_mismatch(saved) -> None:
    _, d = saved
    other = ActionLayout(joints=H1_LAYOUT.joints[:8])
    with pytest.raises(LayoutMismatchError, match="joints"):
        EO1Policy.from_pretrained(d, layout=other)
    wider = replace(H1_LAYOUT, max_action_dim=40)
    with pytest.raises(LayoutMismatchError, match="max_action_dim 32 != 40"):
        EO1Policy.from_pretrained(d, layout=wider)


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_corrupt_and_missing_files(saved, tmp_path) -> None:
    _, d = saved
    c = _copy(d, tmp_path / "corrupt")
    w = c / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r"model\.safetensors has \d+ bytes"):
        EO1Policy.from_pretrained(c)
    m = _copy(d, tmp_path / "missing")
    (m / "norm_stats.json").unlink()
    with pytest.raises(CheckpointError, match=r"norm_stats\.json missing"):
        EO1Policy.from_pretrained(m)
    f = _copy(d, tmp_path / "flipped")
    raw = bytearray((f / "eo1_config.json").read_bytes())
    raw[5] ^= 1
    (f / "eo1_config.json").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum"):
        EO1Policy.from_pretrained(f)
    with pytest.raises(CheckpointError, match="does not exist"):
        EO1Policy.from_pretrained(tmp_path / "nowhere")
    e = _copy(d, tmp_path / "entry")
    manifest = e / "manifest.json"
    data = json.loads(manifest.read_text())
    data["files"]["norm_stats.json"] = {"sha256": "0" * 64}  # no size
    manifest.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="lacks size/sha256"):
        EO1Policy.from_pretrained(e)
    manifest.write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="corrupt"):
        EO1Policy.from_pretrained(e)


def test_failed_save_leaves_previous_checkpoint(saved, tmp_path, monkeypatch) -> None:
    policy, d = saved
    target = _copy(d, tmp_path / "keep")
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}

    def boom(directory) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(policy.processor, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        policy.save_pretrained(target)
    after = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    assert before == after
    assert not list(tmp_path.glob(".keep.tmp-*"))


@pytest.mark.slow
def test_eo1_3b_loading_path_with_tiny_backbone(tmp_path, batch_factory, obs_of) -> None:
    """The eo1_3b preset reads a local Hugging Face Qwen2.5-VL directory; exercised with a tiny
    backbone saved by transformers' own ``save_pretrained`` (full 151,680-row vocabulary)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vla_lego.models.eo1.modeling_eo1 import backbone_config
    from vla_lego.models.eo1.processing_eo1 import EO1Processor

    small = EO1Config.from_preset("tiny", vocab_prune=None, image_size=56, action_horizon=8)
    torch.manual_seed(0)
    qwen = Qwen2_5_VLForConditionalGeneration._from_config(
        backbone_config(small, EO1Processor(small, H1_LAYOUT))
    )
    qwen.save_pretrained(tmp_path / "qwen")
    cfg = EO1Config.from_preset(
        "eo1_3b",
        backbone_path=str(tmp_path / "qwen"),
        image_size=56,
        action_horizon=8,
        vocab_prune=4096,
    )
    policy = EO1Policy(cfg).eval()  # same path as EO1Policy.from_config(cfg)
    assert policy.config.text_hidden_size == 64 and policy.config.text_num_layers == 2
    kept = policy.processor.vocab.kept_ids
    emb = policy.vlm.get_input_embeddings().weight
    assert torch.equal(emb, qwen.get_input_embeddings().weight[kept])
    assert policy.vlm.lm_head.weight is emb
    for name, p in qwen.model.language_model.layers.named_parameters():
        assert torch.equal(p, policy.vlm.model.language_model.layers.get_parameter(name)), name
    for name, p in qwen.model.visual.named_parameters():
        assert torch.equal(p, policy.vlm.model.visual.get_parameter(name)), name
    policy.save_pretrained(tmp_path / "eo1")
    loaded = EO1Policy.from_pretrained(tmp_path / "eo1")
    o = obs_of(batch_factory(1, 2))
    a1, _ = policy.sample_actions(o, generator=torch.Generator().manual_seed(0))
    a2, _ = loaded.sample_actions(o, generator=torch.Generator().manual_seed(0))
    for (n1, p1), (n2, p2) in zip(policy.state_dict().items(), loaded.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2), n1
    # same weights; transformers' loader leaves differently strided tensors -> float32 rounding
    torch.testing.assert_close(a1, a2, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="set backbone_path"):
        EO1Policy(cfg.replace(backbone_path=None))
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        EO1Policy.from_config(cfg.replace(backbone_path=str(tmp_path / "absent")))
