"""camera_node: an OpenCV ``VideoCapture`` source (V4L2 device, index or video file) -> Image.

Publishes ``sensor_msgs/Image`` (rgb8, resized to ``width`` x ``height``) on the head camera
topic at ``rate`` Hz. A device that cannot be opened is an error at start-up (exit code 2); a
device that stops delivering frames is reported and the node exits non-zero so the supervisor /
``ros2 launch`` stops the system.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import rclpy
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image

from h1_bringup.node_params import CAMERA_PARAMS
from h1_bringup.signals import install_stop_flag, spin_until_stopped
from vla_lego_policy.ros_params import declare_table


def open_capture(device: str, width: int, height: int) -> cv2.VideoCapture:
    """Open ``device`` ("/dev/videoN", "N" or a file); ``ValueError`` when it does not open."""
    cap = cv2.VideoCapture(int(device) if device.isdigit() else device)
    if not cap.isOpened():
        raise ValueError(f"camera device {device!r} cannot be opened (no such device or file)")
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    return cap


def to_rgb8(frame_bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """An OpenCV BGR (or grey) frame as a contiguous ``uint8 [height, width, 3]`` RGB array."""
    if frame_bgr.ndim == 2:
        frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
    if frame_bgr.shape[:2] != (height, width):
        frame_bgr = cv2.resize(frame_bgr, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))


class CameraNode(Node):
    """Grabs frames on a timer and publishes them."""

    def __init__(self) -> None:
        super().__init__("camera")
        p = declare_table(self, CAMERA_PARAMS)
        self.device, self.width, self.height = p["device"], p["width"], p["height"]
        rate, self.frame_id, self.loop = p["rate"], p["frame_id"], p["loop"]
        self.max_failures, topic = p["max_failures"], p["topic"]
        self.cap = open_capture(self.device, self.width, self.height)
        self.pub = self.create_publisher(Image, topic, 2)
        self.failures = 0
        self.published = 0
        self.create_timer(1.0 / rate, self._grab)
        self.get_logger().info(f"{self.device} -> {topic} ({self.width}x{self.height} @ {rate} Hz)")

    def _grab(self) -> None:
        ok, frame = self.cap.read()
        if not ok and self.loop:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.cap.read()
        if not ok:
            self.failures += 1
            if self.failures >= self.max_failures:
                raise RuntimeError(f"camera {self.device}: {self.failures} failed grabs in a row")
            return
        self.failures = 0
        rgb = to_rgb8(frame, self.width, self.height)
        msg = Image()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.frame_id
        msg.height, msg.width, msg.encoding = self.height, self.width, "rgb8"
        msg.is_bigendian, msg.step = 0, self.width * 3
        msg.data = rgb.tobytes()
        self.pub.publish(msg)
        self.published += 1


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = install_stop_flag()
    node = None
    code = 0
    try:
        node = CameraNode()
        spin_until_stopped(node, stop)
    except ExternalShutdownException:
        pass
    except (ValueError, RuntimeError, ParameterException, NameValidationException) as e:
        print(f"[camera] error: {e}", file=sys.stderr, flush=True)
        code = 2
    finally:
        if node is not None:
            node.cap.release()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    if code:
        raise SystemExit(code)


__all__ = ["CameraNode", "main", "open_capture", "to_rgb8"]
