"""h1_bridge_node: the ROS side of the H1 — joint states out, arm/hand commands in.

* ``rt/lowstate`` (``LowState_``, CRC-checked) and ``rt/inspire/state`` ->
  ``sensor_msgs/JointState`` on ``/h1/joint_states`` with the 20 ``H1_LAYOUT`` names.
* ``/h1/arm_command`` (``sensor_msgs/JointState`` with the 20 layout names) -> ``rt/arm_sdk``
  (``LowCmd_``, arm_sdk weight ramp, CRC) and ``rt/inspire/cmd`` at ``control_rate``.

All decisions are in :class:`h1_bringup.bridge_core.ArmBridge`; this node wires DDS, topics and
timers to it. On Ctrl-C / SIGTERM it ramps the weight to 0 before exiting. A robot whose DDS is
silent at start is reported and never commanded.
"""

from __future__ import annotations

import math
import sys
import threading
import time

import numpy as np
import rclpy
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import JointState
from unitree_sdk2py.core.channel import ChannelPublisher, ChannelSubscriber
from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_, LowState_, MotorCmds_, MotorStates_

from h1_bringup.bridge_core import ArmBridge, BridgeConfig, BridgeMode, BridgeOutput
from h1_bringup.bridge_params import BRIDGE_PARAMS
from h1_bringup.dds import init_channels
from h1_bringup.signals import ignoring_stop_signals, install_stop_flag, spin_until_stopped
from vla_lego.robot import H1_LAYOUT, INSPIRE_CMD_TOPIC, INSPIRE_STATE_TOPIC
from vla_lego.robot import topics as T
from vla_lego_policy.ros_params import declare_table

# Modes between which a flapping command stream moves the bridge.
_FOLLOWING = {BridgeMode.RAMP_UP, BridgeMode.ACTIVE, BridgeMode.RAMP_DOWN}


