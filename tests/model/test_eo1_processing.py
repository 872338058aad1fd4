"""Host-side pieces of EO-1: tokenizer, vocabulary map, images, positions, config, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vla_lego.models.eo1 import EO1Config, EO1Processor, build_qwen_tokenizer
from vla_lego.models.eo1.processing_eo1 import (
    PROJECT_SPECIAL_TOKENS,
    VocabMap,
    prefix_position_ids,
    preprocess_images,
)
from vla_lego.models.normalization import Normalizer
from vla_lego.robot import H1_LAYOUT


def test_tokenizer_is_real_qwen_vocab_with_specials() -> None:
    tok = build_qwen_tokenizer()
    # Ids of the official Qwen2.5 tokenizer.
    assert tok.encode("Hello world", add_special_tokens=False) == [9707, 1879]
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|vision_start|>", "<|image_pad|>"]) == [
        151643,
        151652,
        151655,
    ]
    assert tok.convert_tokens_to_ids(list(PROJECT_SPECIAL_TOKENS)) == [
        151665,
        151666,
        151667,
        151668,
    ]
    assert len(tok) == 151669


@pytest.mark.parametrize("prune", [256, 4096, None])
def test_vocab_map_roundtrip_is_lossless(prune: int | None) -> None:
    tok = build_qwen_tokenizer()
    vm = VocabMap(26, prune, 151680)
    text = "Antidisestablishmentarianism: place the 2x4 brick — Größe 直径 ✓ <|state|>"
    full = tok.encode(text, add_special_tokens=False)
    compact = vm.to_compact(full)
    assert max(compact) < vm.size
    if prune is not None:
        assert vm.size == prune + 26
        assert len(compact) >= len(full)
    assert tok.decode(vm.to_full(compact)) == tok.decode(full) == text


def test_image_patches_match_qwen2vl_image_processor(tiny_config: EO1Config) -> None:
    from transformers import Qwen2VLImageProcessorPil

    cfg = tiny_config.replace(image_size=112)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1, 1, 112, 112, 3), dtype=np.uint8)
    ours = preprocess_images(img, cfg)[0]
    ref = Qwen2VLImageProcessorPil(size={"shortest_edge": 112 * 112, "longest_edge": 112 * 112})
    out = ref(images=[img[0, 0]], return_tensors="np")
    assert out["image_grid_thw"].tolist() == [[1, 8, 8]]
    np.testing.assert_allclose(ours, out["pixel_values"], atol=1e-5)


def test_resize_to_config_image_size(tiny_config: EO1Config) -> None:
    img = np.zeros((2, 2, 120, 160, 3), dtype=np.uint8)
    out = preprocess_images(img, tiny_config)
    n = (tiny_config.image_size // 14) ** 2
    assert out.shape == (4, n, 3 * 2 * 14 * 14) and out.dtype == np.float32


def test_positions_match_transformers_get_rope_index(tiny_policy) -> None:
    proc: EO1Processor = tiny_policy.processor
    batch = {
        "images": np.zeros((2, 2, 56, 56, 3), np.uint8),
        "state": np.zeros((2, 20)),
        "instruction": ["pick up the red brick", "go"],
    }
    x = proc(batch)
    ids = x.input_ids.clone()
    mm = (ids == proc.token_id["<|image_pad|>"]).int()
    gh, gw = tiny_policy.config.grid_hw
    ref, _ = tiny_policy.vlm.model.get_rope_index(
        ids,
        mm_token_type_ids=mm,
        image_grid_thw=torch.tensor([[1, gh, gw]] * 4),
        attention_mask=x.prefix_valid.long(),
    )
    valid = x.prefix_valid
    assert torch.equal(x.position_ids[:, valid], ref[:, valid])
    assert x.next_pos.tolist() == [int(ref[0, i, valid[i]].max()) + 1 for i in range(2)]


def test_prefix_positions_handle_padding() -> None:
    valid = torch.tensor([[True] * 12 + [True, True], [True] * 12 + [True, False]])
    pos, nxt = prefix_position_ids(valid, 2, 2)
    assert pos.shape == (3, 2, 14)
    assert nxt.tolist() == [int(pos[0, 0].max()) + 1, int(pos[0, 1, :13].max()) + 1]


def test_normalizer_roundtrip_and_padding() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, size=(5, 7, 20))
    stats = {
        k: {
            "mean": x.mean((0, 1)),
            "std": x.std((0, 1)),
            "q01": x.min((0, 1)),
            "q99": x.max((0, 1)),
        }
        for k in ("state", "actions")
    }
    for mode in ("mean_std", "quantile"):
        n = Normalizer(stats, 20, mode)
        y = n.normalize(x, "actions")
        assert abs(float(y.mean())) < 0.5 and float(np.abs(y).max()) <= (
            10 if mode == "mean_std" else 1.0001
        )
        np.testing.assert_allclose(n.unnormalize(y, "actions"), x, rtol=1e-5, atol=1e-5)
        again = Normalizer.from_dict(n.to_dict())
        np.testing.assert_allclose(again.normalize(x, "state"), n.normalize(x, "state"))
    padded = H1_LAYOUT.pad(x)
    assert padded.shape[-1] == 32 and np.all(padded[..., 20:] == 0)
    np.testing.assert_array_equal(H1_LAYOUT.unpad(padded), x)


@pytest.mark.parametrize("mode", ["mean_std", "quantile"])
def test_a_dimension_constant_in_the_data_is_not_blown_up(mode: str) -> None:
    """One-arm demonstrations leave the other arm still (std 0): a 0.01 rad twitch of it on the
    real robot must stay a small input, not (x - mean) / 1e-6 = 1e4; moving dims are unchanged."""
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 0.5, size=(500, 20))
    x[:, 3] = 0.7  # never moves
    x[:, 4] = 0.2 + 1e-5 * rng.normal(size=500)  # sensor noise only
    feat = {
        "mean": x.mean(0),
        "std": x.std(0),
        "q01": np.quantile(x, 0.01, 0),
        "q99": np.quantile(x, 0.99, 0),
    }
    n = Normalizer({"state": feat, "actions": feat}, 20, mode)
    twitch = x[:1].copy()
    twitch[0, 3] += 0.01
    twitch[0, 4] += 0.01
    y = n.normalize(twitch, "state")
    assert abs(float(y[0, 3]) - 0.01) < 1e-6 and abs(float(y[0, 4])) < 0.02
    moving = n.normalize(x, "state")[:, [0, 1, 2]]
    assert 0.2 < float(np.abs(moving).mean()) < 1.5  # still scaled by their spread
    np.testing.assert_allclose(n.unnormalize(n.normalize(x, "actions"), "actions"), x, atol=1e-5)


def test_presets_and_config_errors() -> None:
    assert EO1Config.from_preset("base").text_hidden_size == 256
    assert EO1Config.from_preset("large").text_num_layers == 8
    with pytest.raises(ValueError, match="did you mean 'tiny'"):
        EO1Config.from_preset("tiyn")
    with pytest.raises(ValueError, match="multiple of 28"):
        EO1Config.from_preset("tiny", image_size=100)
    with pytest.raises(ValueError, match="did you mean 'action_horizon'"):
        EO1Config.from_preset("tiny", action_horizn=4)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"images": np.zeros((1, 1, 56, 56, 4), np.uint8)}, "expected 3 channels"),
        ({"images": np.zeros((1, 1, 56, 56, 3), np.float32)}, "expected dtype uint8"),
        ({"images": np.zeros((1, 56, 56, 3), np.uint8)}, r"expected uint8 \[B, V, H, W, 3\]"),
        ({"images": np.zeros((1, 3, 56, 56, 3), np.uint8)}, "expected 1..2 camera views"),
        ({"images": np.zeros((1, 1, 20, 56, 3), np.uint8)}, ">= 28 px"),
        ({"state": None}, "lacks 'state'"),
        ({"state": np.full((1, 20), np.nan)}, "expected finite values"),
        ({"state": np.zeros((1, 14))}, r"expected shape \(1, 20\)"),
        (
            {"instruction": ["pick " * 200]},
            r"instruction too long: \d+ tokens, expected at most 48",
        ),
        ({"instruction": ["a", "b"]}, "expected 1 strings"),
        ({"instruction": ["pick <|state|> up"]}, "must not contain special tokens"),
    ],
)
def test_bad_inputs_raise_value_error(tiny_policy, change: dict, match: str) -> None:
    batch = {
        "images": np.zeros((1, 1, 56, 56, 3), np.uint8),
        "state": np.zeros((1, 20), np.float32),
        "instruction": ["pick"],
    }
    batch.update(change)
    with pytest.raises(ValueError, match=match):
        tiny_policy.sample_actions(batch)


def test_bad_training_targets_raise(tiny_policy, batch_factory) -> None:
    batch = batch_factory(1, 1)
    with pytest.raises(ValueError, match=r"actions: expected shape \(1, 8, 20\)"):
        tiny_policy.compute_loss({**batch, "actions": np.zeros((1, 5, 20))})
    with pytest.raises(ValueError, match="subtask too long"):
        tiny_policy.compute_loss({**batch, "subtask": ["lift " * 40]})
    with pytest.raises(ValueError, match="noise: expected shape"):
        tiny_policy.sample_actions(batch, noise=torch.zeros(1, 3, 32))


def test_data_without_subtasks_or_joints_trains_only_what_it_has(
    tiny_policy, batch_factory
) -> None:
    """Foreign datasets: no subtask text -> no text target; a joint the dataset lacks -> not in
    the flow loss (the batch keys ``has_subtask`` and ``action_valid`` of LegoDataset)."""
    batch = batch_factory(2, 1)
    batch["subtask"] = ["grasp the red brick", ""]
    inputs = tiny_policy.processor({**batch, "has_subtask": [True, False]}, with_targets=True)
    assert inputs.text_valid[0].any() and not inputs.text_valid[1].any()
    valid = np.ones((2, 20), dtype=bool)
    valid[1, 8:14] = False
    masked = tiny_policy.processor({**batch, "action_valid": valid}, with_targets=True)
    assert masked.action_dim_mask.shape == (2, 32)
    assert masked.action_dim_mask[0, :20].all() and not masked.action_dim_mask[0, 20:].any()
    assert not masked.action_dim_mask[1, 8:14].any() and masked.action_dim_mask[1, :8].all()
    # (The flow loss then averages over the True entries only: fm.masked_mse with [B, D].)
    loss, _ = tiny_policy.compute_loss({**batch, "action_valid": valid})
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match=r"action_valid: expected shape \(2, 20\)"):
        tiny_policy.processor({**batch, "action_valid": valid[:, :5]}, with_targets=True)


def test_every_task_text_fits_every_model_preset() -> None:
    """Instructions and per-phase subtask texts of every sim task, at both randomisation presets,
    fit the smallest token limits of the shipped model presets (a subtask one token too long
    stops training of a mixed dataset hours into a results run)."""
    from vla_lego.models.eo1.configuration_eo1 import PRESETS
    from vla_lego.sim import LegoEnv, ScriptedExpert, SimConfig
    from vla_lego.sim.tasks import TASKS

    configs = [EO1Config.from_preset(name) for name in PRESETS]
    tightest = min(configs, key=lambda c: (c.max_subtask_tokens, c.max_instruction_tokens))
    proc = EO1Processor(tightest, H1_LAYOUT)
    for preset in ("easy", "hard"):
        env = LegoEnv(SimConfig.from_preset(preset))
        expert = ScriptedExpert(env)
        for task in TASKS:
            instructions, subtasks = set(), set()
            for seed in range(2):
                env.reset(task, seed, render=False)
                expert.reset()
                instructions.add(env.instance.instruction)
                while not expert.finished:
                    env.step(expert.act(), render=False)
                    subtasks.add(env.subtask())
            assert len(subtasks) >= 2, (task, subtasks)
            proc.text_targets(sorted(subtasks))  # raises when one is too long
            for text in instructions:
                proc._prefix_ids(text, 1)
