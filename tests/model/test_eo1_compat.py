"""The ``compat="eo1"`` mode: EO-1's tokens and chat template, the causal action block, EO-1's
normalisation epsilon, and refusals of configs / tokenizers that mix the modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.model.eo1_release_fixture import CHAT_TEMPLATE, write_json
from vla_lego.models import import_eo1 as imp
from vla_lego.models.checkpoint import CheckpointError
from vla_lego.models.eo1 import EO1Config, EO1Policy, EO1Processor, build_qwen_tokenizer
from vla_lego.models.eo1.attention import sequence_attention_mask
from vla_lego.models.eo1.configuration_eo1 import EO1_COMPAT
from vla_lego.models.eo1.processing_eo1 import sequential_position_ids
from vla_lego.models.eo1.tokenizer import EO1_SPECIAL_TOKENS
from vla_lego.models.normalization import Normalizer
from vla_lego.robot import H1_LAYOUT

torch.set_num_threads(1)

HORIZON = 6
IMAGE = 56  # 2x2 decoder tokens per view


def _cfg(**kw: object) -> EO1Config:
    return EO1Config.from_preset(
        "tiny", action_horizon=HORIZON, image_size=IMAGE, **{**EO1_COMPAT, **kw}
    )


def _batch(b: int = 2, views: int = 2, seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    lo, hi = H1_LAYOUT.lower, H1_LAYOUT.upper
    return {
        "images": rng.integers(0, 256, (b, views, IMAGE, IMAGE, 3), np.uint8),
        "state": (lo + (hi - lo) * rng.random((b, H1_LAYOUT.dim))).astype(np.float32),
        "instruction": ["pick up the red brick", "stack the blue brick on the red one"][:b],
    }


@pytest.fixture(scope="module")
def policy() -> EO1Policy:
    torch.manual_seed(0)
    return EO1Policy(_cfg()).eval()


# --------------------------------------------------------------------------- tokens, template
def test_eo1_tokens_and_template_ids_on_a_known_prompt() -> None:
    """The full-vocabulary prompt of EO-1's chat template, id for id (Qwen2.5 ids)."""
    proc = EO1Processor(_cfg(vocab_prune=None), H1_LAYOUT)
    tok = proc.tokenizer
    assert tok.convert_tokens_to_ids(list(EO1_SPECIAL_TOKENS)) == list(range(151665, 151673))
    inputs = proc(_batch(b=1))
    ids = inputs.input_ids[0].tolist()
    task = tok.encode("pick up the red brick", add_special_tokens=False)
    view = [151652] + [151655] * 4 + [151653]  # <|vision_start|> <|image_pad|> x 4 <|vision_end|>
    want = (
        # <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n
        [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198]
        + view * 2
        + [151669, 151670, 151671]  # <|state_start|> <|state_pad|> <|state_end|>
        + task
        # <|vla|><|im_end|>\n<|im_start|>assistant\n<|action_start|>
        + [151672, 151645, 198, 151644, 77091, 198, 151665]
    )
    assert ids == want
    # The same ids as tokenizing the rendered template (EO-1's processor does exactly that).
    text = imp.expected_prompt(2, "pick up the red brick").replace(
        "<|image_pad|>", "<|image_pad|>" * 4
    )
    full = tok.encode(text, add_special_tokens=False)
    assert full[: len(want)] == want and full[len(want) :] == [
        151666,
        151668,
    ]  # <|action_pad|> <|action_end|>
    # The state embedding goes to <|state_pad|>, once.
    assert inputs.state_mask[0].nonzero().flatten().tolist() == [ids.index(151670)]
    # M-RoPE: the header advances text positions, the first view starts after it.
    pos = inputs.position_ids[:, 0]
    assert pos[:, :14].tolist() == [list(range(14))] * 3
    assert pos[:, 15].tolist() == [15, 15, 15] and pos[:, 18].tolist() == [15, 16, 16]
    assert int(inputs.next_pos[0]) == int(pos[0, -1]) + 1


def test_template_renders_the_layout_and_a_different_one_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    write_json(good / "chat_template.json", {"chat_template": CHAT_TEMPLATE})
    assert "renders EO-1's layout" in imp.check_chat_template(good)
    bad = tmp_path / "bad"
    bad.mkdir()
    # State after the task text: the prompt EO-1 was not trained on.
    swapped = CHAT_TEMPLATE.replace("c['type'] == 'state'", "c['type'] == 'nothing'")
    (bad / "chat_template.jinja").write_text(swapped)
    with pytest.raises(imp.EO1ImportError, match=r"chat_template.jinja.*first difference"):
        imp.check_chat_template(bad)
    assert "no chat template" in imp.check_chat_template(tmp_path)


