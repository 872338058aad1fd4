"""h1_sim_node: the MuJoCo LEGO scene in real time, speaking the H1's DDS and camera topic.

* publishes ``rt/lowstate`` (``LowState_`` with CRC) and ``rt/inspire/state`` over unitree_sdk2py;
* consumes ``rt/arm_sdk`` (weight honoured, bad CRC ignored and counted) and ``rt/inspire/cmd``;
* publishes the head camera as ``sensor_msgs/Image`` (rgb8) on the real camera's topic;
* serves ``ResetSim`` and publishes ``TaskStatus`` (task, seed, instruction, success, elapsed,
  outcome, subtask).

The protocol logic is :class:`h1_bringup.sim_core.SimRobot`, the episode logic
:class:`h1_bringup.sim_core.SimEpisode`; the scene is built by the factory named in the
``env_factory`` parameter (``module:attr`` called with a ``SimConfig`` of randomisation preset
``preset``, see :func:`h1_bringup.sim_core.scene_config`). A ``ResetSim`` whose ``instruction``
names a brick colour that is not on the table is refused (the previous episode restarts).
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from typing import Any

import mujoco
import numpy as np
import rclpy
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image
from unitree_sdk2py.core.channel import ChannelPublisher, ChannelSubscriber
from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_, LowState_, MotorCmds_, MotorStates_

from h1_bringup.dds import init_channels
from h1_bringup.node_params import SIM_PARAMS
from h1_bringup.signals import ignoring_stop_signals, install_stop_flag, spin_until_stopped
from h1_bringup.sim_core import SimEpisode, SimRobot, scene_config
from vla_lego.robot import INSPIRE_CMD_TOPIC, INSPIRE_STATE_TOPIC
from vla_lego.robot import topics as T
from vla_lego_msgs.msg import TaskStatus
from vla_lego_msgs.srv import ResetSim
from vla_lego_policy.ros_params import declare_table


def load_factory(spec: str) -> Any:
    """``module:attr`` -> the attribute; ``ValueError`` naming the spec otherwise."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"env_factory must be 'module:attr', got {spec!r}")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot load env_factory {spec!r}: {e}") from e


