"""A minimal stand-in for ``torchvision``, only for the reference install of LeRobot 0.4.4.

LeRobot's dataset code imports torchvision at module top (``lerobot/datasets/utils.py``:
``from torchvision import transforms``; ``lerobot/datasets/video_utils.py``: ``import
torchvision``) but, when it writes datasets or decodes video with the "pyav" backend, touches only:

- ``torchvision.set_video_backend("pyav")``,
- ``torchvision.io.VideoReader(path, "video")`` with ``seek(t, keyframes_only=True)``, iteration
  yielding ``{"data": uint8 CHW tensor, "pts": seconds}`` and ``.container``,
- ``torchvision.transforms.ToTensor()`` (image features stored as PNG in parquet).

Those behave like torchvision's own (decoding goes through PyAV, as torchvision's "pyav" backend
does). Anything else raises NotImplementedError naming what was asked for. This project does not
depend on torchvision; this package lives on the reference tool's PYTHONPATH only.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.0.0+vla-lego-standin"

_SUPPORTED_BACKENDS = ("pyav",)
_video_backend = "pyav"


def _unsupported(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"{what} is not provided by the torchvision stand-in of tests/data/lerobot_ref/standin "
        "(it only covers what LeRobot's dataset code uses to write datasets and to decode video "
        "with video_backend='pyav')"
    )


def set_video_backend(backend: str) -> None:
    global _video_backend
    if backend not in _SUPPORTED_BACKENDS:
        raise _unsupported(f"torchvision.set_video_backend({backend!r})")
    _video_backend = backend


def get_video_backend() -> str:
    return _video_backend


from torchvision import io, transforms  # noqa: E402  (after the backend state they read)

__all__ = ["__version__", "get_video_backend", "io", "set_video_backend", "transforms"]


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise _unsupported(f"torchvision.{name}")