def test_eo1_config_with_project_tokenizer_refused() -> None:
    with pytest.raises(ValueError, match=r"lacks EO-1's special tokens.*<\|action_start\|>"):
        EO1Processor(_cfg(), H1_LAYOUT, tokenizer=build_qwen_tokenizer())
    with pytest.raises(ValueError, match="lacks the project's special tokens"):
        EO1Processor(
            EO1Config.from_preset("tiny"),
            H1_LAYOUT,
            tokenizer=build_qwen_tokenizer(EO1_SPECIAL_TOKENS),
        )


def test_eo1_mode_needs_causal_actions_and_a_sane_eps() -> None:
    with pytest.raises(ValueError, match="attention must be 'causal_actions'"):
        _cfg(attention="bidirectional_actions")
    with pytest.raises(ValueError, match="compat must be one of"):
        _cfg(compat="openvla")
    with pytest.raises(ValueError, match="norm_eps"):
        _cfg(norm_eps=float("nan"))


def test_checkpoint_with_swapped_tokenizer_refused_before_weights(
    policy: EO1Policy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ckpt"
    policy.save_pretrained(path)
    loaded = EO1Policy.from_pretrained(path)
    assert loaded.config.compat == "eo1" and loaded.processor.normalizer.eps == 1e-8
    # A project tokenizer in an eo1 checkpoint: refused while reading the processor.
    project = EO1Policy(EO1Config.from_preset("tiny", action_horizon=HORIZON, image_size=IMAGE))
    project.save_pretrained(tmp_path / "project")
    (path / "tokenizer" / "tokenizer.json").unlink()
    (path / "tokenizer" / "tokenizer.json").write_bytes(
        (tmp_path / "project" / "tokenizer" / "tokenizer.json").read_bytes()
    )
    import vla_lego.models.eo1.modeling_eo1 as modeling

    monkeypatch.setattr(modeling, "verify_directory", lambda *a, **k: None)  # manifest aside
    monkeypatch.setattr(modeling, "_load_weights", _fail)
    with pytest.raises(CheckpointError, match="lacks EO-1's special tokens"):
        EO1Policy.from_pretrained(path)


def _fail(*_: object) -> None:
    raise AssertionError("weights were read before the refusal")


# --------------------------------------------------------------------------- causal action block
def test_causal_mask_action_i_never_sees_j_after_i() -> None:
    valid = torch.tensor([[True, True, False, True, True, True, True]])
    h = 4
    causal = sequence_attention_mask(valid, valid, h, causal_actions=True)[0, 0]
    bidir = sequence_attention_mask(valid, valid, h, causal_actions=False)[0, 0]
    n = valid.shape[1]
    for i in range(n - h, n):
        for j in range(n - h, n):
            assert bool(causal[i, j]) == (j <= i)
            assert bool(bidir[i, j])
        assert causal[i, : n - h].tolist() == [True, True, False]  # prefix: valid tokens only
    assert not causal[: n - h, n - h :].any()  # nothing before the block attends to it


def test_perturbing_a_later_action_leaves_earlier_velocities_unchanged(
    policy: EO1Policy,
) -> None:
    inputs = policy.processor(_batch())
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, HORIZON, 32, generator=g)
    t = torch.full((2,), 0.6)
    y = x.clone()
    y[:, 3] += 1.0
    empty = torch.zeros(2, 0, dtype=torch.long)
    none = torch.zeros(2, 0, dtype=torch.bool)
    with torch.no_grad():
        v_x = policy.full_sequence(inputs, empty, none, x, t)[1]
        v_y = policy.full_sequence(inputs, empty, none, y, t)[1]
        embeds, mask, pos = policy.embed_prefix(inputs)
        kv, _ = policy.prefix_forward(embeds, mask, pos)
        ctx = policy.prepare_denoise(
            kv, inputs.prefix_valid, sequential_position_ids(inputs.next_pos, HORIZON)
        )
        c_x, c_y = policy.denoise_with(ctx, x, t), policy.denoise_with(ctx, y, t)
    for a, b in ((v_x, v_y), (c_x, c_y)):
        assert torch.equal(a[:, :3], b[:, :3])  # actions 0..2 never see action 3
        assert (a[:, 3:] - b[:, 3:]).abs().amax() > 1e-4
    torch.testing.assert_close(c_x, v_x, rtol=0, atol=1e-5)  # KV cache exact in this mode
    # The project's own mode: every action sees action 3.
    bidir = EO1Policy(EO1Config.from_preset("tiny", action_horizon=HORIZON, image_size=IMAGE))
    p_in = bidir.processor(_batch())
    with torch.no_grad():
        s = torch.zeros(2, 0, dtype=torch.long)
        b_x = bidir.full_sequence(p_in, s, none, x, t)[1]
        b_y = bidir.full_sequence(p_in, s, none, y, t)[1]
    assert (b_x[:, :3] - b_y[:, :3]).abs().amax() > 1e-6


