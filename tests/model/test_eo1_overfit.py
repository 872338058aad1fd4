"""The tiny EO-1 model learns: it overfits a small fixed batch (flow loss, sampled chunk, text)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vla_lego.models.eo1 import EO1Policy

STEPS = 600  # a few hundred; the 4-block ViT reaches ~19x here (400 steps: ~7x)


@pytest.mark.slow
def test_tiny_overfits_fixed_batch(tiny_config, batch_factory, obs_of) -> None:
    torch.manual_seed(0)
    policy = EO1Policy(tiny_config.replace(text_loss_weight=1.0))
    batch = batch_factory(2, 1, seed=0)
    batch["subtask"] = ["grasp the red brick", "lift blue"]
    acts = batch["actions"]
    stats = {
        "state": {"mean": np.zeros(20), "std": np.ones(20)},
        "actions": {"mean": acts.mean((0, 1)), "std": acts.std((0, 1))},
    }
    policy.set_norm_stats(stats)
    inputs = policy.processor(batch, with_targets=True)

    def eval_flow() -> float:
        policy.eval()
        with torch.no_grad():
            _, m = policy.compute_loss(inputs, generator=torch.Generator().manual_seed(123))
        policy.train()
        return m["flow_loss"]

    before = eval_flow()
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=STEPS, pct_start=0.1)
    for _ in range(STEPS):
        loss, _ = policy.compute_loss(inputs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    after = eval_flow()
    assert before / after >= 10.0, f"flow loss {before:.3f} -> {after:.3f}"

    policy.eval()
    sampled, texts = policy.sample_actions(
        obs_of(batch), generator=torch.Generator().manual_seed(5)
    )
    err = np.abs(sampled.numpy() - acts)
    std = float(acts.std())
    assert float(err.mean()) < 0.35 * std, f"mean |error| {err.mean():.3f} vs data std {std:.3f}"
    assert texts == batch["subtask"]
