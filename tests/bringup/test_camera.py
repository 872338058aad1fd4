"""camera_node: OpenCV frames -> rgb8 sensor_msgs/Image; a missing device is a clear error."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosutil import ChildProcess, spun_node, wait_until

from h1_bringup.camera_node import to_rgb8

LIB = Path(__file__).resolve().parents[2] / "ros2_ws" / "install" / "h1_bringup" / "lib"
EXE = str(LIB / "h1_bringup" / "camera_node")


def test_to_rgb8_swaps_channels_and_resizes() -> None:
    bgr = np.zeros((48, 64, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's BGR
    rgb = to_rgb8(bgr, 32, 24)
    assert rgb.shape == (24, 32, 3) and rgb.flags["C_CONTIGUOUS"]
    assert rgb[..., 2].min() == 200 and rgb[..., 0].max() == 0
    grey = to_rgb8(np.full((24, 32), 7, np.uint8), 32, 24)
    assert grey.shape == (24, 32, 3) and np.all(grey == 7)


def _video(path: Path) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    assert w.isOpened()
    for _ in range(10):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[..., 0] = 220  # blue
        w.write(frame)
    w.release()
    return path


@pytest.mark.ros
def test_video_file_is_published(tmp_path: Path, ros_env: dict[str, str]) -> None:
    from sensor_msgs.msg import Image

    video = _video(tmp_path / "blue.avi")
    argv = [EXE, "--ros-args", "-r", "__node:=cam", "-p", f"device:={video}"]
    argv += ["-p", "width:=32", "-p", "height:=24", "-p", "rate:=20.0", "-p", "loop:=true"]
    argv += ["-p", "topic:=/test/cam/image_raw"]
    cam = ChildProcess(argv, ros_env)
    try:
        with spun_node("cam_probe") as probe:
            got = probe.collect(Image, "/test/cam/image_raw")
            assert wait_until(lambda: len(got) >= 12, 30), cam.output  # > 10: it loops
            m = got[-1]
            assert (m.encoding, m.width, m.height, m.step) == ("rgb8", 32, 24, 96)
            rgb = np.frombuffer(bytes(m.data), np.uint8).reshape(24, 32, 3)
            assert rgb[..., 2].mean() > 180 and rgb[..., 0].mean() < 40
        assert cam.stop() == 0
    finally:
        cam.stop()


@pytest.mark.ros
def test_missing_device_is_a_clear_error(ros_env: dict[str, str]) -> None:
    r = subprocess.run(
        [EXE, "--ros-args", "-p", "device:=/dev/video_missing_h1"],
        env=ros_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "camera device '/dev/video_missing_h1' cannot be opened" in r.stderr