def test_cached_sampling_equals_recomputation_and_decodes_no_text(policy: EO1Policy) -> None:
    inputs = policy.processor(_batch())
    noise = torch.randn(2, HORIZON, 32, generator=torch.Generator().manual_seed(2))
    cached, texts, text_ids, _ = policy.sample_normalized(inputs, noise, decode_text=True)
    again, _, _, _ = policy.sample_normalized(inputs, noise, decode_text=False, use_cache=False)
    assert texts == ["", ""] and text_ids.shape == (2, 0)
    torch.testing.assert_close(cached, again, rtol=0, atol=1e-5)


def test_training_loss_is_actions_only(policy: EO1Policy) -> None:
    batch = {
        **_batch(),
        "actions": np.zeros((2, HORIZON, H1_LAYOUT.dim), np.float32),
        "subtask": ["ignored in eo1 mode", ""],
    }
    policy.train()
    try:
        loss, metrics = policy.compute_loss(batch, generator=torch.Generator().manual_seed(0))
        loss.backward()
        grad = policy.action_out_proj.weight.grad
        assert grad is not None and float(grad.abs().sum()) > 0.0
    finally:
        policy.eval()
        policy.zero_grad(set_to_none=True)
    assert metrics["text_loss"] == 0.0 and metrics["flow_loss"] == pytest.approx(metrics["loss"])


# --------------------------------------------------------------------------- normalisation
def test_eo1_normalisation_divides_by_std_plus_eps() -> None:
    dim = H1_LAYOUT.dim
    std = np.linspace(0.01, 2.0, dim)
    stats = {k: {"mean": np.full(dim, 0.5), "std": std} for k in ("state", "actions")}
    norm = Normalizer(stats, dim, "mean_std", eps=1e-8)
    x = np.linspace(-1, 1, dim)
    np.testing.assert_allclose(norm.normalize(x, "state"), (x - 0.5) / (std + 1e-8), rtol=1e-6)
    back = Normalizer.from_dict(norm.to_dict())
    assert back.eps == 1e-8
    old = norm.to_dict()
    del old["eps"]  # files written before eps existed divided by the bare std
    assert Normalizer.from_dict(old).eps == 0.0
    with pytest.raises(ValueError, match="eps"):
        Normalizer(stats, dim, "mean_std", eps=-1.0)


def test_image_features_land_on_the_image_pads_after_the_header(policy: EO1Policy) -> None:
    """The sliced prefix assembly (torch path) equals the gather at <|image_pad|> (export path)."""
    inputs = policy.processor(_batch())
    assert len(policy.processor.lead_ids) > 0
    with torch.no_grad():
        sliced = policy.embed_prefix_tensors(
            inputs.input_ids, inputs.pixel_values, inputs.state, inputs.state_mask
        )
        gathered, _ = policy.embed_prefix_dynamic(
            inputs.input_ids,
            inputs.pixel_values,
            inputs.state,
            inputs.state_mask,
            inputs.prefix_valid,
        )
    torch.testing.assert_close(sliced, gathered, rtol=0, atol=0)


