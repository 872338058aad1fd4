"""Evaluation episodes through the ROS 2 graph: the same stack and launch declaration as the robot.

The stack (simulated H1 speaking unitree DDS, H1 bridge, policy node) is started with
``ros2 launch h1_bringup policy.launch.py robot:=sim`` (the supervisor ``h1_bringup.up`` only where
the ROS 2 launch tools are missing). A small rclpy client then, per episode:
stops the policy (empty ``SetTask``), resets the sim (``ResetSim`` with a held-out seed), sends
the instruction the sim reports, and watches ``TaskStatus`` until success or the time limit.
Each episode keeps the sim's ``outcome`` from the last ``TaskStatus`` (``success`` or the failure
category the sim counts) and, for a policy that decodes subtask text, how often the policy's
``subtask_text`` (``/vla/status``) equalled the sim's true ``subtask``, sampled at every
``TaskStatus``.
Commands on ``/h1/arm_command`` are timestamped on arrival for the control-loop jitter figure.
rclpy is imported here only: the rest of ``vla_lego`` stays ROS-free.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vla_lego.robot import topics as T


@dataclass
class EpisodeOutcome:
    """One episode through the graph.

    Attributes:
        seed: Scene seed.
        instruction: The instruction the sim reported (and the policy got).
        success: ``TaskStatus.success`` held before the time limit.
        sim_seconds: Sim seconds from ``SetTask`` to the end.
        wall_seconds: Wall seconds from ``SetTask`` to the end.
        outcome: ``TaskStatus.outcome`` at the end: ``success`` or the sim's failure category.
        subtask_accuracy: Share of the ``TaskStatus`` messages during the episode at which the
            policy's latest ``subtask_text`` equalled the sim's ``subtask`` (None: no text).
    """

    seed: int
    instruction: str
    success: bool
    sim_seconds: float
    wall_seconds: float
    outcome: str = ""
    subtask_accuracy: float | None = None


# PolicyStatus counters of the safety filter, and the episode phases they are reported for.
CLAMP_FIELDS = (
    "safety_clamp_count",
    "clamp_position",
    "clamp_velocity",
    "clamp_acceleration",
    "clamp_nonfinite",
)
PHASES = ("after reset", "after SetTask", "steady running")
SET_TASK_PHASE_S = 1.0  # "after SetTask": the first chunk, its join with the hold, its ramp-in


@dataclass(frozen=True)
class ClampSnapshot:
    """The filter's counters from the latest ``/vla/status`` and the joint values commanded."""

    counters: tuple[int, ...]
    values: int


@dataclass
class PhaseClamps:
    """Safety-filter changes per episode phase (issue #18: where the clamps come from).

    Counters come from ``/vla/status`` (published at the node's status rate, so a phase boundary
    is resolved to one status period); ``values`` counts the joint values on ``/h1/arm_command``.
    """

    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {p: dict.fromkeys(CLAMP_FIELDS, 0) for p in PHASES}
    )
    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PHASES, 0))

    def add(self, phase: str, before: ClampSnapshot, after: ClampSnapshot) -> None:
        """Add the change between two snapshots to ``phase`` (a restarted node counts from 0)."""
        for name, a, b in zip(CLAMP_FIELDS, before.counters, after.counters, strict=True):
            self.counts[phase][name] += b - a if b >= a else b
        self.values[phase] += max(0, after.values - before.values)

    def share(self, phase: str) -> float | None:
        """Fraction of the phase's commanded joint values the filter changed (None: none sent)."""
        n = self.values[phase]
        return self.counts[phase]["safety_clamp_count"] / n if n else None

    def summary(self) -> dict[str, dict[str, Any]]:
        return {
            p: {**self.counts[p], "joint_values": self.values[p], "share": self.share(p)}
            for p in PHASES
        }


@dataclass
class GraphStats:
    command_times: list[float] = field(default_factory=list)
    inference_s: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    subtasks: list[str] = field(default_factory=list)
    clamps: PhaseClamps = field(default_factory=PhaseClamps)


