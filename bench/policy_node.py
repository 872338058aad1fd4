"""Policy node benchmark on loopback: command period jitter, obs-to-command latency, CPU use.

One command::

    source scripts/env.sh && python bench/policy_node.py [--seconds 10] [--policy SPEC ...]

For every scenario it starts the real node (``policy_node`` executable, own process) and a publisher
process (camera frames at 30 Hz, joint states at 100 Hz, echoing the commands like a perfectly
tracking robot), sets a task, and records in this process every command and action chunk.
It prints one markdown table:

* period error |Δstamp - 1/rate| p50 / p99 / max, from the node's own command stamps (the timer),
  and from the arrival times here (what a robot driver would see);
* observation-to-command latency: from a chunk's observation stamp to the first command received
  after that chunk (p50 / p99), and task-set-to-first-running-command (cold start);
* CPU use of the node and publisher processes (% of one core, from /proc).

Scenarios: ``idle-policy`` (inference takes no time), ``busy-100ms`` (a Python policy computing
100 ms per chunk, back to back: the worst case for GIL contention with the control timer), each with
the inference thread at niceness +0 and +10 (parameter ``inference_nice``), and any ``--policy``
given; ``--tiny`` adds the tiny EO-1 model exported to ONNX (built on the fly, ~30 s). The node
runs with ``VLA_ORT_THREADS`` = CPUs - 1 (unless set) so onnxruntime leaves a core to the control
loop.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NODE_EXE = REPO / "ros2_ws/install/vla_lego_policy/lib/vla_lego_policy/policy_node"
PREFIX = "/bench"


def publisher_main(prefix: str, seconds: float) -> None:
    """Child role: cameras (30 Hz, 224x224 rgb8) + joint states (100 Hz) echoing the commands."""
    import rclpy
    from sensor_msgs.msg import Image, JointState

    from vla_lego.robot import H1_LAYOUT

    rclpy.init()
    node = rclpy.create_node("bench_publisher")
    img_pub = node.create_publisher(Image, f"{prefix}/h1/camera/head/image_raw", 10)
    js_pub = node.create_publisher(JointState, f"{prefix}/h1/joint_states", 10)
    q = ((H1_LAYOUT.lower + H1_LAYOUT.upper) / 2).tolist()
    last = {"q": q}
    node.create_subscription(
        JointState, f"{prefix}/h1/arm_command", lambda m: last.update(q=list(m.position)), 10
    )
    frame = bytes(np.full(224 * 224 * 3, 100, np.uint8))
    k = 0

    def tick() -> None:
        nonlocal k
        stamp = node.get_clock().now().to_msg()
        js = JointState(name=list(H1_LAYOUT.names), position=last["q"])
        js.header.stamp = stamp
        js_pub.publish(js)
        if k % 3 == 0:
            img = Image(height=224, width=224, encoding="rgb8", step=224 * 3, data=frame)
            img.header.stamp = stamp
            img_pub.publish(img)
        k += 1

    node.create_timer(0.01, tick)
    end = time.monotonic() + seconds
    try:
        while rclpy.ok() and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def build_tiny_export(out: Path) -> Path:
    """A tiny untrained EO-1 checkpoint exported to ONNX (as in tests/policy/test_tiny_model.py)."""
    import torch

    from vla_lego.export import ExportOptions, export_checkpoint
    from vla_lego.models.registry import create_model, preset_config
    from vla_lego.robot import H1_LAYOUT

    torch.manual_seed(7)
    mid = (H1_LAYOUT.lower + H1_LAYOUT.upper) / 2
    half = (H1_LAYOUT.upper - H1_LAYOUT.lower) / 2
    feature = {"mean": mid, "std": 0.02 * half, "min": mid - 0.05 * half}
    feature.update(max=mid + 0.05 * half, q01=mid - 0.05 * half, q99=mid + 0.05 * half)
    policy = create_model(preset_config("tiny"), stats={"state": feature, "actions": feature})
    policy.eval().save_pretrained(out / "ckpt")
    export_checkpoint(out / "ckpt", out / "onnx", ExportOptions(exporter="torchscript"))
    return out / "onnx"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    name: str
    stamp_err: np.ndarray
    arrival_err: np.ndarray
    latency: np.ndarray
    cold_start: float
    node_cpu: float
    pub_cpu: float
    commands: int
    seconds: float


class Recorder:
    """Subscribes to the node's outputs in this process."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import JointState

        from vla_lego_msgs.msg import ActionChunk, PolicyStatus
        from vla_lego_msgs.srv import SetTask

        rclpy.init()
        self.node = rclpy.create_node("bench_recorder")
        self.cmds: list[tuple[float, float]] = []  # (arrival, stamp)
        self.chunks: list[tuple[float, float]] = []  # (arrival, observation stamp)
        self.running_at: float | None = None
        n = self.node
        n.create_subscription(JointState, f"{PREFIX}/h1/arm_command", self._on_cmd, 100)
        n.create_subscription(ActionChunk, f"{PREFIX}/vla/action_chunk", self._on_chunk, 100)
        n.create_subscription(PolicyStatus, f"{PREFIX}/vla/status", self._on_status, 100)
        self.client = n.create_client(SetTask, f"{PREFIX}/vla/set_task")
        self.SetTask = SetTask
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(n)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.time()

    @staticmethod
    def _s(stamp: Any) -> float:
        return stamp.sec + 1e-9 * stamp.nanosec

    def _on_cmd(self, m: Any) -> None:
        self.cmds.append((self.now(), self._s(m.header.stamp)))

    def _on_chunk(self, m: Any) -> None:
        self.chunks.append((self.now(), self._s(m.header.stamp)))

    def _on_status(self, m: Any) -> None:
        if m.state == 1 and self.running_at is None:
            self.running_at = self.now()

    def set_task(self, text: str) -> float:
        if not self.client.wait_for_service(timeout_sec=20):
            raise RuntimeError("SetTask service did not appear")
        t = self.now()
        fut = self.client.call_async(self.SetTask.Request(instruction=text))
        deadline = time.monotonic() + 20
        while not fut.done():
            if time.monotonic() > deadline:
                raise RuntimeError("SetTask call got no answer in 20 s")
            time.sleep(0.005)
        return t

    def reset(self) -> None:
        self.cmds.clear()
        self.chunks.clear()
        self.running_at = None

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()


