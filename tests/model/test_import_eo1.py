"""Importing EO-1 release checkpoints (``vla_lego.models.import_eo1``) on a tiny release folder."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.model.eo1_release_fixture import (
    INDEX,
    SHARDS,
    Release,
    TwoLayerHead,
    clone,
    eo1_key,
    rewrite,
    round_backbone_to_bf16,
    write_json,
    write_lerobot,
    write_release,
)
from vla_lego.models import import_eo1 as imp
from vla_lego.models.eo1 import EO1Config, EO1Policy
from vla_lego.models.eo1.configuration_eo1 import EO1_COMPAT

torch.set_num_threads(1)

HORIZON = 8
IMAGE = 56
OVERRIDES = {"image_size": IMAGE}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[EO1Policy, Release]:
    """A tiny full-vocabulary policy and its EO-1 release folder (reference = the policy with
    EO-1's two-layer head)."""
    torch.manual_seed(0)
    cfg = EO1Config.from_preset(
        "tiny", action_horizon=HORIZON, image_size=IMAGE, vocab_prune=None, **EO1_COMPAT
    )
    policy = EO1Policy(cfg).eval()
    round_backbone_to_bf16(policy)
    rel = write_release(policy, tmp_path_factory.mktemp("eo1") / "release")
    policy.action_out_proj = TwoLayerHead(rel)  # type: ignore[assignment]
    return policy, rel


@pytest.fixture(scope="module")
def imported(
    source: tuple[EO1Policy, Release], tmp_path_factory: pytest.TempPathFactory
) -> tuple[imp.ImportReport, Path]:
    out = tmp_path_factory.mktemp("imported") / "ckpt"
    return imp.import_eo1(source[1].path, out, preset="tiny", overrides=OVERRIDES), out


@pytest.fixture(scope="module")
def loaded(imported: tuple[imp.ImportReport, Path]) -> EO1Policy:
    return EO1Policy.from_pretrained(imported[1])


def _index(path: Path) -> dict[str, Any]:
    return json.loads((path / INDEX).read_text())  # type: ignore[no-any-return]


def _no_leftovers(out: Path) -> None:
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if out.name in p.name]  # no temporary siblings


def _forbid_weight_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: Any) -> torch.Tensor:
        raise AssertionError("tensor data was read before the refusal")

    monkeypatch.setattr(imp, "_read_tensor", fail)


# --------------------------------------------------------------------------- the good path
def test_every_key_accounted_for(
    source: tuple[EO1Policy, Release], imported: tuple[imp.ImportReport, Path], loaded: EO1Policy
) -> None:
    policy, rel = source
    report, out = imported
    keys = _index(rel.path)["weight_map"]
    assert report.num_source_tensors == len(keys) == sum(n for _, _, n in report.rows)
    patterns = {s for s, _, _ in report.rows}
    assert {"vlm_backbone.visual.*", "vlm_backbone.model.*"} <= patterns
    assert report.tied_lm_head and report.head_layers == 2
    # from_pretrained loads strictly: every project key present, none left over.
    assert loaded.vlm.lm_head.weight is loaded.language_model.embed_tokens.weight
    # Sizes, chunk length and Euler steps come from the release (the tiny preset says H = 50).
    assert loaded.config == policy.config
    assert loaded.config.action_horizon == HORIZON and loaded.config.vocab_prune is None
    ref = policy.state_dict()
    for key, value in loaded.state_dict().items():
        if not key.startswith("action_out_proj."):
            assert torch.equal(value, ref[key]), key
    record = json.loads((out / imp.IMPORT_RECORD).read_text())
    assert record["num_source_tensors"] == len(keys)
    assert "config.json" in record["release_files"]
    assert (out / imp.RELEASE_COPY_DIR / "added_tokens.json").is_file()
    text = str(report)
    assert "vlm_backbone.model.*" in text and "vlm.model.language_model.*" in text
    assert "compat=eo1 attention=causal_actions" in text
    assert "chat template of chat_template.json renders EO-1's layout" in text
    assert "tokenizer: the release's tokenizer.json" in text
    assert "not yet reproduced: images" in text and "not yet reproduced: attention" not in text
    assert loaded.processor.tokenizer.convert_tokens_to_ids("<|vla|>") == 151672