def _log(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(argv: list[str], log: Any, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a child that stops on SIGINT, in a session of its own, output to ``log``.

    A shell's background job (``make demo &``, a CI runner) starts with SIGINT ignored, which
    children inherit: ``ros2 launch`` then never heard the stop and was killed (exit -9).
    """
    return subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
        preexec_fn=_default_sigint,
    )


def ros2_launch_command() -> str | None:
    """The ``ros2`` command that can run ``ros2 launch`` here, or None (tools not installed).

    The ``ros2`` of this interpreter's environment comes first (``make setup`` installs it into
    the venv), then the one on ``PATH`` (a sourced ROS 2 installation).
    """
    import importlib.util
    import shutil

    if any(importlib.util.find_spec(m) is None for m in ("launch", "launch_ros", "ros2launch")):
        return None
    beside = Path(sys.executable).parent / "ros2"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("ros2")


class Stack:
    """``ros2 launch h1_bringup policy.launch.py robot:=sim``: the graph a user starts by hand.

    Where the ROS 2 tools are missing, the documented fallback ``python -m h1_bringup.up`` starts
    the same nodes from the same declaration (printed as such). Stopped by its own PID: SIGINT to
    ``ros2 launch`` alone, which (not in a terminal) passes it on to each node once, as launch
    does on a user's Ctrl-C; the fallback supervisor gets it on its process group.
    """

    def __init__(
        self,
        policy_path: str,
        backend: str,
        task: str,
        log_file: Path,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        preset: str = "easy",
    ) -> None:
        ros2 = ros2_launch_command()
        args = [
            "policy.launch.py",
            "robot:=sim",
            f"backend:={backend}",
            f"policy_path:={policy_path}",
            f"task:={task}",
            f"preset:={preset}",
            *extra_args,
        ]
        self._via_launch = ros2 is not None
        if ros2 is not None:
            argv = [ros2, "launch", "h1_bringup", *args]
            self.launcher = "ros2 launch"
        else:
            argv = [sys.executable, "-m", "h1_bringup.up", *args]
            self.launcher = "python -m h1_bringup.up (fallback: ROS 2 launch tools not installed)"
        self.argv = argv
        self.log_file = log_file
        self._fh = log_file.open("w")
        self.proc = _spawn(argv, self._fh, env)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            if self._via_launch:
                os.kill(self.proc.pid, signal.SIGINT)
            else:
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._fh.close()
        return int(self.proc.returncode)


class EvalClient:
    """rclpy client driving episodes; spun in a background thread with a private context."""

    def __init__(self, gif_frames: int = 0) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image, JointState

        from vla_lego_msgs.msg import ActionChunk, PolicyStatus, TaskStatus
        from vla_lego_msgs.srv import ResetSim, SetTask

        self._rclpy = rclpy
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("vla_demo_eval", context=self.ctx)
        self.stats = GraphStats()
        self.task_status: Any = None
        self._counters = (0,) * len(CLAMP_FIELDS)
        self._values = 0
        self._policy_text = ""
        self._text = [0, 0]  # TaskStatus messages compared, equal (while recording)
        self.recording = False
        self.frames: list[np.ndarray] = []
        self.gif_frames = gif_frames
        self.node.create_subscription(JointState, T.ARM_COMMAND_TOPIC, self._on_cmd, 100)
        self.node.create_subscription(ActionChunk, T.ACTION_CHUNK_TOPIC, self._on_chunk, 10)
        self.node.create_subscription(PolicyStatus, T.POLICY_STATUS_TOPIC, self._on_status, 10)
        self.node.create_subscription(TaskStatus, T.SIM_TASK_STATUS_TOPIC, self._on_task, 10)
        self.node.create_subscription(Image, T.HEAD_CAMERA_TOPIC, self._on_image, 2)
        self.reset_cli: Any = self.node.create_client(ResetSim, T.SIM_RESET_SERVICE)
        self.task_cli: Any = self.node.create_client(SetTask, T.SET_TASK_SERVICE)
        self._ResetSim, self._SetTask = ResetSim, SetTask
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.ctx.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:
                break

    def _on_cmd(self, msg: Any) -> None:
        self._values += len(msg.position)
        if self.recording:
            self.stats.command_times.append(time.monotonic())

    def _on_chunk(self, msg: Any) -> None:
        if self.recording:
            self.stats.inference_s.append(float(msg.inference_time))
            if msg.subtask_text:
                self.stats.subtasks.append(str(msg.subtask_text))

    def _on_status(self, msg: Any) -> None:
        self.stats.statuses.append(int(msg.state))
        self._counters = tuple(int(getattr(msg, f)) for f in CLAMP_FIELDS)
        self._policy_text = str(msg.subtask_text)

    def snapshot(self) -> ClampSnapshot:
        return ClampSnapshot(self._counters, self._values)

    def _on_task(self, msg: Any) -> None:
        self.task_status = msg
        if self.recording and self._policy_text:
            self._text[0] += 1
            self._text[1] += self._policy_text == msg.subtask

    def _on_image(self, msg: Any) -> None:
        if self.recording and len(self.frames) < self.gif_frames and msg.encoding == "rgb8":
            img = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
            self.frames.append(img.copy())

    def _call(self, cli: Any, req: Any, timeout: float) -> Any:
        if not cli.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {cli.srv_name} not available after {timeout} s")
        fut = cli.call_async(req)
        deadline = time.monotonic() + timeout
        while not fut.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"service {cli.srv_name} did not answer in {timeout} s")
            time.sleep(0.01)
        return fut.result()

    def wait_ready(self, stack: Stack, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.task_status is None:
            if not stack.alive():
                raise RuntimeError(f"the ROS stack exited; see {stack.log_file}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {T.SIM_TASK_STATUS_TOPIC} after {timeout} s")
            time.sleep(0.1)
        self._call(self.task_cli, self._SetTask.Request(instruction=""), timeout)

    def run_episode(self, task: str, seed: int, limit_s: float, stack: Stack) -> EpisodeOutcome:
        self._call(self.task_cli, self._SetTask.Request(instruction=""), 10.0)
        snaps = [self.snapshot()]
        resp = self._call(self.reset_cli, self._ResetSim.Request(task=task, seed=seed), 30.0)
        if not resp.success:
            raise RuntimeError(f"sim reset failed: {resp.message}")
        self.task_status = None
        t_reset = time.monotonic()
        while self.task_status is None or self.task_status.seed != seed:
            if time.monotonic() - t_reset > 10.0:
                raise TimeoutError("no task status after reset")
            time.sleep(0.02)
        # Let the policy re-take its hold pose from the reset arm (hold_relatch_distance) before
        # the task starts, so the episode begins from the reset scene, not the last pose.
        time.sleep(0.5)
        start_sim = float(self.task_status.elapsed)
        snaps.append(self.snapshot())
        r = self._call(self.task_cli, self._SetTask.Request(instruction=resp.instruction), 10.0)
        if not r.accepted:
            raise RuntimeError(f"policy refused the task: {r.message}")
        self._text = [0, 0]
        self._policy_text = ""
        self.recording = True
        t0 = time.monotonic()
        success = False
        while True:
            st = self.task_status
            sim_s = float(st.elapsed) - start_sim
            if st.success:
                success = True
                break
            if sim_s >= limit_s or time.monotonic() - t0 > 4 * limit_s + 30:
                break
            if not stack.alive():
                raise RuntimeError(f"the ROS stack exited; see {stack.log_file}")
            if len(snaps) == 2 and time.monotonic() - t0 >= SET_TASK_PHASE_S:
                snaps.append(self.snapshot())
            time.sleep(0.05)
        self.recording = False
        # The sim's verdict on the episode as it ended (the status that ended it, or the latest).
        outcome = "success" if success else str(st.outcome)
        time.sleep(0.3)  # a status (5 Hz) that covers the episode's last ticks
        snaps += [self.snapshot()] * (4 - len(snaps))
        for phase, a, b in zip(PHASES, snaps[:-1], snaps[1:], strict=True):
            self.stats.clamps.add(phase, a, b)
        self._call(self.task_cli, self._SetTask.Request(instruction=""), 10.0)
        compared, equal = self._text
        return EpisodeOutcome(
            seed,
            resp.instruction,
            success,
            sim_s,
            time.monotonic() - t0,
            outcome,
            equal / compared if compared else None,
        )

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        if self.ctx.ok():
            self._rclpy.shutdown(context=self.ctx)
        self._thread.join(timeout=2.0)


def start_recorder(bag: Path, log_file: Path) -> subprocess.Popen:
    """``vla-record`` of the topics replay-eval needs, as a child process (finalised on SIGINT)."""
    topics = [
        T.HEAD_CAMERA_TOPIC,
        T.JOINT_STATES_TOPIC,
        T.ARM_COMMAND_TOPIC,
        T.ACTION_CHUNK_TOPIC,
        T.POLICY_STATUS_TOPIC,
        T.INSTRUCTION_TOPIC,
        T.POLICY_PARAMS_TOPIC,  # latched: replay-eval runs with what the node ran with
    ]
    argv = [sys.executable, "-m", "vla_lego.live.record", str(bag), "-q", "-t", *topics]
    fh = log_file.open("w")
    return _spawn(argv, fh)


def stop_recorder(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return int(proc.returncode)


def command_periods_ms(times: list[float]) -> np.ndarray:
    """Periods between consecutive commands, dropping gaps between episodes (> 0.5 s)."""
    if len(times) < 2:
        return np.zeros(0)
    d = np.diff(np.asarray(times)) * 1e3
    return d[d < 500.0]


__all__ = [
    "ClampSnapshot",
    "EpisodeOutcome",
    "EvalClient",
    "GraphStats",
    "PhaseClamps",
    "Stack",
    "command_periods_ms",
    "start_recorder",
    "stop_recorder",
]
