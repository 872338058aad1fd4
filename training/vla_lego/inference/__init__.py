"""One inference interface for every backend: ``load_policy(...) -> Policy``.

``Policy.predict(Observation) -> ActionChunk``; backends ``torch`` (a training checkpoint),
``onnxruntime`` and ``tensorrt`` (an export directory from ``python -m vla_lego.export``).
Importing this package does not import torch, onnxruntime or tensorrt.
"""

from vla_lego.inference.errors import (
    BackendUnavailableError,
    ManifestError,
    ModelVersionError,
    UnknownBackendError,
)
from vla_lego.inference.loading import load_policy, load_policy_from_spec
from vla_lego.inference.registry import backend_names
from vla_lego.inference.types import ActionChunk, Observation, Policy

__all__ = [
    "ActionChunk",
    "BackendUnavailableError",
    "ManifestError",
    "ModelVersionError",
    "Observation",
    "Policy",
    "UnknownBackendError",
    "backend_names",
    "load_policy",
    "load_policy_from_spec",
]
