"""ROS 2 policy node: cameras + joint states + instruction -> action chunks -> safe arm commands.

Thin wiring around :class:`vla_lego.runtime.PolicyController` (all logic lives there and in the
other ``vla_lego.runtime`` classes):

* subscriptions: one ``sensor_msgs/Image`` or ``sensor_msgs/CompressedImage`` per camera topic,
  ``sensor_msgs/JointState`` joint states, ``std_msgs/String`` instruction; service ``SetTask``;
* publications: ``sensor_msgs/JointState`` commands (all layout joints, position + velocity) at
  ``control_rate``, ``vla_lego_msgs/ActionChunk`` per chunk, ``vla_lego_msgs/PolicyStatus`` at
  ``status_rate`` and on every state change;
* threads: the policy runs in the controller's inference thread; a ``SingleThreadedExecutor``
  spins the timer, inputs and services (rclpy's ``MultiThreadedExecutor`` was measured to cost a
  whole core in executor overhead on this callback load and drop the 50 Hz loop to ~35 Hz).

Parameters (types, ranges, defaults, meaning): :mod:`vla_lego.runtime.policy_params`, from which
``config/policy.yaml`` is generated; the controller is built by
:func:`vla_lego.runtime.build.build_controller`, as bag replay and the direct sim evaluation build
theirs. Settings marked dynamic there (inference pacing and watchdogs) accept ``ros2 param set``.
Run: ``ros2 run vla_lego_policy policy_node --ros-args -p policy:=...`` or
``python -m vla_lego_policy.policy_node --ros-args ...``.
"""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import replace
from typing import Any

import numpy as np
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String

from vla_lego.robot import H1_LAYOUT
from vla_lego.runtime import ChunkEvent, decode_compressed, decode_raw
from vla_lego.runtime.build import build_controller, camera_map, controller_config, load_policy
from vla_lego.runtime.policy_params import POLICY_PARAMS, effective_params_yaml
from vla_lego_msgs.msg import ActionChunk, PolicyStatus
from vla_lego_msgs.srv import SetTask
from vla_lego_policy.ros_params import declare_table, on_dynamic_change


def _stamp(t: Any) -> float:
    return float(t.sec) + 1e-9 * float(t.nanosec)


