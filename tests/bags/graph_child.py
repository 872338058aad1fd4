"""Child process for the bag tests: publishes an H1-like sensor graph on loopback.

Publishes the head camera (rgb8, brightness stepping every second), ``/h1/joint_states`` (the 20
layout joints, a smooth trajectory) and a latched ``/vla/instruction`` (repeated, so late
volatile subscribers get it too) until SIGINT/SIGTERM or ``--duration`` seconds.
Prints ``graph-child: publishing`` once all publishers exist.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--camera-rate", type=float, default=15.0)
    p.add_argument("--joint-rate", type=float, default=50.0)
    p.add_argument("--image-size", type=int, nargs=2, default=(24, 32), metavar=("H", "W"))
    p.add_argument("--brightness", type=int, default=90)
    p.add_argument("--brightness-step", type=int, default=0, help="added every second (mod 4)")
    p.add_argument("--instruction-rate", type=float, default=1.0)
    p.add_argument("--instruction", default="stack the red brick on the blue brick")
    args = p.parse_args()

    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import String

    from vla_lego.robot import H1_LAYOUT
    from vla_lego.robot import topics as T

    stop = {"flag": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("bag_test_graph")
    latched = QoSProfile(
        depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE
    )
    pub_img = node.create_publisher(Image, T.HEAD_CAMERA_TOPIC, 10)
    pub_js = node.create_publisher(JointState, T.JOINT_STATES_TOPIC, 10)
    pub_ins = node.create_publisher(String, T.INSTRUCTION_TOPIC, latched)
    h, w = args.image_size
    mid = (H1_LAYOUT.lower + H1_LAYOUT.upper) / 2
    print("graph-child: publishing", flush=True)
    t0 = time.monotonic()
    next_img = next_js = next_ins = t0
    while not stop["flag"] and time.monotonic() - t0 < args.duration:
        now = time.monotonic()
        stamp = node.get_clock().now().to_msg()
        if now >= next_js:
            js = JointState()
            js.header.stamp = stamp
            js.name = list(H1_LAYOUT.names)
            js.position = (mid + 0.1 * math.sin(now - t0)).tolist()
            pub_js.publish(js)
            next_js += 1.0 / args.joint_rate
        if now >= next_ins:
            pub_ins.publish(String(data=args.instruction))
            next_ins += 1.0 / args.instruction_rate
        if now >= next_img:
            img = Image(height=h, width=w, encoding="rgb8", step=3 * w)
            img.header.stamp = stamp
            img.header.frame_id = "head_camera"
            level = args.brightness + args.brightness_step * (int(now - t0) % 4)
            img.data = np.full((h, w, 3), level, np.uint8).tobytes()
            pub_img.publish(img)
            next_img += 1.0 / args.camera_rate
        time.sleep(max(0.0, min(next_img, next_js) - time.monotonic()))
    node.destroy_node()
    rclpy.shutdown()
    print("graph-child: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
