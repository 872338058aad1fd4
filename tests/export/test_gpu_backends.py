"""GPU backends: TensorRT engines and ONNX Runtime's CUDA execution provider.

Marked ``gpu``: skipped with a reason where no CUDA GPU, TensorRT or the CUDA provider exists
(TensorRT is not installable on the CPU build machines; it runs on JetPack / NGC containers).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from vla_lego.export import ExportOptions, Manifest, export_checkpoint
from vla_lego.export.parity import PARITY_TOLERANCE
from vla_lego.inference import Observation, load_policy
from vla_lego.robot import H1_LAYOUT

pytestmark = pytest.mark.gpu


def _obs(views: int) -> Observation:
    rng = np.random.default_rng(views)
    images = {f"cam{i}": rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for i in range(views)}
    state = (H1_LAYOUT.lower + H1_LAYOUT.upper) / 2
    return Observation(images=images, state=state, instruction="pick the red brick")


def _need_cuda() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="tensorrt not installed")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_engines_match_torch(
    tiny_checkpoint: Path, tmp_path: Path, precision: str
) -> None:
    _need_cuda()
    out = tmp_path / f"trt_{precision}"
    man = export_checkpoint(
        tiny_checkpoint, out, ExportOptions(fmt="tensorrt", precision=precision, decode_text=False)
    )
    assert all(g.engine_file and (out / g.engine_file).is_file() for g in man.graphs.values())
    assert man.parity["backend"] == "tensorrt"
    trt_policy = load_policy(out, backend="tensorrt", device="cuda", seed=5, decode_text=False)
    ref = load_policy(tiny_checkpoint, backend="torch", device="cuda", seed=5, decode_text=False)
    for views in (1, 2):
        a, b = ref.predict(_obs(views)), trt_policy.predict(_obs(views))
        assert float(np.max(np.abs(a.actions - b.actions))) < PARITY_TOLERANCE[precision]


def test_onnxruntime_cuda_provider(tiny_export: tuple[Path, Manifest]) -> None:
    _need_cuda()
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime without CUDAExecutionProvider (install onnxruntime-gpu)")
    out, _ = tiny_export
    gpu = load_policy(out, backend="onnxruntime", device="cuda", seed=3)
    assert "CUDAExecutionProvider" in gpu.graphs.runners["prefix"].providers  # type: ignore[attr-defined]
    cpu = load_policy(out, backend="onnxruntime", device="cpu", seed=3)
    a, b = cpu.predict(_obs(2)), gpu.predict(_obs(2))
    assert float(np.max(np.abs(a.actions - b.actions))) < 1e-3  # TF32 / kernel order on the GPU


def test_torch_cuda_graphs_match_eager(tiny_checkpoint: Path) -> None:
    _need_cuda()
    from vla_lego.inference.torch_backend import torch_policy
    from vla_lego.models.eo1 import EO1Policy

    model = EO1Policy.from_pretrained(tiny_checkpoint, layout=H1_LAYOUT, device="cuda")
    eager = torch_policy(model, seed=4, decode_text=False)
    graphs = torch_policy(model, seed=4, decode_text=False, cuda_graphs=True)
    for views in (1, 2, 1):  # a second prefix length records a second graph; the first replays
        a, b = eager.predict(_obs(views)), graphs.predict(_obs(views))
        assert float(np.max(np.abs(a.actions - b.actions))) < 1e-4