class PolicyNode(Node):
    """The policy node (see the module docstring). Raises ``ValueError`` on an invalid setup."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("policy_node", **kwargs)
        values = declare_table(self, POLICY_PARAMS)
        self.values = values
        self.layout = H1_LAYOUT
        cameras = camera_map(values)
        names = list(cameras)
        period = 1.0 / values["control_rate"]
        self.controller = build_controller(
            values, load_policy(values), self._now, layout=self.layout, on_chunk=self._publish_chunk
        )
        self._wire(cameras, period)
        on_dynamic_change(self, POLICY_PARAMS, values, self._apply_settings)
        self._chunk_id = 0
        self._last_state = -1
        if not values["require_activation"]:
            self.controller.set_instruction(values["instruction"])
        self.controller.start()
        self.get_logger().info(
            f"policy node ready: policy={values['policy']!r}, cameras={names}, "
            f"control_rate={values['control_rate']} Hz, blend={values['blend']}"
        )

    # ---- set-up -------------------------------------------------------------------------------
    def _apply_settings(self, values: dict[str, Any]) -> None:
        # The inference thread reads controller.config on every use: swapping it is enough.
        new = controller_config(values)
        self.controller.config = replace(self.controller.config, **vars(new))
        self._publish_params(values)
        self.get_logger().info(f"settings changed: {new}")

    def _publish_params(self, values: dict[str, Any]) -> None:
        text = effective_params_yaml(values, self._now())
        self._params_pub.publish(String(data=text))

    def _wire(self, cameras: dict[str, str], period: float) -> None:
        v = self.values
        inputs = MutuallyExclusiveCallbackGroup()
        control = MutuallyExclusiveCallbackGroup()
        # qos_overrides.<topic>.{publisher,subscription}.<policy> parameters apply (ROS 2's
        # standard QoS overriding), e.g. a reliable camera subscription for a lossy driver.
        qos_opts = QoSOverridingOptions.with_default_policies()
        for name, topic in cameras.items():
            compressed = topic.rstrip("/").endswith("/compressed")
            self.create_subscription(
                CompressedImage if compressed else Image,
                topic,
                lambda msg, n=name, c=compressed: self._on_image(n, msg, c),
                qos_profile_sensor_data,
                callback_group=inputs,
                qos_overriding_options=qos_opts,
            )
        self.create_subscription(
            JointState,
            v["joint_states_topic"],
            self._on_joints,
            qos_profile_sensor_data,
            callback_group=inputs,
            qos_overriding_options=qos_opts,
        )
        self.create_subscription(
            String,
            v["instruction_topic"],
            self._on_instruction,
            10,
            callback_group=inputs,
            qos_overriding_options=qos_opts,
        )
        self.create_service(
            SetTask, v["set_task_service"], self._on_set_task, callback_group=inputs
        )
        reliable = QoSProfile(depth=10)
        self._cmd_pub, self._chunk_pub, self._status_pub = (
            self.create_publisher(kind, v[topic], reliable, qos_overriding_options=qos_opts)
            for kind, topic in (
                (JointState, "command_topic"),
                (ActionChunk, "action_chunk_topic"),
                (PolicyStatus, "status_topic"),
            )
        )
        # Latched: a recorder or tool that joins later still gets what this node runs with.
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self._params_pub = self.create_publisher(String, v["params_topic"], latched)
        self._publish_params(v)
        self.create_timer(period, self._on_control_tick, callback_group=control)
        self.create_timer(1.0 / v["status_rate"], self._publish_status, callback_group=inputs)

    # ---- callbacks ----------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, name: str, msg: Image | CompressedImage, compressed: bool) -> None:
        try:
            if compressed:
                rgb = decode_compressed(msg.data, msg.format)
            else:
                rgb = decode_raw(msg.data, msg.height, msg.width, msg.encoding, msg.step)
            self.controller.sync.add_image(name, rgb, _stamp(msg.header.stamp), self._now())
        except ValueError as e:
            self.get_logger().warning(
                f"dropped frame of camera {name}: {e}", throttle_duration_sec=2
            )

    def _on_joints(self, msg: JointState) -> None:
        try:
            self.controller.sync.add_joint_state(
                msg.name, msg.position, _stamp(msg.header.stamp), self._now()
            )
        except ValueError as e:
            self.get_logger().warning(f"dropped joint state: {e}", throttle_duration_sec=2)

    def _on_instruction(self, msg: String) -> None:
        self.controller.set_instruction(msg.data)

    def _on_set_task(self, request: SetTask.Request, response: SetTask.Response) -> Any:
        cleared = self.controller.set_instruction(request.instruction, acknowledge=True)
        response.accepted = True
        text = request.instruction.strip()
        response.message = f"executing {text!r}" if text else "task cleared; holding"
        if cleared:
            response.message += " (fault cleared)"
        return response

    def _on_control_tick(self) -> None:
        now = self.get_clock().now()
        out = self.controller.tick(now.nanoseconds * 1e-9)
        if out.command is not None:
            msg = JointState()
            msg.header.stamp = now.to_msg()
            msg.name = list(self.layout.names)
            msg.position = out.command.position.tolist()
            msg.velocity = out.command.velocity.tolist()
            self._cmd_pub.publish(msg)
        if out.state != self._last_state:
            self._last_state = out.state
            self._publish_status()

    def _publish_status(self) -> None:
        s = self.controller.status()
        msg = PolicyStatus(state=s.state, reason=s.reason, instruction=s.instruction)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.subtask_text = s.subtask_text
        msg.last_inference_latency = float(np.nan_to_num(s.last_inference_latency, nan=0.0))
        msg.control_rate = float(s.control_rate)
        msg.safety_clamp_count = int(s.clamp_count)
        msg.clamp_position = int(s.clamp_position)
        msg.clamp_velocity = int(s.clamp_velocity)
        msg.clamp_acceleration = int(s.clamp_acceleration)
        msg.clamp_nonfinite = int(s.clamp_nonfinite)
        self._status_pub.publish(msg)

    def _publish_chunk(self, event: ChunkEvent) -> None:
        chunk = event.chunk
        msg = ActionChunk()
        msg.header.stamp = Time(nanoseconds=int(chunk.observation_time * 1e9)).to_msg()
        msg.joint_names = list(self.layout.names)
        msg.dt = float(chunk.dt)
        msg.horizon = chunk.horizon
        msg.positions = np.asarray(chunk.actions, dtype=np.float64).reshape(-1).tolist()
        msg.subtask_text = chunk.subtask_text
        msg.chunk_id = event.accept.chunk_id
        msg.inference_time = float(event.inference_time)
        self._chunk_pub.publish(msg)

    def shutdown(self) -> None:
        """Stop the inference thread (the caller destroys the node)."""
        self.controller.stop()


# How often the spin loop looks at the stop flag when no callback is due (timers at the control
# rate make it look far more often).
STOP_POLL_S = 0.05


def main(args: list[str] | None = None) -> int:
    """Entry point: exits 2 on an invalid configuration, 0 on Ctrl-C, SIGTERM or shutdown."""
    # A Python policy thread would otherwise hold the GIL for up to 5 ms between switches.
    sys.setswitchinterval(0.0005)
    # rclpy's own SIGINT handler invalidates the context at once, while the inference thread and
    # timers may still publish ("publisher's context is invalid" tracebacks on every Ctrl-C). A
    # KeyboardInterrupt raised wherever the signal lands is no better: inside rclpy's take it
    # surfaces as "RuntimeError: Unable to convert call argument". So SIGINT/SIGTERM only set a
    # flag; the spin loop ends, the controller stops, then the context is shut down. Also when
    # started with SIGINT ignored (a shell's background job).
    stop = threading.Event()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda _signum, _frame: stop.set())
    try:
        node = PolicyNode()
    except Exception as e:  # invalid parameters, limits or policy: refuse to start
        print(f"[policy_node] ERROR: cannot start: {type(e).__name__}: {e}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    # Single-threaded: every callback here is short (decode, copy, tick) and inference has its own
    # thread. rclpy's MultiThreadedExecutor spent ~100% of a core on its own futures/semaphores and
    # lost ticks (p99 period error 45 ms vs 0.2 ms single-threaded, bench/policy_node.py).
    # (rclpy.experimental.EventsExecutor was tried: it does not stop on SIGINT.)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=STOP_POLL_S)
    except ExternalShutdownException:
        pass
    finally:
        # launch passes one SIGINT on, a terminal's Ctrl-C reaches the group too: the second must
        # not cut the (bounded) clean-up short with a traceback.
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)
        node.shutdown()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


__all__ = ["PolicyNode", "main"]

if __name__ == "__main__":
    sys.exit(main())
