"""Process signal set-up shared by the h1_bringup nodes."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# How often the spin loop looks at the stop flag when no callback is due.
STOP_POLL_S = 0.05


def install_stop_flag() -> threading.Event:
    """SIGINT and SIGTERM set the returned flag; nothing is raised.

    A KeyboardInterrupt raised wherever the signal lands can land inside rclpy's take, where it
    surfaces as ``RuntimeError: Unable to convert call argument`` (read as a node error, exit 2)
    instead of running the safe-stop path. Also when the process was started with SIGINT ignored
    (a background job of a shell script). Call after ``rclpy.init(...,
    signal_handler_options=SignalHandlerOptions.NO)``.
    """
    stop = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda _signum, _frame: stop.set())
    return stop


def spin_until_stopped(node: Any, stop: threading.Event, poll_s: float = STOP_POLL_S) -> None:
    """Spin ``node`` on a single-threaded executor until ``stop`` is set (or the context ends:
    ``ExternalShutdownException`` propagates)."""
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=poll_s)
    finally:
        executor.remove_node(node)
        executor.shutdown(timeout_sec=1.0)


@contextmanager
def ignoring_stop_signals() -> Iterator[None]:
    """SIGINT and SIGTERM are ignored inside the block (a safe stop that must run to its end);
    the previous handlers come back afterwards. Outside the main thread it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


__all__ = ["STOP_POLL_S", "ignoring_stop_signals", "install_stop_flag", "spin_until_stopped"]
