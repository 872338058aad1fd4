"""A real rclpy graph on loopback for policy-node tests: the node as a child process, and a driver.

The driver (in the test process) plays robot and cameras: it publishes camera frames and joint
states (the joint states echo the last command, like a perfectly tracking robot), and records every
command, status and chunk the node publishes. Every node gets its own topic prefix so nodes of
different tests never see each other's traffic.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rosutil import ChildProcess, SpunNode, wait_until

from vla_lego.robot import H1_LAYOUT
from vla_lego.runtime.scripted import SinePolicy

NODE_EXE = Path("ros2_ws/install/vla_lego_policy/lib/vla_lego_policy/policy_node")
# Command limits the tests run the node with (checked against every published command).
ARM_V, HAND_V, ARM_A, HAND_A = 1.5, 1.0, 15.0, 10.0
_prefix_counter = itertools.count()


def node_params(prefix: str, **overrides: Any) -> dict[str, Any]:
    """Parameters for a node whose topics all live under ``prefix``."""
    p = {
        "policy": "python:vla_lego.runtime.scripted:SinePolicy",
        "policy_kwargs": json.dumps({"horizon": 10, "dt": 0.1, "amplitude": 0.2, "latency": 0.05}),
        "camera_topics": [f"{prefix}/h1/camera/head/image_raw"],
        "joint_states_topic": f"{prefix}/h1/joint_states",
        "command_topic": f"{prefix}/h1/arm_command",
        "instruction_topic": f"{prefix}/vla/instruction",
        "action_chunk_topic": f"{prefix}/vla/action_chunk",
        "status_topic": f"{prefix}/vla/status",
        "set_task_service": f"{prefix}/vla/set_task",
        "params_topic": f"{prefix}/vla/policy_params",
        "arm_max_velocity": ARM_V,
        "hand_max_velocity": HAND_V,
        "arm_max_acceleration": ARM_A,
        "hand_max_acceleration": HAND_A,
        "status_rate": 20.0,
        # Back-to-back inference and no re-latching: what these tests observe (the deployed
        # defaults, 0.5 s and 0.3, are the table's and are checked in test_parameters.py).
        "min_inference_period": 0.0,
        "hold_relatch_distance": 0.0,
    }
    p.update({k.replace("{prefix}", prefix): v for k, v in overrides.items()})
    p["camera_topics"] = [t.replace("{prefix}", prefix) for t in p["camera_topics"]]
    return p


class Driver:
    """Publishes sensors into, and records the outputs of, one policy node."""

    def __init__(self, spun: SpunNode, params: dict[str, Any], policy: SinePolicy) -> None:
        from sensor_msgs.msg import CompressedImage, Image, JointState
        from std_msgs.msg import String

        from vla_lego_msgs.msg import ActionChunk, PolicyStatus
        from vla_lego_msgs.srv import SetTask

        self.spun, self.node, self.params, self.policy = spun, spun.node, params, policy
        qos = 50
        self.image_pub = self.node.create_publisher(Image, params["camera_topics"][0], qos)
        # Further cameras: CompressedImage (JPEG) when the topic ends in /compressed.
        self.extra_pubs = [
            (
                (self.node.create_publisher(CompressedImage, t, qos), True)
                if t.endswith("/compressed")
                else (self.node.create_publisher(Image, t, qos), False)
            )
            for t in params["camera_topics"][1:]
        ]
        self.compressed_hook: Callable[[Any], Any] | None = None
        self.joint_pub = self.node.create_publisher(JointState, params["joint_states_topic"], qos)
        self.instr_pub = self.node.create_publisher(String, params["instruction_topic"], 10)
        self.set_task = self.node.create_client(SetTask, params["set_task_service"])
        self.commands: list[tuple[float, Any]] = []
        self.statuses: list[tuple[float, Any]] = []
        self.chunks: list[tuple[float, Any]] = []
        self.node.create_subscription(JointState, params["command_topic"], self._on_cmd, 100)
        self.node.create_subscription(PolicyStatus, params["status_topic"], self._on_status, 100)
        self.node.create_subscription(ActionChunk, params["action_chunk_topic"], self._on_chunk, 50)
        self.camera_on = self.joints_on = True
        self.image_hook: Callable[[Any], Any] | None = None
        self.joint_hook: Callable[[Any], Any] | None = None
        self.last_good_frame = -math.inf
        self._q = policy.target(self.now()).astype(float)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # ---- clock and messages -------------------------------------------------------------------
    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def stamp(self, t: float | None = None) -> Any:
        from builtin_interfaces.msg import Time

        t = self.now() if t is None else t
        sec = math.floor(t)
        return Time(sec=int(sec), nanosec=int((t - sec) * 1e9))

    def image(self, t: float | None = None, h: int = 48, w: int = 64) -> Any:
        from sensor_msgs.msg import Image

        msg = Image(height=h, width=w, encoding="rgb8", step=w * 3)
        msg.header.stamp = self.stamp(t)
        msg.data = bytes(np.full(h * w * 3, 90, np.uint8))
        return msg

    def jpeg(self, t: float | None = None, h: int = 48, w: int = 64) -> Any:
        from sensor_msgs.msg import CompressedImage

        from vla_lego.runtime.images import encode_compressed

        msg = CompressedImage(format="jpeg")
        msg.header.stamp = self.stamp(t)
        msg.data = encode_compressed(np.full((h, w, 3), 120, np.uint8), "jpeg")
        return msg

    def joint_state(self, t: float | None = None) -> Any:
        from sensor_msgs.msg import JointState

        msg = JointState(name=list(H1_LAYOUT.names), position=self._q.tolist())
        msg.header.stamp = self.stamp(t)
        return msg

    def _run(self) -> None:
        for k in itertools.count():
            if self._stop.wait(0.01):
                return
            if self.commands:
                self._q = np.asarray(self.commands[-1][1].position, dtype=float)
            if self.joints_on:
                msg = self.joint_state()
                self.joint_pub.publish(self.joint_hook(msg) if self.joint_hook else msg)
            if self.camera_on and k % 3 == 0:
                msg = self.image()
                if self.image_hook:
                    self.image_pub.publish(self.image_hook(msg))
                else:
                    self.image_pub.publish(msg)
                    self.last_good_frame = self.now()
                for pub, compressed in self.extra_pubs:
                    extra = self.jpeg() if compressed else self.image()
                    if compressed and self.compressed_hook:
                        extra = self.compressed_hook(extra)
                    pub.publish(extra)

    def _on_cmd(self, msg: Any) -> None:
        self.commands.append((self.now(), msg))

    def _on_status(self, msg: Any) -> None:
        self.statuses.append((self.now(), msg))

    def _on_chunk(self, msg: Any) -> None:
        self.chunks.append((self.now(), msg))

    # ---- actions and queries ------------------------------------------------------------------
    def call_set_task(self, text: str, timeout: float = 5.0) -> Any:
        from vla_lego_msgs.srv import SetTask

        assert self.set_task.wait_for_service(timeout_sec=timeout), "SetTask service not found"
        fut = self.set_task.call_async(SetTask.Request(instruction=text))
        assert wait_until(fut.done, timeout), "SetTask call timed out"
        return fut.result()

    def state(self) -> int | None:
        return self.statuses[-1][1].state if self.statuses else None

    def wait_state(self, state: int, timeout: float = 5.0) -> bool:
        return wait_until(lambda: self.state() == state, timeout)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


def check_commands_safe(
    commands: list[tuple[float, Any]],
    rate: float = 50.0,
    limits: tuple[float, float] = (ARM_V, HAND_V),
) -> None:
    """Every command names all layout joints and lies within position and per-tick speed limits."""
    lim_v = np.array([limits[0] if j.kind == "arm" else limits[1] for j in H1_LAYOUT.joints])
    prev = None
    for _, msg in commands:
        assert list(msg.name) == list(H1_LAYOUT.names)
        pos, vel = np.asarray(msg.position), np.asarray(msg.velocity)
        assert pos.shape == (20,) and vel.shape == (20,)
        assert np.all(np.isfinite(pos)) and np.all(np.isfinite(vel))
        assert H1_LAYOUT.within_limits(pos, tol=1e-9)
        assert np.all(np.abs(vel) <= lim_v + 1e-6)
        if prev is not None:
            # Consecutive commands differ by at most one tick's worth of speed (dropped messages
            # on the wire would only make a test gap look bigger, never smaller).
            assert np.all(np.abs(pos - prev) <= lim_v / rate + 1e-6)
        prev = pos


class PolicyGraph:
    """One policy node child process plus its driver."""

    def __init__(
        self,
        repo_root: Path,
        env: dict[str, str],
        tmp: Path,
        startup_timeout: float = 30.0,
        node_env: dict[str, str] | None = None,
        **overrides: Any,
    ) -> None:
        prefix = f"/t{os.getpid()}_{next(_prefix_counter)}"
        self.params = node_params(prefix, **overrides)
        kwargs = json.loads(self.params["policy_kwargs"]) or {"horizon": 10, "dt": 0.1}
        self.policy = SinePolicy(**{k: v for k, v in kwargs.items() if k != "fail_after"})
        params_file = tmp / f"policy_{prefix.strip('/')}.yaml"
        params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": self.params}}))
        self.proc = ChildProcess(
            [str(repo_root / NODE_EXE), "--ros-args", "--params-file", str(params_file)],
            {**env, **(node_env or {})},
            cwd=str(repo_root),
        )
        self.spun = SpunNode(f"policy_driver_{prefix.strip('/')}")
        self.driver = Driver(self.spun, self.params, self.policy)
        if not self.proc.wait_for_line("policy node ready", startup_timeout):
            self.close()
            raise AssertionError(f"policy node did not start:\n{self.proc.output}")

    def alive(self) -> bool:
        return self.proc.proc.poll() is None

    def start_task(self, text: str = "stack the red brick on the blue one") -> None:
        resp = self.driver.call_set_task(text)
        assert resp.accepted, resp.message

    def close(self) -> int:
        self.driver.stop()
        rc = self.proc.stop()
        self.spun.close()
        return rc


@pytest.fixture
def make_graph(
    repo_root: Path, ros_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., PolicyGraph]]:
    graphs: list[PolicyGraph] = []

    def make(**overrides: Any) -> PolicyGraph:
        g = PolicyGraph(repo_root, ros_env, tmp_path, **overrides)
        graphs.append(g)
        return g

    yield make
    for g in graphs:
        g.close()


@pytest.fixture(scope="module")
def shared_graph(
    repo_root: Path, ros_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PolicyGraph]:
    """One running node for a module's bad-input tests (each test restores good inputs)."""
    g = PolicyGraph(repo_root, ros_env, tmp_path_factory.mktemp("policy"))
    g.start_task()
    try:
        yield g
    finally:
        g.close()


@pytest.fixture
def check_safe() -> Callable[[list[tuple[float, Any]]], None]:
    return check_commands_safe


@pytest.fixture
def wait() -> Callable[..., bool]:
    return wait_until


__all__ = ["Driver", "PolicyGraph", "check_commands_safe", "node_params"]
