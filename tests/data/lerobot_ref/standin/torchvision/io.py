"""``torchvision.io.VideoReader`` for the "pyav" backend only, decoding through PyAV."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import av
import torch
import torchvision


class VideoReader:
    """Frame-by-frame reader of one stream: ``next()`` gives ``{"data", "pts"}``, where data is a
    uint8 tensor [3, H, W] (RGB) for video and pts the frame's presentation time in seconds."""

    def __init__(self, src: str, stream: str = "video", num_threads: int = 0) -> None:
        backend = torchvision.get_video_backend()
        if backend != "pyav":
            raise torchvision._unsupported(f"VideoReader with backend {backend!r}")
        if not isinstance(src, str):
            raise torchvision._unsupported("VideoReader from bytes or a tensor")
        kind, _, index = stream.partition(":")
        if kind != "video":
            raise torchvision._unsupported(f"VideoReader of stream {stream!r}")
        self.backend = backend
        self.container = av.open(src, metadata_errors="ignore")
        self.pyav_stream = {kind: int(index) if index else 0}
        self._frames = self.container.decode(**self.pyav_stream)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        try:
            frame = next(self._frames)
        except av.error.EOFError as e:
            raise StopIteration from e
        pts = float(frame.pts * frame.time_base)
        data = torch.from_numpy(frame.to_rgb().to_ndarray()).permute(2, 0, 1)
        if data.numel() == 0:
            raise StopIteration
        return {"data": data, "pts": pts}

    def seek(self, time_s: float, keyframes_only: bool = False) -> VideoReader:
        """Seek back to the key frame at or before ``time_s`` (PyAV has no accurate seek)."""
        if not keyframes_only:
            warnings.warn("Accurate seek is not implemented for pyav backend", stacklevel=2)
        stream = self.container.streams.get(**self.pyav_stream)[0]
        offset = round(max(time_s, 0.0) / stream.time_base)
        self.container.seek(offset, backward=True, any_frame=False, stream=stream)
        self._frames = self.container.decode(**self.pyav_stream)
        return self

    def get_metadata(self) -> dict[str, Any]:
        raise torchvision._unsupported("VideoReader.get_metadata()")

    def set_current_stream(self, stream: str) -> bool:
        raise torchvision._unsupported("VideoReader.set_current_stream()")


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise torchvision._unsupported(f"torchvision.io.{name}")
