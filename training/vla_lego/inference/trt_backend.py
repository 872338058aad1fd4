"""The ``tensorrt`` backend: TensorRT engines of an export made with ``--format tensorrt``.

Needs the ``tensorrt`` Python package (>= 10) and a CUDA GPU; elsewhere loading raises
:class:`~vla_lego.inference.errors.BackendUnavailableError` saying what to install.
"""

from __future__ import annotations

from pathlib import Path

from vla_lego.inference.engine import ChunkPolicy
from vla_lego.inference.graphs import GraphRunner, TrtGraph
from vla_lego.inference.manifest import load_manifest
from vla_lego.inference.ort_backend import policy_from_runners
from vla_lego.inference.trt_support import require_tensorrt
from vla_lego.models.checkpoint import FORMAT as MODEL_VERSION


def load_trt_policy(
    path: Path, device: str = "cuda", seed: int = 0, decode_text: bool = True
) -> ChunkPolicy:
    """Registry loader: verify manifest and engines, deserialize one engine per graph."""
    require_tensorrt()
    import torch

    if not device.startswith("cuda"):
        device = "cuda"  # TensorRT runs on the GPU only; the host loop stays on the CPU
    man = load_manifest(path, model_version=MODEL_VERSION, engines=True)
    wanted = [g for g in man.graphs if decode_text or g != "decode_step"]
    runners: dict[str, GraphRunner] = {}
    for name in wanted:
        engine = man.graphs[name].engine_file
        assert engine is not None  # load_manifest(engines=True) checked it
        runners[name] = TrtGraph(path / engine, device=device)
    dev = torch.device(device)
    return policy_from_runners(
        path, man, runners, seed, decode_text, "tensorrt", sync=lambda: torch.cuda.synchronize(dev)
    )


__all__ = ["load_trt_policy"]
