"""Camera message payloads -> RGB ``uint8 (H, W, 3)`` arrays, with strict validation.

``cv_bridge`` does not exist in the pip ROS environment, so the policy node, bag replay and the sim
evaluator convert ``sensor_msgs/Image`` and ``sensor_msgs/CompressedImage`` payloads here. Every
function raises :class:`ImageDecodeError` (a ``ValueError``) that says what was expected and what
came, so a bad frame is dropped with a clear reason and never reaches the model.

Raw encodings: ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8`` (also ``8UC1``/``8UC3``, read as
mono/BGR as OpenCV would). Compressed formats: JPEG and PNG (the ``format`` field of a
CompressedImage, e.g. ``"jpeg"`` or ``"rgb8; jpeg compressed bgr8"``), decoded with OpenCV.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RAW_ENCODINGS: dict[str, int] = {
    "rgb8": 3,
    "bgr8": 3,
    "rgba8": 4,
    "bgra8": 4,
    "mono8": 1,
    "8uc1": 1,
    "8uc3": 3,
}
COMPRESSED_FORMATS = ("jpeg", "jpg", "png")
MAX_SIDE = 8192  # refuse absurd headers before allocating anything
_MAGIC = {"jpeg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n"}


class ImageDecodeError(ValueError):
    """A camera payload that cannot be turned into an RGB image."""


def _as_bytes(data: Any) -> np.ndarray:
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageDecodeError(f"image data must be uint8 bytes, got an array of {data.dtype}")
        return data.reshape(-1)
    try:  # bytes, bytearray, memoryview, array.array('B') (rclpy's uint8[]): no copy
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        return np.frombuffer(bytes(data), dtype=np.uint8)  # e.g. a list of ints


def decode_raw(
    data: Any,
    height: int,
    width: int,
    encoding: str,
    step: int,
    is_bigendian: int = 0,
) -> np.ndarray:
    """Convert a ``sensor_msgs/Image`` payload to RGB.

    Args:
        data: The ``data`` field (bytes, ``array('B')``, ``uint8`` array).
        height: Rows.
        width: Columns.
        encoding: One of :data:`RAW_ENCODINGS` (case-insensitive).
        step: Bytes per row (at least ``width * channels``; row padding is dropped).
        is_bigendian: Ignored for 8-bit encodings; accepted for message compatibility.

    Returns:
        A new C-contiguous ``uint8 (height, width, 3)`` RGB array.

    Raises:
        ImageDecodeError: unsupported encoding, non-positive or absurd size, ``step`` too small, or
            a data length other than ``step * height``.
    """
    del is_bigendian  # only 8-bit encodings are accepted
    enc = encoding.strip().lower()
    if enc not in RAW_ENCODINGS:
        raise ImageDecodeError(
            f"unsupported image encoding {encoding!r}; expected one of {sorted(RAW_ENCODINGS)}"
        )
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise ImageDecodeError(
            f"image size {width}x{height} must be between 1x1 and {MAX_SIDE}x{MAX_SIDE}"
        )
    channels = RAW_ENCODINGS[enc]
    if step < width * channels:
        raise ImageDecodeError(
            f"image step {step} is smaller than width * channels = {width} * {channels} "
            f"for encoding {enc}"
        )
    buf = _as_bytes(data)
    if buf.size != step * height:
        raise ImageDecodeError(
            f"image data has {buf.size} bytes; expected step * height = {step} * {height} = "
            f"{step * height} ({enc}, {width}x{height})"
        )
    rows = buf.reshape(height, step)[:, : width * channels].reshape(height, width, channels)
    if channels == 1:
        return np.ascontiguousarray(np.repeat(rows, 3, axis=2))
    if enc in ("bgr8", "bgra8", "8uc3"):
        return np.ascontiguousarray(rows[:, :, 2::-1])
    return np.ascontiguousarray(rows[:, :, :3])


def _compressed_kind(fmt: str) -> str:
    text = fmt.strip().lower()
    # ROS image_transport writes e.g. "rgb8; jpeg compressed bgr8"; the codec follows the ';'.
    codec = text.split(";", 1)[1] if ";" in text else text
    for name in COMPRESSED_FORMATS:
        if name in codec:
            return "jpeg" if name == "jpg" else name
    raise ImageDecodeError(
        f"unsupported compressed image format {fmt!r}; expected one naming {COMPRESSED_FORMATS}"
    )


def decode_compressed(data: Any, fmt: str) -> np.ndarray:
    """Convert a ``sensor_msgs/CompressedImage`` payload (JPEG or PNG) to RGB.

    Raises:
        ImageDecodeError: empty data, an unsupported format, bytes that are not the named format,
            a corrupt stream, or an image larger than :data:`MAX_SIDE`.
    """
    import cv2

    kind = _compressed_kind(fmt)
    buf = _as_bytes(data)
    if buf.size == 0:
        raise ImageDecodeError(f"compressed image ({fmt!r}) has no data")
    magic = _MAGIC[kind]
    if bytes(buf[: len(magic)]) != magic:
        raise ImageDecodeError(
            f"compressed image says {kind} but its bytes start with {bytes(buf[:8])!r}, "
            f"not the {kind} signature {magic!r}"
        )
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None or img.ndim != 3 or img.shape[2] != 3:
        raise ImageDecodeError(f"could not decode {buf.size} bytes as {kind}")
    if max(img.shape[:2]) > MAX_SIDE:
        raise ImageDecodeError(f"decoded image {img.shape[1]}x{img.shape[0]} exceeds {MAX_SIDE}")
    return np.ascontiguousarray(img[:, :, ::-1])


def encode_compressed(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> bytes:
    """Encode an RGB ``uint8 (H, W, 3)`` image as JPEG or PNG (for publishers, bags and tests)."""
    import cv2

    kind = _compressed_kind(fmt)
    check_rgb(rgb)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if kind == "jpeg" else []
    ok, out = cv2.imencode(".jpg" if kind == "jpeg" else ".png", rgb[:, :, ::-1], params)
    if not ok:
        raise ImageDecodeError(f"OpenCV could not encode a {rgb.shape} image as {kind}")
    return out.tobytes()


def check_rgb(rgb: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Return ``rgb`` if it is a ``uint8 (H, W, 3)`` array (of ``shape`` = (H, W) when given).

    Raises:
        ImageDecodeError: otherwise.
    """
    if (
        not isinstance(rgb, np.ndarray)
        or rgb.dtype != np.uint8
        or rgb.ndim != 3
        or rgb.shape[2] != 3
    ):
        got = (getattr(rgb, "dtype", type(rgb)), getattr(rgb, "shape", None))
        raise ImageDecodeError(f"expected a uint8 (H, W, 3) RGB array, got {got}")
    if shape is not None and rgb.shape[:2] != tuple(shape):
        raise ImageDecodeError(f"expected image size {tuple(shape)} (H, W), got {rgb.shape[:2]}")
    return rgb


__all__ = [
    "COMPRESSED_FORMATS",
    "MAX_SIDE",
    "RAW_ENCODINGS",
    "ImageDecodeError",
    "check_rgb",
    "decode_compressed",
    "decode_raw",
    "encode_compressed",
]
