"""Helpers for tests that run a real rclpy graph on loopback: child processes and a spun node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class ChildProcess:
    """A child process whose output is collected in the background; ended only by its own PID."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: str | None = None) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in ln for ln in self.lines):
                return True
            if self.proc.poll() is not None:
                time.sleep(0.1)
                return any(needle in ln for ln in self.lines)
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT, then SIGTERM, then SIGKILL, each to this child's own process group."""
        if self.proc.poll() is None:
            for sig, wait in (
                (signal.SIGINT, timeout),
                (signal.SIGTERM, 3.0),
                (signal.SIGKILL, 3.0),
            ):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._reader.join(timeout=2.0)
        return self.proc.returncode


@contextmanager
def child(
    argv: Sequence[str], env: dict[str, str], cwd: str | None = None
) -> Iterator[ChildProcess]:
    p = ChildProcess(argv, env, cwd)
    try:
        yield p
    finally:
        p.stop()


def python_child(code: str, env: dict[str, str]) -> ChildProcess:
    return ChildProcess([sys.executable, "-c", code], env)


class SpunNode:
    """An rclpy node spun in a background thread, with a private context."""

    def __init__(self, name: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=int(os.environ["ROS_DOMAIN_ID"]))
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # context shut down mid-spin
                break

    def collect(self, msg_type: Any, topic: str, qos: int = 50) -> list[Any]:
        """Subscribe and return the (live) list that received messages are appended to."""
        received: list[Any] = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        if self.context.ok():
            rclpy.shutdown(context=self.context)
        self._thread.join(timeout=2.0)


@contextmanager
def spun_node(name: str) -> Iterator[SpunNode]:
    n = SpunNode(name)
    try:
        yield n
    finally:
        n.close()


def wait_until(pred: Callable[[], bool], timeout: float, period: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(period)
    return pred()


def require_ros2_tools(module: str = "launch_testing") -> None:
    """Skip the calling test when the ROS 2 tools (launch, launch_testing, ros2cli) are missing.

    Under CI (``CI`` set, as ``.ci/run`` does) a missing tool fails the test instead, so a CI run
    can never pass without running the launch tests. ``make setup`` installs the tools.
    """
    import importlib.util
    import shutil

    import pytest

    missing = [m for m in (module, "launch", "ros2cli") if importlib.util.find_spec(m) is None]
    if shutil.which("ros2") is None:
        missing.append("the ros2 command")
    if not missing:
        return
    reason = (
        f"ROS 2 tools missing: {missing} (run `make setup`: it installs them from a sourced "
        "ROS 2 or ../shared/ros2_python)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)
