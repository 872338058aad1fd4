"""Camera frames as video files, written and read the way LeRobot does (PyAV, i.e. FFmpeg).

LeRobot stores an image feature with ``dtype: video`` as mp4 files: AV1 (``libsvtav1``),
``yuv420p``, a keyframe every 2 frames (``g=2``), ``crf=30``. A frame is found by its timestamp:
the decoder seeks to the keyframe before it and decodes forward to the frame whose presentation
time is nearest, which must lie within ``tolerance_s`` (LeRobot's default 1e-4 s) or the read
fails. v3.0 concatenates the episodes of a chunk into one file and keeps each episode's
``from_timestamp``; v2.1 has one file per episode starting at 0.

Decoding keeps one open container per file per process (the dataloader's workers each open their
own: PyAV containers are not shared across ``fork``).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_CODEC = "libsvtav1"
DEFAULT_PIX_FMT = "yuv420p"
DEFAULT_GOP = 2
DEFAULT_CRF = 30
DEFAULT_TOLERANCE_S = 1e-4
# Encoder name -> the codec name a decoder reports (what LeRobot writes as ``video.codec``).
_CANONICAL = {"libsvtav1": "av1", "libaom-av1": "av1", "libx264": "h264", "libx265": "hevc"}
_CRF_CODECS = ("libsvtav1", "libaom-av1", "libx264", "libx265", "h264", "hevc")


class VideoError(ValueError):
    """A video file is missing, unreadable, or lacks a frame that is asked for."""


def _av() -> Any:
    try:
        import av
    except ImportError as e:  # pragma: no cover - av is in requirements.lock
        raise VideoError("reading/writing video needs PyAV (pip install av)") from e
    return av


def codec_options(codec: str, gop: int | None, crf: int | None) -> dict[str, str]:
    """FFmpeg options for ``codec``: GOP size and constant-quality factor where it has one."""
    opts: dict[str, str] = {}
    if gop is not None:
        opts["g"] = str(int(gop))
    if crf is not None and codec in _CRF_CODECS:
        opts["crf"] = str(int(crf))
    return opts


class VideoWriter:
    """An mp4 file that frames are appended to (one stream; LeRobot v3.0 puts the episodes of a
    chunk one after another in it). Use as a context manager or call :meth:`close`.

    Args:
        path: Output file (its directory is created).
        fps: Frame rate.
        codec: FFmpeg encoder (``libsvtav1`` = LeRobot's default; ``libx264``, ``mpeg4`` ...).
        pix_fmt: Pixel format.
        gop: Keyframe interval (LeRobot: 2, so that seeking decodes at most one extra frame).
        crf: Constant-quality factor where the codec has one.

    Raises:
        VideoError: The file cannot be written, or FFmpeg has no such encoder.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        codec: str = DEFAULT_CODEC,
        pix_fmt: str = DEFAULT_PIX_FMT,
        gop: int | None = DEFAULT_GOP,
        crf: int | None = DEFAULT_CRF,
    ) -> None:
        from fractions import Fraction

        av = _av()
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner otherwise
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.codec, self.pix_fmt = codec, pix_fmt
        self._rate = Fraction(fps).limit_denominator(1001)
        self._options = codec_options(codec, gop, crf)
        try:
            av.codec.Codec(codec, "w")
        except (ValueError, av.FFmpegError) as e:
            raise VideoError(f"FFmpeg has no encoder {codec!r}: {e}") from e
        try:
            self._container = av.open(str(self.path), "w")
        except (OSError, av.FFmpegError) as e:
            raise VideoError(f"cannot open {self.path} for writing: {e}") from e
        self._stream: Any = None
        self.frames = 0

    def add(self, frame: np.ndarray) -> None:
        """Append one uint8 RGB frame ``[H, W, 3]`` (all frames of a file have one size)."""
        av = _av()
        frame = np.ascontiguousarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise VideoError(f"{self.path}: frames must be uint8 [H, W, 3], got {frame.shape}")
        if self._stream is None:
            self._stream = self._container.add_stream(
                self.codec, rate=self._rate, options=self._options
            )
            self._stream.pix_fmt = self.pix_fmt
            self._stream.height, self._stream.width = frame.shape[:2]
        elif frame.shape[:2] != (self._stream.height, self._stream.width):
            raise VideoError(
                f"{self.path}: frame {self.frames} has shape {frame.shape}, the first "
                f"{(self._stream.height, self._stream.width)}"
            )
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and close the file."""
        if self._container is None:
            return
        try:
            if self._stream is not None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def encode_video(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike[str],
    fps: float,
    codec: str = DEFAULT_CODEC,
    pix_fmt: str = DEFAULT_PIX_FMT,
    gop: int | None = DEFAULT_GOP,
    crf: int | None = DEFAULT_CRF,
) -> int:
    """Encode uint8 RGB frames ``[H, W, 3]`` into ``path`` at ``fps``; returns the frame count.

    Raises:
        VideoError: No frames, frames of differing shape, or an encoder FFmpeg does not have.
    """
    with VideoWriter(path, fps, codec, pix_fmt, gop, crf) as w:
        for frame in frames:
            w.add(frame)
        if w.frames == 0:
            raise VideoError(f"{path}: no frames to encode")
        return w.frames


def probe_video(path: str | os.PathLike[str]) -> dict[str, Any]:
    """LeRobot's ``info`` block of a video feature (``video.height`` ... ``has_audio``).

    Raises:
        VideoError: Missing or unreadable file, or no video stream in it.
    """
    av = _av()
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video file missing: {path}")
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise VideoError(f"{path}: no video stream")
            s = c.streams.video[0]
            fmt = s.codec_context.format
            rate = float(s.average_rate or s.base_rate or 0)
            return {
                "video.height": int(s.height),
                "video.width": int(s.width),
                "video.codec": s.codec_context.codec.canonical_name,
                "video.pix_fmt": s.pix_fmt,
                "video.is_depth_map": False,
                "video.fps": int(rate) if rate.is_integer() else rate,
                "video.channels": len(fmt.components) if fmt is not None else 3,
                "has_audio": bool(c.streams.audio),
            }
    except av.FFmpegError as e:
        raise VideoError(f"unreadable video {path}: {e}") from e


def frame_timestamps(path: str | os.PathLike[str]) -> np.ndarray:
    """Presentation times (s) of every frame in ``path``, from the packets (no decoding)."""
    av = _av()
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            tb = float(s.time_base)
            pts = [p.pts for p in c.demux(s) if p.pts is not None]
    except (OSError, av.FFmpegError, IndexError) as e:
        raise VideoError(f"unreadable video {path}: {e}") from e
    return np.sort(np.asarray(pts, dtype=np.float64)) * tb


class VideoDecoder:
    """Frames by timestamp from mp4 files, with a small cache of open containers.

    Args:
        tolerance_s: Largest distance between a requested timestamp and the frame returned.
        max_open: Containers kept open (least recently used are closed).
    """

    def __init__(self, tolerance_s: float = DEFAULT_TOLERANCE_S, max_open: int = 16) -> None:
        if not tolerance_s > 0:
            raise ValueError(f"tolerance_s must be > 0, got {tolerance_s}")
        self.tolerance_s = float(tolerance_s)
        self.max_open = int(max_open)
        self._open: OrderedDict[str, Any] = OrderedDict()
        self._inherited: list[Any] = []
        self._pid = os.getpid()

    def _container(self, path: str) -> Any:
        av = _av()
        if os.getpid() != self._pid:  # forked into a dataloader worker: open afresh
            # Closing the parent's containers here would touch FFmpeg state copied mid-use by
            # fork; they are kept (unused) until the worker exits.
            self._inherited.extend(self._open.values())
            self._open = OrderedDict()
            self._pid = os.getpid()
        c = self._open.get(path)
        if c is not None:
            self._open.move_to_end(path)
            return c
        if not os.path.isfile(path):
            raise VideoError(f"video file missing: {path}")
        try:
            c = av.open(path)
        except (OSError, av.FFmpegError) as e:
            raise VideoError(f"unreadable video {path}: {e}") from e
        if not c.streams.video:
            c.close()
            raise VideoError(f"{path}: no video stream")
        # No decoder threads: a dataloader worker forked while FFmpeg threads hold locks would
        # deadlock; the workers are the parallelism.
        c.streams.video[0].thread_count = 1
        self._open[path] = c
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)[1].close()
        return c

    def close(self) -> None:
        """Close every open container."""
        for c in self._open.values():
            c.close()
        self._open.clear()

    def __getstate__(self) -> dict[str, Any]:  # containers do not pickle (spawned workers)
        return {"tolerance_s": self.tolerance_s, "max_open": self.max_open}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def frames_at(self, path: str | os.PathLike[str], timestamps: Iterable[float]) -> np.ndarray:
        """uint8 RGB frames ``[N, H, W, 3]`` of ``path`` nearest to each timestamp (s).

        Raises:
            VideoError: Missing/unreadable file, or a timestamp with no frame within tolerance
                (a video shorter than its episode, timestamps that do not match the video).
        """
        av = _av()
        path = str(path)
        ts = np.asarray(list(timestamps), dtype=np.float64)
        if ts.size == 0:
            raise ValueError("frames_at needs at least one timestamp")
        c = self._container(path)
        stream = c.streams.video[0]
        tb = float(stream.time_base)
        lo, hi = float(ts.min()), float(ts.max())
        got_ts: list[float] = []
        got: list[np.ndarray] = []
        try:
            c.seek(max(0, int(lo / tb)), stream=stream, backward=True, any_frame=False)
            for frame in c.decode(stream):
                if frame.pts is None:
                    continue
                t = frame.pts * tb
                if t < lo - self.tolerance_s:
                    continue
                got_ts.append(t)
                got.append(frame.to_ndarray(format="rgb24"))
                if t >= hi - self.tolerance_s:
                    break
        except av.FFmpegError as e:
            self._open.pop(path, None)
            raise VideoError(f"{path}: decoding failed near t={lo:.4f} s: {e}") from e
        if not got:
            raise VideoError(
                f"{path}: no frame at t={lo:.4f} s (the video ends before it: shorter than its "
                "episode?)"
            )
        have = np.asarray(got_ts)
        nearest = np.abs(ts[:, None] - have[None, :]).argmin(1)
        err = np.abs(have[nearest] - ts)
        if np.any(err > self.tolerance_s):
            k = int(err.argmax())
            raise VideoError(
                f"{path}: no frame within {self.tolerance_s} s of t={ts[k]:.4f} s (nearest "
                f"{have[nearest[k]]:.4f} s): timestamps do not match the video"
            )
        return np.stack([got[i] for i in nearest])


__all__ = [
    "DEFAULT_CODEC",
    "DEFAULT_TOLERANCE_S",
    "VideoDecoder",
    "VideoError",
    "VideoWriter",
    "codec_options",
    "encode_video",
    "frame_timestamps",
    "probe_video",
]
