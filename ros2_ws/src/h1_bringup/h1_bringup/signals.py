"""Process signal set-up shared by the h1_bringup nodes."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def install_stop_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt, so every node runs its safe-stop path.

    Also when the process was started with SIGINT ignored (a background job of a shell script).
    Call after ``rclpy.init(..., signal_handler_options=SignalHandlerOptions.NO)``.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)


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


__all__ = ["ignoring_stop_signals", "install_stop_signals"]
