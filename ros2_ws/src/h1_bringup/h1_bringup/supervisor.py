"""A small process supervisor for environments without ``ros2 launch`` (the pip ROS install).

It starts the nodes of a system description with the command lines ``ros2 launch`` would use
(``<prefix>/lib/<pkg>/<exe> --ros-args -r __node:=NAME --params-file F -p k:=v -r a:=b``),
prefixes their output with the node name, and stops all of them (SIGINT, then SIGTERM, then
SIGKILL, each to the child's own process group) on Ctrl-C / SIGTERM or as soon as a required
node exits. Children also get SIGTERM from the kernel if the supervisor itself dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from h1_bringup.system import NodeSpec

_PR_SET_PDEATHSIG = 1


def executable_path(spec: NodeSpec) -> Path:
    """``<prefix>/lib/<package>/<executable>`` from the ament index; error if not installed."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = Path(get_package_prefix(spec.package))
    except PackageNotFoundError:
        raise FileNotFoundError(
            f"node {spec.name}: package {spec.package!r} is not installed (AMENT_PREFIX_PATH); "
            "build ros2_ws and source scripts/env.sh"
        ) from None
    exe = prefix / "lib" / spec.package / spec.executable
    if not os.access(exe, os.X_OK):
        raise FileNotFoundError(f"node {spec.name}: executable {exe} not found")
    return exe


def command_line(spec: NodeSpec) -> list[str]:
    """The argv ``ros2 launch`` would run for ``spec``."""
    return [str(executable_path(spec)), *spec.ros_args()]


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: no process outlives a killed supervisor.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class _Child:
    spec: NodeSpec
    proc: subprocess.Popen
    reader: threading.Thread
    reported: bool = False


@dataclass
class Supervisor:
    """Start, watch and stop a set of nodes.

    Args:
        specs: Nodes to run, in start order.
        out: Where prefixed output lines go.
        sigint_timeout: Seconds a node gets to exit after SIGINT (the bridge ramps down then).
        sigterm_timeout: Seconds after SIGTERM before SIGKILL.
    """

    specs: Sequence[NodeSpec]
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    sigint_timeout: float = 10.0
    sigterm_timeout: float = 3.0
    children: list[_Child] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def log(self, name: str, line: str) -> None:
        with self._lock:
            self.out.write(f"[{name}] {line}\n")
            self.out.flush()

    def start(self) -> None:
        """Resolve every executable first (nothing starts if one is missing), then start all."""
        argvs = [command_line(s) for s in self.specs]
        for spec, argv in zip(self.specs, argvs):
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
            self.log("up", f"started {spec.name} (pid {proc.pid}): {' '.join(argv)}")
            reader = threading.Thread(target=self._pump, args=(spec.name, proc), daemon=True)
            reader.start()
            self.children.append(_Child(spec, proc, reader))

    def _pump(self, name: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.log(name, line.rstrip("\n"))

    def watch(self, stop_event: threading.Event, poll: float = 0.1) -> int:
        """Block until ``stop_event`` is set (exit 0) or a required node exits (exit 1)."""
        while not stop_event.is_set():
            for c in self.children:
                rc = c.proc.poll()
                if rc is None or c.reported:
                    continue
                c.reported = True
                self.log("up", f"node {c.spec.name} exited with code {rc}")
                if c.spec.required:
                    self.log("up", f"required node {c.spec.name} died; stopping all")
                    return 1
            if all(c.proc.poll() is not None for c in self.children):
                return 0
            stop_event.wait(poll)
        return 0

    def stop(self) -> None:
        """SIGINT every running node, then SIGTERM, then SIGKILL, to each process group."""
        for sig, timeout in (
            (signal.SIGINT, self.sigint_timeout),
            (signal.SIGTERM, self.sigterm_timeout),
            (signal.SIGKILL, self.sigterm_timeout),
        ):
            running = [c for c in self.children if c.proc.poll() is None]
            if not running:
                break
            for c in running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.proc.pid, sig)
            deadline = time.monotonic() + timeout
            for c in running:
                try:
                    c.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.log("up", f"node {c.spec.name} ignored {signal.Signals(sig).name}")
        for c in self.children:
            c.reader.join(timeout=2.0)
            if not c.reported and c.proc.returncode is not None:
                self.log("up", f"node {c.spec.name} exited with code {c.proc.returncode}")


def run(specs: Sequence[NodeSpec], sigint_timeout: float = 10.0) -> int:
    """Run ``specs`` until Ctrl-C / SIGTERM (exit 0) or a required node dies (exit 1)."""
    sup = Supervisor(specs, sigint_timeout=sigint_timeout)
    stop_event = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        sup.log("up", f"{signal.Signals(signum).name} received; stopping all nodes")
        stop_event.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sup.start()
        rc = sup.watch(stop_event)
    finally:
        sup.stop()
        for s, h in old.items():
            signal.signal(s, h)
    return rc


__all__ = ["Supervisor", "command_line", "executable_path", "run"]
