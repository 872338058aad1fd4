"""TensorRT availability: import ``tensorrt`` only when asked for, or say what to install.

Shared by the runtime (:class:`~vla_lego.inference.graphs.TrtGraph`, the ``tensorrt`` backend) and
the engine builder (:mod:`vla_lego.export.tensorrt_build`); importing this module imports neither
TensorRT nor torch.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from vla_lego.inference.errors import BackendUnavailableError

MIN_TENSORRT_MAJOR = 10


def require_tensorrt() -> Any:
    """Import ``tensorrt`` and check for a CUDA device, or raise with what to install.

    Returns:
        The ``tensorrt`` module.

    Raises:
        BackendUnavailableError: TensorRT is missing or older than 10, or there is no CUDA GPU.
    """
    if importlib.util.find_spec("tensorrt") is None:
        raise BackendUnavailableError(
            "TensorRT export/runtime needs the `tensorrt` Python package "
            f"(TensorRT >= {MIN_TENSORRT_MAJOR}), which "
            "is not installed: `pip install tensorrt-cu12` from NVIDIA's package index, or "
            "use a JetPack / NGC TensorRT container"
        )
    # Both are heavy (and TensorRT optional): imported only once TensorRT is actually wanted.
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailableError(
            "TensorRT needs a CUDA GPU; torch.cuda.is_available() is False"
        )
    import tensorrt as trt

    major = int(str(trt.__version__).split(".")[0])
    if major < MIN_TENSORRT_MAJOR:
        raise BackendUnavailableError(
            f"TensorRT >= {MIN_TENSORRT_MAJOR} is required, found {trt.__version__}"
        )
    return trt


__all__ = ["require_tensorrt"]
