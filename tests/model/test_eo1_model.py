"""EO-1 network: shapes, attention structure, KV-cache equivalence, seeds, vision parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vla_lego.models.eo1 import EO1Config, EO1Policy

HORIZON = 8


def test_tiny_is_under_five_million_parameters() -> None:
    torch.manual_seed(0)
    policy = EO1Policy(EO1Config.from_preset("tiny"))
    assert policy.num_parameters() < 5_000_000
    # one shared decoder: the action block runs through the same language model layers
    assert not any("expert" in n for n, _ in policy.named_parameters())


@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("b", [1, 3])
def test_shapes_and_dtypes(tiny_policy, batch_factory, obs_of, views: int, b: int) -> None:
    batch = batch_factory(b, views)
    cfg = tiny_policy.config
    loss, metrics = tiny_policy.compute_loss(batch)
    assert loss.shape == () and loss.dtype == torch.float32 and torch.isfinite(loss)
    if b == 3 and views == 2:  # DDP-friendly: every parameter reaches the loss
        tiny_policy.zero_grad()
        loss.backward()
        assert [n for n, p in tiny_policy.named_parameters() if p.grad is None] == []
        tiny_policy.zero_grad(set_to_none=True)
    assert set(metrics) == {"loss", "flow_loss", "text_loss", "text_acc"}
    assert all(isinstance(v, float) for v in metrics.values())

    inputs = tiny_policy.processor(obs_of(batch))
    n_img = views * (cfg.tokens_per_view + 2)
    p = inputs.input_ids.shape[1]
    assert inputs.pixel_values.shape == (b * views, cfg.grid_hw[0] * cfg.grid_hw[1], 1176)
    feats = tiny_policy.encode_images(inputs.pixel_values)
    assert feats.shape == (b * views, cfg.tokens_per_view, 64) and feats.dtype == torch.float32
    embeds, mask, pos = tiny_policy.embed_prefix(inputs)
    assert embeds.shape == (b, p, 64) and mask.shape == (b, 1, p, p) and pos.shape == (3, b, p)
    assert p > n_img and pos.dtype == torch.long
    kv, hidden = tiny_policy.prefix_forward(embeds, mask, pos)
    assert len(kv) == cfg.text_num_layers and hidden.shape == (b, p, 64)
    assert kv[0][0].shape == (b, cfg.text_num_kv_heads, p, cfg.text_head_dim)

    actions, texts = tiny_policy.sample_actions(
        obs_of(batch), generator=torch.Generator().manual_seed(0)
    )
    assert actions.shape == (b, HORIZON, 20) and actions.dtype == torch.float32
    assert torch.isfinite(actions).all()
    assert isinstance(texts, list) and len(texts) == b and all(isinstance(t, str) for t in texts)
    _, no_text = tiny_policy.sample_actions(obs_of(batch), decode_text=False)
    assert no_text == [""] * b


def test_prefix_never_attends_to_action_block(tiny_policy, batch_factory) -> None:
    batch = batch_factory(2, 2)
    inputs = tiny_policy.processor(batch, with_targets=True)
    s = inputs.text_ids.shape[1]
    t = torch.full((2,), 0.5)
    with torch.no_grad():
        h1, v1 = tiny_policy.full_sequence(
            inputs, inputs.text_ids, inputs.text_valid, torch.randn(2, HORIZON, 32), t
        )
        h2, v2 = tiny_policy.full_sequence(
            inputs, inputs.text_ids, inputs.text_valid, torch.randn(2, HORIZON, 32), t
        )
    prefix_and_text = inputs.input_ids.shape[1] + s
    torch.testing.assert_close(h1[:, :prefix_and_text], h2[:, :prefix_and_text], rtol=0, atol=0)
    assert not torch.allclose(v1, v2)  # the action block does depend on its own input


def test_action_block_is_bidirectional(tiny_policy, batch_factory) -> None:
    """Changing the last action token's input changes the first action token's output."""
    batch = batch_factory(1, 1)
    inputs = tiny_policy.processor(batch, with_targets=True)
    x = torch.randn(1, HORIZON, 32)
    y = x.clone()
    y[:, -1] += 1.0
    t = torch.full((1,), 0.3)
    with torch.no_grad():
        _, v1 = tiny_policy.full_sequence(inputs, inputs.text_ids, inputs.text_valid, x, t)
        _, v2 = tiny_policy.full_sequence(inputs, inputs.text_ids, inputs.text_valid, y, t)
    assert (v1[:, 0] - v2[:, 0]).abs().max() > 1e-6


@pytest.mark.parametrize("decode_text", [True, False])
def test_cached_denoising_equals_uncached(
    tiny_policy, batch_factory, obs_of, decode_text: bool
) -> None:
    batch = batch_factory(3, 2, seed=3)
    inputs = tiny_policy.processor(obs_of(batch))
    noise = torch.randn(3, HORIZON, 32, generator=torch.Generator().manual_seed(7))
    cached, t1, ids1, ok1 = tiny_policy.sample_normalized(inputs, noise, decode_text)
    full, t2, ids2, ok2 = tiny_policy.sample_normalized(inputs, noise, decode_text, use_cache=False)
    assert t1 == t2 and torch.equal(ids1, ids2) and torch.equal(ok1, ok2)
    assert (cached - full).abs().max() < 1e-5


def test_cached_equals_uncached_after_training_on_text(tiny_config, batch_factory, obs_of) -> None:
    """With a model that emits real subtask text of different lengths, the cached path (decode
    steps + denoise steps on the KV cache) still equals one uncached pass."""
    torch.manual_seed(1)
    policy = EO1Policy(tiny_config.replace(text_loss_weight=1.0))
    batch = batch_factory(3, 1, seed=4)
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
    inputs = policy.processor(batch, with_targets=True)
    for _ in range(40):
        loss, _ = policy.compute_loss(inputs)
        opt.zero_grad()
        loss.backward()
        opt.step()
    policy.eval()
    noise = torch.randn(3, HORIZON, 32)
    cached, texts, _, ok = policy.sample_normalized(policy.processor(obs_of(batch)), noise)
    full, _, _, _ = policy.sample_normalized(
        policy.processor(obs_of(batch)), noise, use_cache=False
    )
    assert len(set(ok.sum(1).tolist())) > 1, f"want texts of different lengths, got {texts}"
    assert (cached - full).abs().max() < 1e-5


def test_seeds(tiny_policy, batch_factory, obs_of) -> None:
    o = obs_of(batch_factory(2, 1))
    a1, _ = tiny_policy.sample_actions(
        o, generator=torch.Generator().manual_seed(11), decode_text=False
    )
    a2, _ = tiny_policy.sample_actions(
        o, generator=torch.Generator().manual_seed(11), decode_text=False
    )
    a3, _ = tiny_policy.sample_actions(
        o, generator=torch.Generator().manual_seed(12), decode_text=False
    )
    assert torch.equal(a1, a2)
    assert (a1 - a3).abs().max() > 1e-3
    noise = torch.randn(2, HORIZON, 32, generator=torch.Generator().manual_seed(11))
    a4, _ = tiny_policy.sample_actions(o, noise=noise, decode_text=False)
    assert torch.equal(a1, a4)


def test_euler_steps_are_configurable(tiny_policy, batch_factory, obs_of) -> None:
    o = obs_of(batch_factory(1, 1))
    noise = torch.randn(1, HORIZON, 32)
    a10, _ = tiny_policy.sample_actions(o, noise=noise, decode_text=False)
    a2, _ = tiny_policy.sample_actions(o, noise=noise, decode_text=False, num_steps=2)
    assert not torch.allclose(a10, a2)


def test_masked_mse_ignores_padding() -> None:
    """Padded time steps and padded action dims do not contribute to the flow loss."""
    from vla_lego.models import flow_matching as fm

    pred, target = torch.zeros(2, HORIZON, 32), torch.ones(2, HORIZON, 32)
    dim_mask = torch.zeros(32, dtype=torch.bool)
    dim_mask[:20] = True
    is_pad = torch.zeros(2, HORIZON, dtype=torch.bool)
    is_pad[:, 4:] = True
    base = fm.masked_mse(pred, target, dim_mask, is_pad)
    target2 = target.clone()
    target2[:, 4:] += 100.0  # padded time steps
    target2[..., 20:] += 100.0  # padded dims
    assert fm.masked_mse(pred, target2, dim_mask, is_pad) == pytest.approx(float(base)) == 1.0
    target2[0, 0, 0] += 1.0  # a real entry
    assert fm.masked_mse(pred, target2, dim_mask, is_pad) > base


def test_flow_matching_time_and_interpolation() -> None:
    from vla_lego.models import flow_matching as fm

    t = fm.sample_time(20000, generator=torch.Generator().manual_seed(0))
    assert float(t.min()) >= 0.001 and float(t.max()) < 1.0
    assert float(t.mean()) == pytest.approx(0.001 + 0.999 * 0.6, abs=0.01)  # Beta(1.5, 1) mean 0.6
    a, n = torch.randn(3, 4, 5), torch.randn(3, 4, 5)
    one, zero = torch.ones(3), torch.zeros(3)
    assert torch.equal(fm.interpolate(a, n, one), n) and torch.equal(fm.interpolate(a, n, zero), a)
    # Euler with the exact velocity goes from noise to the data
    x = n
    for _ in fm.euler_times(10):
        x = fm.euler_step(x, fm.target_velocity(a, n), -0.1)
    torch.testing.assert_close(x, a, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "size, window_px, window_len",
    [(224, 112, 64), (168, 84, 36), (168, 112, None), ((168, 224), 112, None)],
)
def test_vision_matches_stock_qwen_vit(
    tiny_config, size: int | tuple[int, int], window_px: int, window_len: int | None
) -> None:
    """Our batched ViT equals transformers' Qwen2.5-VL vision forward with windows on: 224 px in
    112 px windows and 168 px in 84 px windows tile into four equal windows (run as a batch of
    windows), 168 px in 112 px windows into unequal ones (mask), and a 168x224 (3:4, as
    smart_resize gives a 480x640 camera) view into unequal ones."""
    torch.manual_seed(0)
    h, w = (size, size) if isinstance(size, int) else size
    cfg = tiny_config.replace(
        image_size=h,
        image_height=h,
        image_width=w,
        vision_window_size=window_px,
        vision_fullatt_blocks=(1,),
    )
    policy = EO1Policy(cfg).eval()
    assert policy.vision_window_len == window_len
    imgs = np.random.default_rng(0).integers(0, 256, (2, 2, h, w, 3), dtype=np.uint8)
    inputs = policy.processor(
        {"images": imgs, "state": np.zeros((2, 20)), "instruction": ["a", "b"]}
    )
    window: torch.Tensor = policy.vision_window_mask  # type: ignore[assignment]
    assert not bool(window.all()), f"{size} px should give several windows"
    with torch.no_grad():
        ours = policy.encode_images(inputs.pixel_values)
        flat = inputs.pixel_values.reshape(-1, inputs.pixel_values.shape[-1])
        grid = torch.tensor([[1, h // cfg.patch_size, w // cfg.patch_size]] * 4)
        ref = policy.vlm.model.visual(flat, grid_thw=grid).pooler_output
    torch.testing.assert_close(ours.reshape(-1, ours.shape[-1]), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.gpu
def test_cuda_matches_cpu(tiny_config, batch_factory, obs_of) -> None:
    torch.manual_seed(0)
    cpu = EO1Policy(tiny_config).eval()
    gpu = EO1Policy(tiny_config).eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    o = obs_of(batch_factory(3, 2))
    noise = torch.randn(3, HORIZON, 32)
    a_cpu, t_cpu = cpu.sample_actions(o, noise=noise)
    a_gpu, t_gpu = gpu.sample_actions(o, noise=noise)
    assert t_cpu == t_gpu
    torch.testing.assert_close(a_gpu, a_cpu, atol=1e-3, rtol=1e-3)
    inputs = gpu.processor(o)
    cached, *_ = gpu.sample_normalized(inputs, noise)
    full, *_ = gpu.sample_normalized(inputs, noise, use_cache=False)
    assert (cached - full).abs().max() < 1e-4
