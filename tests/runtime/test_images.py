"""Image payload conversion: every encoding, and every malformed payload as a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_lego.runtime.images import (
    ImageDecodeError,
    check_rgb,
    decode_compressed,
    decode_raw,
    encode_compressed,
)


def rgb_image(h: int = 6, w: int = 5) -> np.ndarray:
    rng = np.random.default_rng(h * 100 + w)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgb8_bgr8_mono8_rgba8_and_row_padding() -> None:
    img = rgb_image()
    h, w, _ = img.shape
    np.testing.assert_array_equal(decode_raw(img.tobytes(), h, w, "rgb8", w * 3), img)
    np.testing.assert_array_equal(decode_raw(img[:, :, ::-1].tobytes(), h, w, "bgr8", w * 3), img)
    rgba = np.concatenate([img, np.full((h, w, 1), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(decode_raw(rgba.tobytes(), h, w, "RGBA8", w * 4), img)
    mono = img[:, :, 0]
    out = decode_raw(bytearray(mono.tobytes()), h, w, "mono8", w)
    assert out.shape == (h, w, 3) and np.all(out == mono[:, :, None])
    padded = np.zeros((h, w * 3 + 4), np.uint8)
    padded[:, : w * 3] = img.reshape(h, -1)
    np.testing.assert_array_equal(decode_raw(padded.tobytes(), h, w, "rgb8", w * 3 + 4), img)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(encoding="yuv422"), "unsupported image encoding"),
        (dict(encoding="16UC1"), "unsupported image encoding"),
        (dict(step=5), "step"),
        (dict(height=7), "expected step"),
        (dict(data=b""), "0 bytes"),
        (dict(height=0), "size"),
        (dict(width=100_000), "size"),
    ],
)
def test_malformed_raw_image_raises(kwargs: dict, match: str) -> None:
    img = rgb_image()
    args = dict(data=img.tobytes(), height=6, width=5, encoding="rgb8", step=15)
    args.update(kwargs)
    with pytest.raises(ImageDecodeError, match=match):
        decode_raw(**args)


def test_png_roundtrip_exact_and_jpeg_close() -> None:
    img = np.zeros((32, 40, 3), np.uint8)
    img[:16] = (200, 30, 10)
    img[16:] = (10, 60, 220)
    np.testing.assert_array_equal(decode_compressed(encode_compressed(img, "png"), "png"), img)
    jpg = decode_compressed(encode_compressed(img, "jpeg", 95), "rgb8; jpeg compressed bgr8")
    assert jpg.shape == img.shape and np.abs(jpg.astype(int) - img).mean() < 4


@pytest.mark.parametrize(
    ("data", "fmt", "match"),
    [
        (b"", "jpeg", "no data"),
        (b"\x00\x01\x02garbage", "jpeg", "signature"),
        (b"\xff\xd8\xff" + b"\x00" * 50, "jpeg", "could not decode"),
        (b"abc", "tiff", "unsupported compressed"),
    ],
)
def test_malformed_compressed_image_raises(data: bytes, fmt: str, match: str) -> None:
    with pytest.raises(ImageDecodeError, match=match):
        decode_compressed(data, fmt)


def test_check_rgb() -> None:
    with pytest.raises(ImageDecodeError):
        check_rgb(np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageDecodeError, match="size"):
        check_rgb(np.zeros((4, 4, 3), np.uint8), shape=(5, 4))


@settings(max_examples=50, deadline=None)
@given(
    h=st.integers(1, 8),
    w=st.integers(1, 8),
    enc=st.sampled_from(["rgb8", "bgr8", "mono8", "rgba8"]),
    step_extra=st.integers(-3, 3),
    data_extra=st.integers(-2, 2),
)
def test_property_decode_raw_valid_or_clear_error(
    h: int, w: int, enc: str, step_extra: int, data_extra: int
) -> None:
    ch = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4}[enc]
    step = w * ch + step_extra
    data = bytes(max(0, step * h + data_extra))
    ok = step >= w * ch and len(data) == step * h
    if ok:
        assert decode_raw(data, h, w, enc, step).shape == (h, w, 3)
    else:
        with pytest.raises(ImageDecodeError):
            decode_raw(data, h, w, enc, step)
