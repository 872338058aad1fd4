"""Checkpoint -> ONNX graphs (+ TensorRT engines) with a manifest and a parity gate.

``python -m vla_lego.export --checkpoint DIR --out DIR [--format onnx|tensorrt]
[--precision fp32|fp16|bf16]``; see :mod:`vla_lego.export.exporter`.
"""

from vla_lego.export.exporter import ExportOptions, export_checkpoint, export_policy
from vla_lego.export.parity import ParityError
from vla_lego.inference.manifest import Manifest, load_manifest

__all__ = [
    "ExportOptions",
    "Manifest",
    "ParityError",
    "export_checkpoint",
    "export_policy",
    "load_manifest",
]
