"""GPU path: bf16 autocast training on CUDA (runs where a GPU exists, skipped elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vla_lego.train import compose_config, train_from_config


@pytest.mark.gpu
def test_bf16_training_on_cuda(tmp_path: Path) -> None:
    cfg = compose_config(
        [
            "trainer=debug",
            "model.image_size=56",
            "logging=disabled",
            "trainer.training.precision=auto",
            "trainer.max_steps=4",
            "trainer.validation.every_n_steps=4",
            f"paths.root={tmp_path}",
        ]
    )
    result = train_from_config(cfg)
    assert result.step == 4 and torch.isfinite(torch.tensor(result.metrics["loss"]))
    assert "val/action_mse" in result.metrics
    assert (tmp_path / "logs" / "debug-local" / "train.log").read_text().count("precision bf16")
