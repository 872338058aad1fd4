"""Build a TensorRT engine for every graph of a staged export and record it in the manifest."""

from __future__ import annotations

from pathlib import Path

from vla_lego.export.tensorrt_build import build_engine
from vla_lego.inference.manifest import Manifest, sha256_file


def build_engines(export_dir: Path, man: Manifest, precision: str) -> None:
    """``<graph>.<precision>.plan`` beside each ONNX graph; fills the manifest's engine fields."""
    for name, graph in man.graphs.items():
        plan = export_dir / f"{name}.{precision}.plan"
        inputs = [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in graph.inputs]
        build_engine(export_dir / graph.file, plan, inputs, man.dynamic_dims, precision)
        graph.engine_file = plan.name
        graph.engine_sha256 = sha256_file(plan)
        graph.engine_precision = precision


__all__ = ["build_engines"]