# --------------------------------------------------------------------------- backbone_path
def test_backbone_path_refuses_folders_that_are_not_plain_qwen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An EO-1 release, or a Qwen-typed folder holding VLA keys, as ``backbone_path``: refused
    before transformers loads anything (it would initialise the missing weights randomly)."""
    from safetensors.torch import save_file
    from transformers import Qwen2_5_VLForConditionalGeneration

    from tests.model.eo1_release_fixture import write_release
    from vla_lego.models.eo1 import backbone as bb

    def no_load(*_: object, **__: object) -> None:
        raise AssertionError("weights were loaded before the refusal")

    monkeypatch.setattr(Qwen2_5_VLForConditionalGeneration, "from_pretrained", no_load)
    small = EO1Policy(_cfg(vocab_prune=None))
    write_release(small, tmp_path / "release")
    cfg = EO1Config.from_preset("eo1_3b", image_size=IMAGE, action_horizon=HORIZON)
    with pytest.raises(bb.BackboneFolderError, match=r"is an EO-1 checkpoint.*import_eo1"):
        EO1Policy(cfg.replace(backbone_path=str(tmp_path / "release")))
    fake = tmp_path / "fake_qwen"
    fake.mkdir()
    write_json(fake / "config.json", {"model_type": "qwen2_5_vl"})
    save_file(
        {
            "model.embed_tokens.weight": torch.zeros(4, 2),
            "state_proj.weight": torch.zeros(2, 2),
            "vlm_backbone.model.norm.weight": torch.zeros(2),
        },
        str(fake / "model.safetensors"),
    )
    with pytest.raises(
        bb.BackboneFolderError, match=r"2 tensor\(s\) are not Qwen2.5-VL.*state_proj"
    ):
        EO1Policy(cfg.replace(backbone_path=str(fake)))
    write_json(fake / "config.json", {"model_type": "pi0"})
    with pytest.raises(bb.BackboneFolderError, match=r"model_type .pi0. is not a Qwen2.5-VL"):
        EO1Policy(cfg.replace(backbone_path=str(fake)))


# --------------------------------------------------------------------------- precision
def test_mixed_precision_keeps_heads_float32(policy: EO1Policy) -> None:
    """EO-1's inference precision: bf16 backbone, float32 heads and Euler integration."""
    import copy

    mixed = copy.deepcopy(policy).to_mixed_precision(torch.bfloat16)
    assert mixed.backbone_dtype == torch.bfloat16
    assert mixed.vlm.model.visual.patch_embed.proj.weight.dtype == torch.bfloat16
    for head in (
        mixed.state_proj,
        mixed.action_in_proj,
        mixed.action_time_mlp,
        mixed.action_out_proj,
    ):
        assert all(p.dtype == torch.float32 for p in head.parameters())
    inputs = policy.processor(_batch())
    noise = torch.randn(2, HORIZON, 32, generator=torch.Generator().manual_seed(4))
    ref, _, _, _ = policy.sample_normalized(inputs, noise)
    got, _, _, _ = mixed.sample_normalized(inputs, noise)
    again, _, _, _ = mixed.sample_normalized(inputs, noise, use_cache=False)
    assert got.dtype == torch.float32
    err = float((got - ref).abs().max())
    assert 0.0 < err < 0.05 * float(ref.abs().max()), err  # bf16 rounding, nothing more
    torch.testing.assert_close(got, again, rtol=0, atol=0.05 * float(ref.abs().max()))


# --------------------------------------------------------------------------- non-square views
def test_rectangular_views_after_the_header_match_qwen_rope_index() -> None:
    """EO-1's header + non-square views (what smart_resize gives a 4:3 camera): M-RoPE positions
    equal transformers' own ``get_rope_index``, and the ViT / prefix run on the rectangle."""
    cfg = _cfg(image_height=56, image_width=84)
    pol = EO1Policy(cfg).eval()
    assert cfg.grid_hw == (4, 6) and cfg.tokens_per_view == 6
    rng = np.random.default_rng(5)
    batch = {**_batch(), "images": rng.integers(0, 256, (2, 2, 120, 160, 3), np.uint8)}
    x = pol.processor(batch)
    mm = (x.input_ids == pol.processor.token_id["<|image_pad|>"]).int()
    ref, _ = pol.vlm.model.get_rope_index(
        x.input_ids,
        mm_token_type_ids=mm,
        image_grid_thw=torch.tensor([[1, 4, 6]] * 4),
        attention_mask=x.prefix_valid.long(),
    )
    valid = x.prefix_valid
    assert torch.equal(x.position_ids[:, valid], ref[:, valid])
    assert x.pixel_values.shape[1] == 24
    noise = torch.randn(2, HORIZON, 32, generator=torch.Generator().manual_seed(6))
    cached, _, _, _ = pol.sample_normalized(x, noise)
    again, _, _, _ = pol.sample_normalized(x, noise, use_cache=False)
    torch.testing.assert_close(cached, again, rtol=0, atol=1e-5)