def _params_file(tmp: Path, policy: str, kwargs: dict[str, Any], extra: dict[str, Any]) -> Path:
    import yaml

    p = {
        "policy": policy,
        "policy_kwargs": json.dumps(kwargs),
        "camera_topics": [f"{PREFIX}/h1/camera/head/image_raw"],
        "joint_states_topic": f"{PREFIX}/h1/joint_states",
        "command_topic": f"{PREFIX}/h1/arm_command",
        "instruction_topic": f"{PREFIX}/vla/instruction",
        "action_chunk_topic": f"{PREFIX}/vla/action_chunk",
        "status_topic": f"{PREFIX}/vla/status",
        "set_task_service": f"{PREFIX}/vla/set_task",
        "max_inference_latency": 5.0,
        **extra,
    }
    path = tmp / f"bench_{abs(hash(policy + json.dumps(kwargs) + json.dumps(extra)))}.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": p}}))
    return path


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_scenario(
    rec: Recorder,
    name: str,
    policy: str,
    kwargs: dict[str, Any],
    extra: dict[str, Any],
    seconds: float,
    tmp: Path,
) -> Result:
    # One BLAS thread: a multi-threaded BLAS in a scripted policy would take every core of a small
    # machine from the control timer (a real deployment sizes torch/onnxruntime threads likewise).
    env = dict(os.environ, PYTHONUNBUFFERED="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.setdefault("VLA_ORT_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
    node = subprocess.Popen(
        [
            str(NODE_EXE),
            "--ros-args",
            "--params-file",
            str(_params_file(tmp, policy, kwargs, extra)),
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pub = subprocess.Popen(
        [sys.executable, __file__, "--role", "publisher", "--seconds", str(seconds + 60)],
        env=env,
        start_new_session=True,
    )
    try:
        rec.reset()
        time.sleep(1.0)  # inputs flowing before the task starts
        t_task = rec.set_task("stack the red brick on the blue one")
        deadline = time.monotonic() + 60
        while rec.running_at is None and time.monotonic() < deadline:
            if node.poll() is not None:
                raise RuntimeError(f"node exited: {node.stdout.read() if node.stdout else ''}")
            time.sleep(0.01)
        cold = (rec.running_at or math.nan) - t_task  # first RUNNING tick (status follows command)
        time.sleep(1.0)  # settle
        c0_node, c0_pub, t0 = cpu_seconds(node.pid), cpu_seconds(pub.pid), time.time()
        time.sleep(seconds)
        c1_node, c1_pub, t1 = cpu_seconds(node.pid), cpu_seconds(pub.pid), time.time()
    finally:
        _stop(node)
        _stop(pub)
    return _summarise(name, rec, t0, t1, cold, (c1_node - c0_node, c1_pub - c0_pub))


def _summarise(
    name: str, rec: Recorder, t0: float, t1: float, cold: float, cpu: tuple[float, float]
) -> Result:
    cmds = np.array([c for c in rec.cmds if t0 <= c[0] <= t1])
    period = 1.0 / 50.0
    stamp_err = np.abs(np.diff(cmds[:, 1]) - period)
    arrival_err = np.abs(np.diff(cmds[:, 0]) - period)
    arrivals = cmds[:, 0]
    lat = []
    for arr, obs in rec.chunks:
        if t0 <= arr <= t1:
            i = np.searchsorted(arrivals, arr)
            if i < len(arrivals):
                lat.append(arrivals[i] - obs)
    return Result(
        name,
        stamp_err,
        arrival_err,
        np.array(lat),
        cold,
        cpu[0] / (t1 - t0) * 100,
        cpu[1] / (t1 - t0) * 100,
        len(cmds),
        t1 - t0,
    )


def _ms(x: np.ndarray, q: float | None) -> str:
    if x.size == 0:
        return "n/a"
    return f"{1e3 * (x.max() if q is None else np.percentile(x, q)):.2f}"


def print_table(results: list[Result]) -> None:
    print(
        "| scenario | commands/s | period err p50 / p99 / max, ms (node stamps) "
        "| period err p50 / p99 / max, ms (arrival) | obs→command p50 / p99, ms "
        "| task→first command, ms | node CPU % | publisher CPU % |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.name} | {r.commands / r.seconds:.1f} "
            f"| {_ms(r.stamp_err, 50)} / {_ms(r.stamp_err, 99)} / {_ms(r.stamp_err, None)} "
            f"| {_ms(r.arrival_err, 50)} / {_ms(r.arrival_err, 99)} / {_ms(r.arrival_err, None)} "
            f"| {_ms(r.latency, 50)} / {_ms(r.latency, 99)} | {1e3 * r.cold_start:.0f} "
            f"| {r.node_cpu:.0f} | {r.pub_cpu:.0f} |"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--role", choices=["bench", "publisher"], default="bench")
    ap.add_argument("--seconds", type=float, default=10.0, help="measurement window per scenario")
    ap.add_argument("--policy", action="append", default=[], help="extra policy spec to bench")
    ap.add_argument("--tiny", action="store_true", help="also bench the tiny EO-1 ONNX export")
    args = ap.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if args.role == "publisher":
        publisher_main(PREFIX, args.seconds)
        return 0
    os.environ["ROS_DOMAIN_ID"] = os.environ.get("BENCH_DOMAIN_ID", str(random.randint(150, 230)))
    sine = "python:vla_lego.runtime.scripted:SinePolicy"
    idle = {"horizon": 20, "dt": 0.1}
    busy = {"horizon": 20, "dt": 0.1, "latency": 0.1, "busy": True}
    scenarios: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    for nice in (0, 10):
        scenarios.append((f"idle-policy, nice {nice}", sine, idle, {"inference_nice": nice}))
        scenarios.append((f"busy-100ms, nice {nice}", sine, busy, {"inference_nice": nice}))
    scenarios += [(s, s, {}, {}) for s in args.policy]
    rec = Recorder()
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.tiny:
                spec = f"onnxruntime:{build_tiny_export(Path(tmp))}"
                scenarios.append(("tiny-onnx, nice 0", spec, {}, {"inference_nice": 0}))
                scenarios.append(("tiny-onnx, nice 10", spec, {}, {"inference_nice": 10}))
            for name, spec, kwargs, extra in scenarios:
                results.append(
                    run_scenario(rec, name, spec, kwargs, extra, args.seconds, Path(tmp))
                )
    finally:
        rec.close()
    print(
        f"\npolicy node on loopback, control_rate 50 Hz, {args.seconds:.0f} s per scenario, "
        f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.2f}\n"
    )
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
