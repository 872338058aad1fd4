"""A tiny EO-1 checkpoint and its ONNX export, built once per test session (~20 s of CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vla_lego.export import ExportOptions, Manifest, export_checkpoint
from vla_lego.models.eo1 import EO1Config, EO1Policy
from vla_lego.robot import H1_LAYOUT


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1234)
    rng = np.random.default_rng(0)
    dim = H1_LAYOUT.dim
    mid = (H1_LAYOUT.lower + H1_LAYOUT.upper) / 2
    # Non-trivial statistics so that (un)normalisation is part of every comparison.
    feature = {
        "mean": mid,
        "std": 0.2 + rng.random(dim),
        "min": H1_LAYOUT.lower,
        "max": H1_LAYOUT.upper,
        "q01": H1_LAYOUT.lower + 0.05,
        "q99": H1_LAYOUT.upper - 0.05,
    }
    stats = {"state": feature, "actions": feature}
    # 20 Hz, not the 10 Hz fallback: the chunk timing must come from the checkpoint.
    policy = EO1Policy(EO1Config.from_preset("tiny", fps=20.0), stats=stats).eval()
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    policy.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_export(
    tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("export") / "tiny_onnx"
    # The legacy tracer exports in a fraction of dynamo's time; both pass the same parity gate.
    man = export_checkpoint(tiny_checkpoint, out, ExportOptions(exporter="torchscript"))
    return out, man