class H1SimNode(Node):
    """Runs a :class:`SimRobot` on a wall-clock timer and wires it to DDS and ROS."""

    def __init__(self) -> None:
        super().__init__("h1_sim")
        p = declare_table(self, SIM_PARAMS)
        cfg = scene_config(p)  # an unknown preset stops the node here, with the known ones
        self.preset = p["preset"]
        self.env = load_factory(p["env_factory"])(cfg)
        self.episode = SimEpisode(self.env, p["task"], p["seed"])
        self.camera, self.rtf = p["camera"], p["real_time_factor"]
        self.robot = SimRobot(self.env, float(self.env.model.opt.timestep))
        self._env_lock = threading.Lock()
        self._stop = threading.Event()

        init_channels(p["dds_domain"], p["network_interface"])
        self._state_pub = ChannelPublisher(T.LOWSTATE_CHANNEL, LowState_)
        self._state_pub.Init()
        self._hand_pub = ChannelPublisher(INSPIRE_STATE_TOPIC, MotorStates_)
        self._hand_pub.Init()
        self._arm_sub = ChannelSubscriber(T.ARM_SDK_CHANNEL, LowCmd_)
        self._arm_sub.Init(self.robot.on_arm_sdk, 10)
        self._hand_sub = ChannelSubscriber(INSPIRE_CMD_TOPIC, MotorCmds_)
        self._hand_sub.Init(self.robot.on_hand_cmd, 10)

        self._image_pub = self.create_publisher(Image, p["image_topic"], 2)
        self._status_pub = self.create_publisher(TaskStatus, T.SIM_TASK_STATUS_TOPIC, 10)
        self.create_service(ResetSim, T.SIM_RESET_SERVICE, self._on_reset)
        self._wall0 = time.monotonic()
        self._sim0 = self.env.sim_time
        self.create_timer(1.0 / p["lowstate_rate"], self._tick)
        self.create_timer(1.0 / p["status_rate"], self._publish_status)
        self.create_timer(5.0, self._log_counters)
        # Frames are rendered in a thread of their own (which owns the GL context) so that
        # rt/lowstate never waits for one; only the cheap scene update takes the env lock.
        size = (p["image_height"], p["image_width"])
        self._camera_thread = threading.Thread(
            target=self._camera_loop, args=(p["camera_rate"], size), daemon=True
        )
        self._camera_thread.start()
        e = self.episode
        self.get_logger().info(
            f"sim H1 on DDS domain {p['dds_domain']} ({p['network_interface']}): preset "
            f"{self.preset}, task {e.task} seed {e.seed}: {e.instruction!r}"
        )

    def _tick(self) -> None:
        target = self._sim0 + (time.monotonic() - self._wall0) * self.rtf
        with self._env_lock:
            self.robot.advance(target)
            state, hand = self.robot.lowstate(), self.robot.hand_state()
        self._state_pub.Write(state)
        self._hand_pub.Write(hand)

    def _camera_loop(self, rate: float, size: tuple[int, int]) -> None:
        renderer = mujoco.Renderer(self.env.model, *size)
        try:
            next_t = time.monotonic()
            while not self._stop.is_set():
                with self._env_lock:
                    renderer.update_scene(self.env.data, camera=self.camera)
                self._publish_image(renderer.render())
                next_t = max(next_t + 1.0 / rate, time.monotonic())
                self._stop.wait(next_t - time.monotonic())
        finally:
            renderer.close()

    def close(self) -> None:
        """Stop the camera thread."""
        self._stop.set()
        self._camera_thread.join(timeout=5.0)

    def _publish_image(self, rgb: np.ndarray) -> None:
        msg = Image()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = f"{self.camera}_camera"
        msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
        msg.encoding, msg.is_bigendian, msg.step = "rgb8", 0, int(rgb.shape[1]) * 3
        msg.data = rgb.tobytes()
        self._image_pub.publish(msg)

    def _publish_status(self) -> None:
        with self._env_lock:
            s = self.episode.status()
        msg = TaskStatus(
            task=s.task,
            seed=s.seed,
            instruction=s.instruction,
            success=s.success,
            elapsed=s.elapsed,
            outcome=s.outcome,
            subtask=s.subtask,
        )
        msg.header.stamp = self.get_clock().now().to_msg()
        self._status_pub.publish(msg)

    def _on_reset(self, req: ResetSim.Request, resp: ResetSim.Response) -> ResetSim.Response:
        try:
            with self._env_lock:
                try:
                    instruction = self.episode.reset(req.task, int(req.seed), req.instruction)
                finally:  # a refused instruction restarted the previous episode
                    self._wall0, self._sim0 = time.monotonic(), self.env.sim_time
        except (ValueError, KeyError) as e:
            resp.success, resp.message = False, f"reset to {req.task!r} failed: {e}"
            self.get_logger().warning(resp.message)
            return resp
        resp.success, resp.message, resp.instruction = True, "reset", instruction
        self.get_logger().info(f"reset: task {req.task} seed {req.seed}: {instruction!r}")
        return resp

    def _log_counters(self) -> None:
        c = self.robot.counters
        self.get_logger().info(
            f"rt/arm_sdk: {c.arm_cmds} ok, {c.bad_crc} bad CRC, {c.bad_arm_cmds} bad values, "
            f"weight {c.last_weight:.2f} (max {c.max_weight:.2f}); rt/inspire/cmd {c.hand_cmds}; "
            f"sim {self.env.sim_time:.2f} s, behind {self.robot.behind_steps} steps"
        )


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = install_stop_flag()
    node = None
    try:
        node = H1SimNode()
        spin_until_stopped(node, stop)
    except ExternalShutdownException:
        pass
    except (
        ValueError,
        RuntimeError,
        ParameterException,
        NameValidationException,
        FileNotFoundError,
    ) as e:
        print(f"[h1_sim] error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    finally:
        with ignoring_stop_signals():  # a second Ctrl-C must not cut the clean-up short
            _close(node)


def _close(node: H1SimNode | None) -> None:
    if node is not None:
        node.close()
        node._log_counters()
        node.destroy_node()
    if rclpy.ok():
        rclpy.shutdown()


__all__ = ["H1SimNode", "load_factory", "main"]