def test_folded_head_equals_two_layer_head(
    source: tuple[EO1Policy, Release], loaded: EO1Policy
) -> None:
    policy, _ = source
    h = torch.randn(3, HORIZON, loaded.hidden_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.action_out_proj(h), policy.action_out_proj(h), rtol=0, atol=1e-5
        )


def test_sample_actions_match_the_release(
    source: tuple[EO1Policy, Release], loaded: EO1Policy
) -> None:
    policy, _ = source
    rng = np.random.default_rng(0)
    lo, hi = loaded.layout.lower, loaded.layout.upper
    batch = {
        "images": rng.integers(0, 256, (2, 2, IMAGE, IMAGE, 3), np.uint8),
        "state": (lo + (hi - lo) * rng.random((2, loaded.layout.dim))).astype(np.float32),
        "instruction": ["pick up the red brick", "stack the blue brick"],
    }
    noise = torch.randn(2, HORIZON, 32, generator=torch.Generator().manual_seed(2))
    got, got_text = loaded.sample_actions(batch, noise=noise)
    want, want_text = policy.sample_actions(batch, noise=noise)
    assert got_text == want_text  # greedy decoding through the tied LM head
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_fold_linear_chain_three_layers() -> None:
    g = torch.Generator().manual_seed(3)
    layers = [(torch.randn(5, 4, generator=g), torch.randn(5, generator=g))]
    layers += [(torch.randn(5, 5, generator=g), torch.randn(5, generator=g))]
    layers += [(torch.randn(3, 5, generator=g), torch.randn(3, generator=g))]
    w, b = imp.fold_linear_chain(layers)
    x = torch.randn(7, 4, generator=g)
    y = x
    for wk, bk in layers:
        y = y @ wk.T + bk
    torch.testing.assert_close(x @ w.T + b, y, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- broken releases
@pytest.fixture
def broken(source: tuple[EO1Policy, Release], tmp_path: Path) -> Path:
    return clone(source[1].path, tmp_path / "release")


def _refused(src: Path, tmp_path: Path, *needles: str) -> str:
    out = tmp_path / "out"
    with pytest.raises(imp.EO1ImportError) as e:
        imp.import_eo1(src, out, preset="tiny", overrides=OVERRIDES)
    msg = str(e.value)
    for n in needles:
        assert n in msg, msg
    _no_leftovers(out)
    return msg


def test_truncated_shard(broken: Path, tmp_path: Path) -> None:
    shard = broken / SHARDS[1]
    rewrite(shard, shard.read_bytes()[:-1000])
    _refused(broken, tmp_path, SHARDS[1], "truncated", "vlm_backbone.model.")


def test_truncated_header(broken: Path, tmp_path: Path) -> None:
    shard = broken / SHARDS[0]
    rewrite(shard, shard.read_bytes()[:100])
    _refused(broken, tmp_path, SHARDS[0], "truncated")


@pytest.mark.parametrize(
    ("edit", "key", "needle"),
    [
        ("drop", "vlm_backbone.visual.merger.ln_q.weight", "not listed in"),
        ("add", "vlm_backbone.model.norm.bias", "listed in model.safetensors.index.json but not"),
        ("missing_file", "vlm_backbone.model.norm.bias", "file missing"),
    ],
)
def test_index_inconsistent(broken: Path, tmp_path: Path, edit: str, key: str, needle: str) -> None:
    index = _index(broken)
    wm = index["weight_map"]
    if edit == "drop":
        fname = wm.pop(key)
    elif edit == "add":
        fname = wm[key] = SHARDS[1]
    else:
        fname = wm[key] = "model-00003-of-00002.safetensors"
    rewrite(broken / INDEX, json.dumps(index).encode())
    _refused(broken, tmp_path, key, fname, needle)


def test_wrong_missing_and_unexpected_keys_all_listed(
    broken: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forbid_weight_reads(monkeypatch)
    shard = broken / SHARDS[0]
    tensors = load_file(str(shard))
    w = tensors["action_time_mlp_in.weight"]
    tensors["action_time_mlp_in.weight"] = torch.zeros(w.shape[0], w.shape[1] + 1)
    del tensors["state_proj.bias"]
    tensors["action_extra.weight"] = torch.zeros(2)
    tensors["action_out_proj.4.weight"] = torch.zeros(2)
    shard.unlink()
    save_file(tensors, str(shard))
    index = _index(broken)
    del index["weight_map"]["state_proj.bias"]
    index["weight_map"]["action_extra.weight"] = SHARDS[0]
    index["weight_map"]["action_out_proj.4.weight"] = SHARDS[0]
    rewrite(broken / INDEX, json.dumps(index).encode())
    msg = _refused(
        broken,
        tmp_path,
        f"action_time_mlp_in.weight ({SHARDS[0]}): shape [64, 129]",
        "[64, 128]",
        "state_proj.bias: missing",
        f"action_extra.weight ({SHARDS[0]}): unexpected",
        f"action_out_proj.4.weight ({SHARDS[0]}): unexpected",
    )
    assert msg.startswith("4 problem(s)")


def test_tied_lm_head_must_equal_embedding(broken: Path, tmp_path: Path) -> None:
    lm_head = load_file(str(broken / SHARDS[1]))["vlm_backbone.model.embed_tokens.weight"]
    lm_head[0, 0] += 1
    _add_lm_head(broken, lm_head)
    _refused(broken, tmp_path, "vlm_backbone.lm_head.weight", SHARDS[1], "tie_word_embeddings")


def _add_lm_head(src: Path, value: torch.Tensor) -> None:
    shard = src / SHARDS[1]
    tensors = load_file(str(shard))
    tensors["vlm_backbone.lm_head.weight"] = value
    shard.unlink()
    save_file(tensors, str(shard))
    index = _index(src)
    index["weight_map"]["vlm_backbone.lm_head.weight"] = SHARDS[1]
    rewrite(src / INDEX, json.dumps(index).encode())


def test_untied_lm_head_is_copied(broken: Path, tmp_path: Path) -> None:
    cfg = json.loads((broken / "config.json").read_text())
    cfg["tie_word_embeddings"] = cfg["text_config"]["tie_word_embeddings"] = False
    rewrite(broken / "config.json", json.dumps(cfg).encode())
    _refused(broken, tmp_path, "vlm.lm_head.weight: missing")
    emb = load_file(str(broken / SHARDS[1]))["vlm_backbone.model.embed_tokens.weight"]
    _add_lm_head(broken, emb + 0.5)
    report = imp.import_eo1(broken, tmp_path / "out", preset="tiny", overrides=OVERRIDES)
    assert not report.tied_lm_head
    policy = EO1Policy.from_pretrained(tmp_path / "out")
    assert policy.vlm.lm_head.weight is not policy.language_model.embed_tokens.weight
    assert torch.equal(policy.vlm.lm_head.weight, (emb + 0.5).float())
    assert torch.equal(policy.language_model.embed_tokens.weight, emb.float())


# --------------------------------------------------------------------------- LeRobot's format
def test_lerobot_format_gives_the_same_checkpoint(
    source: tuple[EO1Policy, Release], loaded: EO1Policy, tmp_path: Path
) -> None:
    src = write_lerobot(source[1], source[0], tmp_path / "lerobot")
    report = imp.import_eo1(src, tmp_path / "out", preset="tiny", overrides=OVERRIDES)
    assert report.source_format == imp.LEROBOT_FORMAT.name
    assert "model.vlm_backbone.model.language_model.*" in {s for s, _, _ in report.rows}
    policy = EO1Policy.from_pretrained(tmp_path / "out")
    assert policy.config == loaded.config
    want = loaded.state_dict()
    got = policy.state_dict()
    assert got.keys() == want.keys()
    for key, value in got.items():
        assert torch.equal(value, want[key]), key


def test_lerobot_state_width_refused(
    source: tuple[EO1Policy, Release], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_lerobot(source[1], source[0], tmp_path / "lerobot")
    _forbid_weight_reads(monkeypatch)
    _edit_config(src, max_state_dim=8)
    _refused(src, tmp_path, "max_state_dim=8", "one width")


# --------------------------------------------------------------------------- other models
def _edit_config(src: Path, **changes: Any) -> None:
    cfg = json.loads((src / "config.json").read_text())
    cfg.update(changes)
    rewrite(src / "config.json", json.dumps(cfg).encode())


def test_plain_qwen_folder_refused_before_loading(
    source: tuple[EO1Policy, Release], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forbid_weight_reads(monkeypatch)
    src = tmp_path / "qwen"
    src.mkdir()
    cfg = copy.deepcopy(json.loads((source[1].path / "config.json").read_text()))
    cfg["model_type"] = "qwen2_5_vl"
    write_json(src / "config.json", cfg)
    save_file(
        {
            "model.embed_tokens.weight": torch.zeros(4, 2),
            "visual.blocks.0.norm1.weight": torch.zeros(2),
        },
        str(src / "model.safetensors"),
    )
    _refused(src, tmp_path, "model_type 'qwen2_5_vl'", "backbone_path")
    # Labelled eo1 but holding a plain Qwen2.5-VL's keys: the key check lists what is wrong.
    cfg["model_type"] = "eo1"
    write_json(src / "config.json", cfg)
    _refused(
        src,
        tmp_path,
        "model.embed_tokens.weight (model.safetensors): unexpected",
        "state_proj.weight: missing",
        "action_out_proj.0.weight: missing",
    )


def test_wrong_action_dim_refused_before_loading(
    broken: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forbid_weight_reads(monkeypatch)
    _edit_config(broken, max_action_dim=7)
    _refused(broken, tmp_path, "max_action_dim=7", "pads actions/state to 32")


def test_nonlinear_head_refused(
    broken: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forbid_weight_reads(monkeypatch)
    _edit_config(broken, action_act="silu")
    _refused(broken, tmp_path, "action_act='silu'", "fold exactly")


def test_existing_out_kept(broken: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        imp.import_eo1(broken, out, preset="tiny", overrides=OVERRIDES)
    assert (out / "keep.txt").read_text() == "mine"


def test_cli_reports_refusal(
    broken: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit_config(broken, model_type="pi0")
    assert imp.main([str(broken), str(tmp_path / "out"), "--preset", "tiny"]) == 1
    assert "model_type 'pi0' is not an EO-1 checkpoint" in capsys.readouterr().err
    _no_leftovers(tmp_path / "out")


def test_fixture_names_every_project_key(source: tuple[EO1Policy, Release]) -> None:
    """The fixture's own EO-1 names cover the project model (guards the fixture itself)."""
    keys = _index(source[1].path)["weight_map"]
    policy = source[0]
    names = {eo1_key(k) for k in policy.state_dict() if not k.startswith("action_out_proj")}
    assert names - {None} | {k for k in keys if k.startswith("action_out_proj")} == set(keys)


def test_camera_size_gives_smart_resize_views(
    source: tuple[EO1Policy, Release], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--camera-size 120x160``: views get what Qwen's smart_resize makes of that camera with the
    release's pixel budget (preprocessor_config.json: 64*28^2 .. 128*28^2), aspect kept."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    out = tmp_path / "cam"
    argv = [str(source[1].path), str(out), "--preset", "tiny", "--camera-size", "120x160"]
    assert imp.main(argv) == 0
    want = smart_resize(120, 160, 28, min_pixels=64 * 28 * 28, max_pixels=128 * 28 * 28)
    printed = capsys.readouterr().out
    assert f"smart_resize 120x160 -> {want[0]}x{want[1]}" in printed
    assert "preprocessor_config.json" in printed and "not yet reproduced: images" not in printed
    policy = EO1Policy.from_pretrained(out)
    assert policy.config.view_hw == tuple(want) and want[0] != want[1]
    rng = np.random.default_rng(1)
    lo, hi = policy.layout.lower, policy.layout.upper
    batch = {
        "images": rng.integers(0, 256, (1, 2, 120, 160, 3), np.uint8),
        "state": (lo + (hi - lo) * rng.random((1, policy.layout.dim))).astype(np.float32),
        "instruction": ["pick up the red brick"],
    }
    actions, _ = policy.sample_actions(batch, generator=torch.Generator().manual_seed(0))
    assert actions.shape == (1, HORIZON, policy.layout.dim) and torch.isfinite(actions).all()
    with pytest.raises(SystemExit):
        imp.main([str(source[1].path), str(tmp_path / "x"), "--camera-size", "640"])
