"""Backend registry: name -> loader, imported lazily so optional libraries load only when used."""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vla_lego.inference.errors import BackendUnavailableError, UnknownBackendError

Loader = Callable[..., Any]


@dataclass(frozen=True)
class BackendInfo:
    """A registered backend.

    Attributes:
        name: Canonical name used in configs (``torch``, ``onnxruntime``, ``tensorrt``).
        target: ``"module:function"`` of the loader
            ``(path, device, seed, decode_text, **options) -> Policy``.
        requires: Python modules that must be importable, each with the install hint to show.
        path_kind: ``"checkpoint"`` (a training checkpoint dir) or ``"export"`` (an export dir).
        options: Backend-specific keyword options the loader takes (``load_policy(options=)``).
    """

    name: str
    target: str
    requires: tuple[tuple[str, str], ...] = ()
    path_kind: str = "checkpoint"
    options: tuple[str, ...] = ()


_BACKENDS: dict[str, BackendInfo] = {}
_ALIASES = {"ort": "onnxruntime", "onnx": "onnxruntime", "trt": "tensorrt", "pytorch": "torch"}


def register_backend(info: BackendInfo) -> None:
    """Add (or replace) a backend."""
    _BACKENDS[info.name] = info


def backend_names() -> list[str]:
    """Canonical names of the registered backends."""
    return sorted(_BACKENDS)


def get_backend(name: str) -> BackendInfo:
    """Resolve ``name`` (or an alias such as ``ort``) to its :class:`BackendInfo`."""
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in _BACKENDS:
        raise UnknownBackendError(
            f"unknown inference backend {name!r}; expected one of {backend_names()} "
            f"(aliases: {sorted(_ALIASES)})"
        )
    return _BACKENDS[key]


def check_available(info: BackendInfo) -> None:
    """Raise :class:`BackendUnavailableError` naming what to install if a requirement is missing."""
    for module, hint in info.requires:
        if importlib.util.find_spec(module) is None:
            raise BackendUnavailableError(
                f"inference backend {info.name!r} needs the Python module {module!r}, which is not "
                f"installed: {hint}"
            )


def resolve_loader(info: BackendInfo) -> Loader:
    """Import and return the loader function of ``info`` (after :func:`check_available`)."""
    check_available(info)
    module_name, _, attr = info.target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)  # type: ignore[no-any-return]


EXPORT_FORMAT = "vla_lego.export"


def guess_backend(path: str | Path) -> str:
    """``onnxruntime`` for an export directory (its ``manifest.json`` says format
    ``vla_lego.export``), else ``torch`` (a training checkpoint)."""
    try:
        meta = json.loads((Path(path) / "manifest.json").read_text())
    except (OSError, ValueError):
        return "torch"
    return (
        "onnxruntime" if isinstance(meta, dict) and meta.get("format") == EXPORT_FORMAT else "torch"
    )


_TRT_HINT = (
    "install NVIDIA TensorRT for Python (`pip install tensorrt-cu12` from NVIDIA's package index, "
    "or use a JetPack / NGC TensorRT container) together with `cuda-python` "
    "and a CUDA GPU"
)

register_backend(
    BackendInfo(
        "torch", "vla_lego.inference.torch_backend:load_torch_policy", options=("cuda_graphs",)
    )
)
register_backend(
    BackendInfo(
        "onnxruntime",
        "vla_lego.inference.ort_backend:load_ort_policy",
        requires=(("onnxruntime", "`pip install onnxruntime` (or onnxruntime-gpu for CUDA)"),),
        path_kind="export",
        options=("spin", "threads"),
    )
)
register_backend(
    BackendInfo(
        "tensorrt",
        "vla_lego.inference.trt_backend:load_trt_policy",
        requires=(("tensorrt", _TRT_HINT),),
        path_kind="export",
    )
)

__all__ = [
    "BackendInfo",
    "backend_names",
    "check_available",
    "get_backend",
    "guess_backend",
    "register_backend",
    "resolve_loader",
]
