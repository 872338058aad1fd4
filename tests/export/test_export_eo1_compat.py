"""ONNX export of an ``compat="eo1"`` checkpoint: the causal action block and EO-1's prompt survive
export, ONNX Runtime matches the torch backend, and no subtask text is decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vla_lego.export import ExportOptions, export_checkpoint
from vla_lego.inference import Observation, load_policy, load_policy_from_spec
from vla_lego.models.eo1 import EO1Config, EO1Policy
from vla_lego.models.eo1.configuration_eo1 import EO1_COMPAT
from vla_lego.robot import H1_LAYOUT


@pytest.fixture(scope="module")
def eo1_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(7)
    dim = H1_LAYOUT.dim
    feature = {"mean": (H1_LAYOUT.lower + H1_LAYOUT.upper) / 2, "std": np.full(dim, 0.3)}
    cfg = EO1Config.from_preset("tiny", action_horizon=16, fps=20.0, **EO1_COMPAT)
    policy = EO1Policy(cfg, stats={"state": feature, "actions": feature}).eval()
    path = tmp_path_factory.mktemp("eo1ckpt") / "tiny_eo1"
    policy.save_pretrained(path)
    return path


def test_onnxruntime_matches_torch_in_eo1_mode(eo1_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "onnx"
    export_checkpoint(eo1_checkpoint, out, ExportOptions(exporter="torchscript"))
    rng = np.random.default_rng(3)
    lo, hi = H1_LAYOUT.lower, H1_LAYOUT.upper
    obs = Observation(
        images={"head": rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)},
        state=lo + (hi - lo) * rng.random(H1_LAYOUT.dim),
        instruction="put the blue brick on the red brick",
        timestamp=1.0,
    )
    ref = load_policy(eo1_checkpoint, backend="torch", seed=5)
    ort = load_policy_from_spec({"path": str(out), "seed": 5})
    a, b = ref.predict(obs), ort.predict(obs)
    assert a.actions.shape == b.actions.shape == (16, H1_LAYOUT.dim)
    assert float(np.max(np.abs(a.actions - b.actions))) < 1e-4
    assert a.subtask_text == b.subtask_text == ""
    assert "decode" not in b.timings or b.timings["decode"] == 0.0
