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

Parameters (types, ranges, meaning): :mod:`vla_lego_policy.parameters`; values:
``config/policy.yaml``. Run: ``ros2 run vla_lego_policy policy_node --ros-args -p policy:=...`` or
``python -m vla_lego_policy.policy_node --ros-args ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
import yaml
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String

from vla_lego.inference.types import Policy
from vla_lego.robot import H1_LAYOUT
from vla_lego.robot.topics import camera_name_from_topic
from vla_lego.runtime import (
    ChunkEvent,
    ChunkScheduler,
    ControllerConfig,
    ObservationSync,
    PolicyController,
    SafetyFilter,
    SafetyLimits,
    SchedulerConfig,
    SyncConfig,
    decode_compressed,
    decode_raw,
    load_limit_overrides,
)
from vla_lego_msgs.msg import ActionChunk, PolicyStatus
from vla_lego_msgs.srv import SetTask
from vla_lego_policy.parameters import SPECS, check_values, json_object

PACKAGE = "vla_lego_policy"
_BUILTIN_PARAMS = ("use_sim_time", "start_type_description_service")


def default_params_file() -> Path:
    """The installed ``config/policy.yaml`` (the single source of default values)."""
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(PACKAGE)) / "config" / "policy.yaml"


def read_defaults(path: Path) -> dict[str, Any]:
    """The ``ros__parameters`` of the first node entry in a ROS parameter YAML file."""
    data = yaml.safe_load(path.read_text())
    for entry in (data or {}).values():
        if isinstance(entry, dict) and isinstance(entry.get("ros__parameters"), dict):
            return dict(entry["ros__parameters"])
    raise ValueError(f"{path}: no '<node>: ros__parameters:' mapping found")


def load_policy(values: dict[str, Any]) -> Policy:
    """Resolve the ``policy`` parameter (plus kwargs/device/seed) to a Policy."""
    from vla_lego.inference import load_policy_from_spec

    return load_policy_from_spec(
        values["policy"],
        kwargs=json_object(values, "policy_kwargs"),
        backend_options=json_object(values, "backend_options") or None,
        device=values["device"],
        seed=values["seed"],
        decode_text=values["decode_text"],
    )


def _stamp(t: Any) -> float:
    return float(t.sec) + 1e-9 * float(t.nanosec)


class PolicyNode(Node):
    """The policy node (see the module docstring). Raises ``ValueError`` on an invalid setup."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("policy_node", **kwargs)
        values = self._declare_parameters()
        self.values = values
        self.layout = H1_LAYOUT
        topics = values["camera_topics"]
        names = values["camera_names"] or [camera_name_from_topic(t) for t in topics]
        period = 1.0 / values["control_rate"]
        self.controller = PolicyController(
            load_policy(values),
            ObservationSync(self.layout, self._sync_config(names)),
            ChunkScheduler(
                self.layout.dim,
                SchedulerConfig(values["blend"], values["blend_time"], values["ensemble_decay"]),
            ),
            SafetyFilter(self._limits(), period),
            clock=self._now,
            config=ControllerConfig(
                values["max_inference_latency"],
                values["min_inference_period"],
                inference_nice=values["inference_nice"],
                hold_relatch_distance=values["hold_relatch_distance"],
                max_consecutive_failures=values["max_consecutive_failures"],
            ),
            on_chunk=self._publish_chunk,
        )
        self._wire(dict(zip(names, topics)), period)
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
    def _declare_parameters(self) -> dict[str, Any]:
        defaults = read_defaults(default_params_file())
        unknown = [
            n
            for n in list(defaults) + list(self._parameter_overrides)
            if n not in SPECS and n not in _BUILTIN_PARAMS and not n.startswith("qos_overrides.")
        ]
        if unknown:
            raise ValueError(f"unknown parameters {sorted(set(unknown))}; known: {sorted(SPECS)}")
        values: dict[str, Any] = {}
        for name, spec in SPECS.items():
            if name not in defaults:
                raise ValueError(f"parameter {name} missing from {default_params_file()}")
            desc = ParameterDescriptor(name=name, description=spec.description, read_only=True)
            if spec.kind == "float":
                desc.floating_point_range = [
                    FloatingPointRange(from_value=spec.low, to_value=spec.high, step=0.0)
                ]
            elif spec.kind == "int":
                low, high = int(spec.low or 0), int(spec.high or 0)
                desc.integer_range = [IntegerRange(from_value=low, to_value=high, step=1)]
            if spec.choices:
                desc.additional_constraints = f"one of {list(spec.choices)}"
            default = defaults[name]
            if spec.kind == "float" and isinstance(default, int):
                default = float(default)
            values[name] = self.declare_parameter(name, default, desc).value
        for name, spec in SPECS.items():
            if spec.kind == "str_list":  # [""] stands for "empty" (ROS cannot type an empty list)
                values[name] = [v for v in (values[name] or []) if v]
        check_values(values)
        return values

    def _sync_config(self, names: list[str]) -> SyncConfig:
        v = self.values
        return SyncConfig(
            tuple(names), v["max_input_age"], v["max_time_skew"], v["max_future_stamp"]
        )

    def _limits(self) -> SafetyLimits:
        v = self.values
        overrides = load_limit_overrides(v["limits_file"]) if v["limits_file"] else None
        return SafetyLimits.from_layout(
            self.layout,
            v["arm_max_velocity"],
            v["hand_max_velocity"],
            v["arm_max_acceleration"],
            v["hand_max_acceleration"],
            overrides,
        )

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


def main(args: list[str] | None = None) -> int:
    """Entry point: exits 2 on an invalid configuration, 0 on Ctrl-C / external shutdown."""
    # A Python policy thread would otherwise hold the GIL for up to 5 ms between switches.
    sys.setswitchinterval(0.0005)
    rclpy.init(args=args)
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
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.shutdown()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


__all__ = ["PolicyNode", "default_params_file", "load_policy", "main", "read_defaults"]

if __name__ == "__main__":
    sys.exit(main())