class H1BridgeNode(Node):
    """Wires rt/lowstate, rt/arm_sdk, rt/inspire/* and the ROS topics to an :class:`ArmBridge`."""

    def __init__(self) -> None:
        super().__init__("h1_bridge")
        p = declare_table(self, BRIDGE_PARAMS)
        self.bridge = ArmBridge(BridgeConfig.from_values(p))
        domain, iface, js_rate = p["dds_domain"], p["network_interface"], p["joint_state_rate"]
        self.state_wait = p["state_wait_timeout"]
        js_topic, cmd_topic = p["joint_states_topic"], p["arm_command_topic"]
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._silent_reported = False
        self._last_mode = self.bridge.mode
        self._watchdog_trips = 0
        self._resyncs_reported, self._resync_logged_at = 0, -math.inf
        self._bad_commands = 0

        init_channels(domain, iface)
        self._arm_pub = ChannelPublisher(T.ARM_SDK_CHANNEL, LowCmd_)
        self._arm_pub.Init()
        self._hand_pub = ChannelPublisher(INSPIRE_CMD_TOPIC, MotorCmds_)
        self._hand_pub.Init()
        self._state_sub = ChannelSubscriber(T.LOWSTATE_CHANNEL, LowState_)
        self._state_sub.Init(self._on_lowstate, 10)
        self._hand_sub = ChannelSubscriber(INSPIRE_STATE_TOPIC, MotorStates_)
        self._hand_sub.Init(self._on_hand_state, 10)

        self._js_pub = self.create_publisher(JointState, js_topic, 10)
        # Best effort: only the newest command counts (the watchdog covers a lost one), and a
        # best-effort subscription also takes commands from best-effort senders (teleop, replay
        # tools), which a reliable one would refuse as incompatible.
        cmd_qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.create_subscription(JointState, cmd_topic, self._on_command, cmd_qos)
        self.create_timer(self.bridge.config.dt, self._tick)
        self.create_timer(1.0 / js_rate, self._publish_joint_states)
        self.get_logger().info(
            f"bridge on DDS domain {domain} ({iface or 'auto'}): {T.LOWSTATE_CHANNEL} -> "
            f"{js_topic}, {cmd_topic} -> {T.ARM_SDK_CHANNEL} at "
            f"{self.bridge.config.control_rate} Hz"
        )

    # DDS listener threads ------------------------------------------------------------------
    def _on_lowstate(self, msg: LowState_) -> None:
        with self._lock:
            ok = self.bridge.on_lowstate(msg, time.monotonic())
            n_bad = self.bridge.rejected_states
        if not ok and (n_bad <= 3 or n_bad % 1000 == 0):
            self.get_logger().warning(f"rejected {n_bad} rt/lowstate messages (CRC / non-finite)")

    def _on_hand_state(self, msg: MotorStates_) -> None:
        try:
            with self._lock:
                self.bridge.on_hand_state(msg)
        except ValueError as e:
            self.get_logger().warning(str(e), throttle_duration_sec=5.0)

    # ROS callbacks --------------------------------------------------------------------------
    def _on_command(self, msg: JointState) -> None:
        try:
            index = {n: i for i, n in enumerate(msg.name)}
            missing = [n for n in H1_LAYOUT.names if n not in index]
            if missing or len(msg.position) != len(msg.name):
                raise ValueError(
                    f"arm command needs position for the 20 layout joints; missing {missing}, "
                    f"{len(msg.position)} positions for {len(msg.name)} names"
                )
            q = np.array([msg.position[index[n]] for n in H1_LAYOUT.names])
            with self._lock:
                self.bridge.on_command(q, time.monotonic())
        except ValueError as e:
            self._bad_commands += 1
            self.get_logger().error(f"dropped arm command: {e}", throttle_duration_sec=2.0)

    def _tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            out = self.bridge.tick(now)
        self._send(out)
        self._report(now)

    def _send(self, out: BridgeOutput) -> None:
        if out.arm is not None:
            self._arm_pub.Write(out.arm)
        if out.hand is not None:
            self._hand_pub.Write(out.hand)

    def _report(self, now: float) -> None:
        b = self.bridge
        if not b.has_state and not self._silent_reported and now - self._started > self.state_wait:
            self._silent_reported = True
            self.get_logger().error(
                f"no valid {T.LOWSTATE_CHANNEL} for {self.state_wait:.1f} s: robot DDS silent "
                "(check network_interface / dds_domain / robot power); sending nothing"
            )
        # At most one line a second, but never a lost one: rclpy's own throttle would drop a
        # resync that follows another within the second for good (the count is already taken).
        if b.tracking_resyncs != self._resyncs_reported and now - self._resync_logged_at >= 1.0:
            self._resyncs_reported, self._resync_logged_at = b.tracking_resyncs, now
            self.get_logger().warning(
                f"arm tracking error: {b.last_resync}; command restarted from the measured "
                f"position ({b.tracking_resyncs} times)"
            )
        if b.mode is not self._last_mode:
            if b.mode is BridgeMode.RAMP_DOWN:
                self._watchdog_trips += 1
            text = f"mode {self._last_mode.value} -> {b.mode.value} (weight {b.weight:.2f})"
            # rclpy wants one severity per call site; a flapping command stream is throttled.
            if b.mode is BridgeMode.FAULT:
                self.get_logger().error(f"{text}: {b.fault_reason}")
            elif b.mode is BridgeMode.WAITING_FOR_STATE:
                self.get_logger().warning(
                    f"{text}: rt/lowstate silent for more than {b.config.state_timeout} s while "
                    f"idle (nothing was commanded); waiting for state ({b.state_gaps} gaps)"
                )
            elif self._watchdog_trips and {b.mode, self._last_mode} <= _FOLLOWING:
                self.get_logger().warning(
                    f"{text}; the command stream went stale {self._watchdog_trips} times "
                    f"(command_timeout {self.bridge.config.command_timeout} s)",
                    throttle_duration_sec=2.0,
                )
            else:
                self.get_logger().info(text)
            self._last_mode = b.mode

    def _publish_joint_states(self) -> None:
        with self._lock:
            state = self.bridge.state_vector()
        if state is None:
            return
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = list(H1_LAYOUT.names)
        msg.position = [float(x) for x in state]
        self._js_pub.publish(msg)

    def ramp_down(self) -> None:
        """Shutdown: tick (without ROS) until the weight is 0 and the last frames are out.

        SIGINT/SIGTERM are ignored meanwhile: a second Ctrl-C (the terminal signals the whole
        process group) or launch's SIGTERM would otherwise cut the ramp short, and the robot
        keeps the last weight it received. The ramp is bounded (``ramp_down_time`` <= 5 s, below
        launch's SIGTERM + SIGKILL escalation of 10 s).
        """
        cfg = self.bridge.config
        with ignoring_stop_signals():
            with self._lock:
                self.bridge.request_stop()
            deadline = time.monotonic() + cfg.ramp_down_time + 10 * cfg.dt + 1.0
            while time.monotonic() < deadline:
                with self._lock:
                    out = self.bridge.tick(time.monotonic())
                    done = self.bridge.finished
                self._send(out)
                if done:
                    break
                time.sleep(cfg.dt)
        self.get_logger().info(f"stopped: arm_sdk weight {self.bridge.weight:.2f}")


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = install_stop_flag()
    node = None
    try:
        node = H1BridgeNode()
        spin_until_stopped(node, stop)
    except ExternalShutdownException:
        pass
    except (ValueError, RuntimeError, ParameterException, NameValidationException) as e:
        # Bad parameters or DDS set-up: reported, and nothing was sent to the robot.
        print(f"[h1_bridge] error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    finally:
        if node is not None:
            node.ramp_down()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


__all__ = ["H1BridgeNode", "main"]
